//! One external service connection: what it is configured with (its credentials only as set
//! or not), changing its settings, debug capture on and off, a records service's inbound
//! secret (shown once), a lab's polling (`service_polling`), and removing it.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::dialog::{Ask, use_ask};
use super::secret::SecretPanel;
use super::service_polling::{PollingPanel, polled};
use super::services::{protocol_words, type_words};
use super::{NavLink, PageHeading, environment_words, focus, send, send_with, utc};
use crate::api::{ApiError, enum_of, name_of};
use crate::queries::{
    DeleteServiceConnection, RotateServiceInboundSecret, ServiceConnection,
    SetServiceConnectionDebugCapture, UpdateServiceConnection, delete_service_connection,
    rotate_service_inbound_secret, service_connection, set_service_connection_debug_capture,
    update_service_connection,
};

type Connection = service_connection::ServiceConnectionServiceConnection;

/// How long a debug capture runs when turned on here.
const CAPTURE_MINUTES: i64 = 30;

#[component]
pub fn ServiceDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let (connection, set_connection) = signal(None::<Connection>);
    let (clients, set_clients) = signal(Vec::<(String, String, String)>::new());
    let (loaded, set_loaded) = signal(false);
    let (message, set_message) = signal(None::<String>);
    let (notice, set_notice) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let ask = use_ask();
    let navigate = use_navigate();
    let load = Callback::new(move |_| {
        send::<ServiceConnection>(
            service_connection::Variables { id: id() },
            set_message,
            None,
            move |d| {
                set_clients.set(
                    d.clients
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| (c.id, c.name, name_of(&c.environment)))
                        .collect(),
                );
                set_connection.set(d.service_connection);
                set_loaded.set(true);
            },
        )
    });
    load.run(());

    let capture = move |_| {
        let Some(c) = connection.get_untracked() else {
            return;
        };
        let on = c.debug_capture_until.is_none();
        send::<SetServiceConnectionDebugCapture>(
            set_service_connection_debug_capture::Variables {
                id: c.id,
                minutes: if on { CAPTURE_MINUTES } else { 0 },
            },
            set_message,
            None,
            move |_| {
                set_notice.set(Some(if on {
                    format!("Debug capture is on for {CAPTURE_MINUTES} minutes: each exchange's log entry keeps what was sent and received, secrets and patient data redacted.")
                } else {
                    "Debug capture is off.".into()
                }));
                load.run(());
            },
        );
    };
    let rotate = move |_| {
        let Some(c) = connection.get_untracked() else {
            return;
        };
        let (id, name) = (c.id.clone(), c.name.clone());
        ask.set(Some(Ask {
            title: format!("New inbound secret for {name}?"),
            text: "The service must sign what it sends with the new secret from now on: messages signed with the old one are refused at once.".into(),
            confirm: "Make a new secret",
            danger: false,
            extra: None,
            then: Callback::new(move |_| {
                let name = name.clone();
                send::<RotateServiceInboundSecret>(
                    rotate_service_inbound_secret::Variables { id: id.clone() },
                    set_message,
                    None,
                    move |d| {
                        if let Some(s) = d.rotate_service_inbound_secret {
                            secret.set(Some((name, s.secret)));
                        }
                        load.run(());
                    },
                );
            }),
        }));
    };
    let delete = Callback::new(move |_: ()| {
        let Some(c) = connection.get_untracked() else {
            return;
        };
        let id = c.id.clone();
        let navigate = navigate.clone();
        ask.set(Some(Ask {
            title: format!("Delete {}?", c.name),
            text: "The connection and its credentials are removed for good. Its integration log entries stay.".into(),
            confirm: "Delete connection",
            danger: true,
            extra: None,
            then: Callback::new(move |_| {
                let navigate = navigate.clone();
                send::<DeleteServiceConnection>(
                    delete_service_connection::Variables { id: id.clone() },
                    set_message,
                    None,
                    move |_| navigate("/settings/services", Default::default()),
                );
            }),
        }));
    });

    let facts = move || {
        connection.get().map(|c| {
            let last = c.last_test.as_ref().map(|t| {
                format!(
                    "{}: {} — {}",
                    utc(Some(&t.occurred_at), false),
                    name_of(&t.outcome),
                    t.message
                )
            });
            let validated = format!(
                "{} accepted, {} failed",
                c.validated_requests.succeeded, c.validated_requests.failed
            );
            view! {
                <dl class="facts" id="connection-facts">
                    <dt>"Type"</dt><dd>{type_words(&name_of(&c.service_type))}</dd>
                    <dt>"Protocol"</dt><dd>{protocol_words(&name_of(&c.protocol))}</dd>
                    <dt>"Address"</dt><dd><code>{c.address.clone()}</code></dd>
                    <dt>"Environment"</dt><dd>{environment_words(&name_of(&c.environment))}</dd>
                    <dt>"Status"</dt><dd id="connection-enabled">{if c.enabled { "Enabled" } else { "Disabled" }}</dd>
                    <dt>"Credentials"</dt><dd>{if c.credentials_set {
                        format!("{}, set {} (never shown again)", name_of(&c.auth_kind), utc(Some(&c.credentials_changed_at), false))
                    } else {
                        "None".into()
                    }}</dd>
                    <dt>"Debug capture"</dt><dd id="capture-state">{match &c.debug_capture_until {
                        Some(until) => format!("On until {}", utc(Some(until), false)),
                        None => "Off".into(),
                    }}</dd>
                    <dt>"Last test"</dt><dd>{last.unwrap_or_else(|| "Never tested".into())}</dd>
                    {c.inbound.as_ref().map(|i| view! {
                        <dt>"Inbound address"</dt><dd><code id="inbound-url">{i.url.clone()}</code></dd>
                        <dt>"Inbound secret"</dt><dd id="inbound-secret-state">{match &i.secret_changed_at {
                            Some(at) => format!("Set {} (never shown again)", utc(Some(at), false)),
                            None => "Not set: the service's messages are refused until one is".into(),
                        }}</dd>
                    })}
                    {c.intake_address.as_ref().map(|url| view! {
                        <dt>"Results intake (HTTPS)"</dt><dd><code id="intake-url">{url.clone()}</code></dd>
                        <dt>"Dead-letter queue"</dt><dd id="dead-letters">
                            <NavLink href="/settings/services/lab-intake">{format!("{} waiting", c.dead_letters)}</NavLink>
                        </dd>
                    })}
                    {c.validation_mode.then(|| view! {
                        <dt>"Validation requests"</dt><dd id="validated">{validated}</dd>
                    })}
                </dl>
            }
        })
    };
    let is_records = move || {
        connection.with(|c| {
            c.as_ref()
                .is_some_and(|c| name_of(&c.service_type) == "RECORDS_EXCHANGE")
        })
    };
    view! {
        <p><NavLink href="/settings/services">"‹ External Services"</NavLink></p>
        <Show when=move || loaded.get() fallback=|| view! { <p class="muted">"Loading…"</p> }>
            <Show when=move || connection.get().is_some()
                fallback=|| view! { <PageHeading title="Connection not found"/> }>
                <PageHeading title=connection.get_untracked().map(|c| c.name).unwrap_or_default()/>
                <Show when=move || message.get().is_some()>
                    <p class="error" role="alert" id="detail-message">{move || message.get()}</p>
                </Show>
                <Show when=move || notice.get().is_some()>
                    <p class="notice" role="status" id="detail-notice">{move || notice.get()}</p>
                </Show>
                <SecretPanel secret/>
                {facts}
                <div class="row actions">
                    <button id="capture-toggle" class="secondary" on:click=capture>
                        {move || if connection.with(|c| c.as_ref().is_some_and(|c| c.debug_capture_until.is_some())) {
                            "Turn debug capture off"
                        } else {
                            "Turn debug capture on (30 minutes)"
                        }}
                    </button>
                    <Show when=is_records>
                        <button id="inbound-rotate" class="secondary" on:click=rotate>"New inbound secret"</button>
                    </Show>
                    <button id="connection-delete" class="danger" on:click=move |_| delete.run(())>"Delete"</button>
                </div>
                <Show when=move || connection.with(|c| c.as_ref().is_some_and(polled))>
                    <PollingPanel connection on_changed=load/>
                </Show>
                {move || connection.get().map(|c| view! { <EditForm connection=c clients=clients.get() on_saved=load/> })}
            </Show>
        </Show>
    }
}

/// Changes the settings; the credentials stay as they are.
#[component]
fn EditForm(
    connection: Connection,
    /// The clients (id, name, environment) a LAB connection's results may be for.
    clients: Vec<(String, String, String)>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let (busy, set_busy) = signal(false);
    let c = StoredValue::new(connection.clone());
    let name = RwSignal::new(connection.name.clone());
    let description = RwSignal::new(connection.description.clone());
    let address = RwSignal::new(connection.address.clone());
    let health_path = RwSignal::new(connection.health_path.clone());
    let timeout = RwSignal::new(connection.timeout_ms.to_string());
    let enabled = RwSignal::new(connection.enabled);
    let validation_address =
        RwSignal::new(connection.validation_address.clone().unwrap_or_default());
    let validation_mode = RwSignal::new(connection.validation_mode);
    let ids = &connection.identifiers;
    let sending_application = RwSignal::new(ids.sending_application.clone().unwrap_or_default());
    let sending_facility = RwSignal::new(ids.sending_facility.clone().unwrap_or_default());
    let receiving_application =
        RwSignal::new(ids.receiving_application.clone().unwrap_or_default());
    let receiving_facility = RwSignal::new(ids.receiving_facility.clone().unwrap_or_default());
    let assigning_authority = RwSignal::new(ids.assigning_authority.clone().unwrap_or_default());
    let client = RwSignal::new(connection.client_id.clone().unwrap_or_default());
    let lab = name_of(&connection.service_type) == "LAB";
    let environment = name_of(&connection.environment);
    let client_options = clients
        .into_iter()
        .filter(|(_, _, env)| *env == environment)
        .map(|(id, name, _)| {
            let selected = connection.client_id.as_deref() == Some(id.as_str());
            view! { <option value=id selected=selected>{name}</option> }
        })
        .collect_view();
    let error = RwSignal::new(None::<String>);
    let protocol = name_of(&connection.protocol);
    let http = matches!(protocol.as_str(), "HTTPS_JSON" | "HL7V2_HTTP");
    let hl7 = protocol.starts_with("HL7");
    let production = name_of(&connection.environment) == "PRODUCTION";

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let c = c.get_value();
        let text = |v: &RwSignal<String>| Some(v.get_untracked()).filter(|s| !s.trim().is_empty());
        let Ok(timeout_ms) = timeout.get_untracked().trim().parse::<i64>() else {
            error.set(Some("The timeout is a number of milliseconds.".into()));
            request_animation_frame(|| focus("edit-timeout"));
            return;
        };
        let input = update_service_connection::ServiceConnectionInput {
            name: name.get_untracked(),
            description: description.get_untracked(),
            service_type: enum_of(&name_of(&c.service_type))
                .unwrap_or(update_service_connection::ServiceType::LAB),
            protocol: enum_of(&name_of(&c.protocol))
                .unwrap_or(update_service_connection::Protocol::HTTPS_JSON),
            address: address.get_untracked(),
            health_path: http.then(|| health_path.get_untracked()),
            identifiers: Some(update_service_connection::ServiceIdentifiersInput {
                sending_application: text(&sending_application),
                sending_facility: text(&sending_facility),
                receiving_application: text(&receiving_application),
                receiving_facility: text(&receiving_facility),
                submitter_id: c.identifiers.submitter_id.clone(),
                assigning_authority: if lab {
                    text(&assigning_authority)
                } else {
                    c.identifiers.assigning_authority.clone()
                },
            }),
            enabled: enabled.get_untracked(),
            timeout_ms: Some(timeout_ms),
            ca_certificates: c.ca_certificates.clone(),
            validation_address: text(&validation_address),
            validation_mode: validation_mode.get_untracked(),
            client_id: text(&client),
        };
        send_with::<UpdateServiceConnection>(
            update_service_connection::Variables { id: c.id, input },
            Some(set_busy),
            move |_| on_saved.run(()),
            move |e| match e {
                ApiError::Invalid { text, .. } => {
                    error.set(Some(text));
                    request_animation_frame(|| focus("edit-error"));
                }
                other => super::handle_error(other, error.write_only()),
            },
        );
    };
    let field = |id: &'static str, label: &'static str, value: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
        }
    };
    view! {
        <section class="card" aria-labelledby="edit-heading">
            <h2 id="edit-heading">"Settings"</h2>
            <p class="muted">"Credentials are kept as they are."</p>
            <form on:submit=submit novalidate id="edit-form">
                {field("edit-name", "Name", name)}
                {field("edit-description", "Description", description)}
                {field("edit-address", "Address", address)}
                {http.then(|| field("edit-health-path", "Health path", health_path))}
                {field("edit-timeout", "Timeout of each step (milliseconds)", timeout)}
                {hl7.then(|| view! {
                    <fieldset>
                        <legend>"HL7 identifiers"</legend>
                        {field("edit-sending-application", "Sending application (MSH-3)", sending_application)}
                        {field("edit-sending-facility", "Sending facility (MSH-4)", sending_facility)}
                        {field("edit-receiving-application", "Receiving application (MSH-5)", receiving_application)}
                        {field("edit-receiving-facility", "Receiving facility (MSH-6)", receiving_facility)}
                    </fieldset>
                })}
                {lab.then(|| view! {
                    <fieldset>
                        <legend>"Results intake"</legend>
                        <p class="muted">"Results are matched to the patients and orders of this client. Over MLLP, messages whose MSH-4 is the receiving facility above (and MSH-3 the receiving application, if set) come to this connection."</p>
                        <label for="edit-client">"Client"</label>
                        <select id="edit-client" on:change=move |ev| client.set(event_target_value(&ev))>
                            <option value="">"None (results wait in the dead-letter queue)"</option>
                            {client_options}
                        </select>
                        {field("edit-assigning-authority", "Assigning authority of patient ids (PID-3)", assigning_authority)}
                    </fieldset>
                })}
                {(http && production).then(|| view! {
                    <fieldset>
                        <legend>"Validation (production onboarding)"</legend>
                        {field("edit-validation-address", "The service's production test address", validation_address)}
                        <label class="check" for="edit-validation-mode">
                            <input type="checkbox" id="edit-validation-mode" prop:checked=validation_mode
                                on:change=move |ev| validation_mode.set(event_target_checked(&ev))/>
                            "Send requests to the test address, to be checked but not processed"
                        </label>
                    </fieldset>
                })}
                <label class="check" for="edit-enabled">
                    <input type="checkbox" id="edit-enabled" prop:checked=enabled
                        on:change=move |ev| enabled.set(event_target_checked(&ev))/>
                    "Enabled (checked periodically, and used)"
                </label>
                <p id="edit-error" class="error" tabindex="-1" role="alert">{move || error.get()}</p>
                <button id="edit-submit" type="submit" prop:disabled=busy>
                    {move || if busy.get() { "Saving…" } else { "Save" }}
                </button>
            </form>
        </section>
    }
}
