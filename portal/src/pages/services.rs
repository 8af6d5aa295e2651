//! External Services: the connections to labs, e-prescribing gateways, clearinghouses, storage
//! and records services; the form that adds one (a form that fits the type; credentials
//! written once, never shown again); and Test Connection, each step with its time and a
//! failure in plain words with what to try.

use leptos::prelude::*;

use super::{NavLink, PageHeading, environment_words, focus, send, send_with, utc};
use crate::api::{ApiError, enum_of, name_of};
use crate::queries::{
    CreateServiceConnection, ServiceConnections, TestConnection, create_service_connection,
    service_connections, test_connection,
};

/// The service types offered, with what each is and the protocols it may use (as the server
/// checks them: `ServiceType::protocols`).
const TYPES: &[(&str, &str, &[&str])] = &[
    (
        "LAB",
        "Laboratory information system",
        &["HTTPS_JSON", "HL7V2_MLLP", "HL7V2_HTTP"],
    ),
    ("PHARMACY", "E-prescribing gateway", &["HTTPS_JSON"]),
    (
        "CLEARINGHOUSE",
        "Insurance claims clearinghouse",
        &["HTTPS_JSON"],
    ),
    (
        "DATA_STORAGE",
        "Archival or backup storage",
        &["S3", "LOCAL_PATH"],
    ),
    (
        "RECORDS_EXCHANGE",
        "Outside records / care summaries",
        &["HTTPS_JSON"],
    ),
];

pub(super) fn type_words(raw: &str) -> &'static str {
    TYPES
        .iter()
        .find(|(t, _, _)| *t == raw)
        .map_or("Unknown type", |(_, words, _)| words)
}

pub(super) fn protocol_words(raw: &str) -> &'static str {
    match raw {
        "HTTPS_JSON" => "JSON over HTTPS",
        "HL7V2_MLLP" => "HL7 v2 over MLLP",
        "HL7V2_HTTP" => "HL7 v2 over HTTPS",
        "LOCAL_PATH" => "A directory on the server",
        "S3" => "S3-compatible object store",
        _ => "Unknown protocol",
    }
}

fn address_hint(protocol: &str) -> &'static str {
    match protocol {
        "HL7V2_MLLP" => "mllps://lis.example.org:2575 (mllp:// in sandbox)",
        "LOCAL_PATH" => "/var/lib/switchboard/archive",
        "S3" => "https://s3.example.org/bucket/prefix?region=eu-west-1",
        _ => "https://service.example.org/api/",
    }
}

pub(super) fn status_words(raw: &str) -> &'static str {
    match raw {
        "HEALTHY" => "Healthy",
        "DEGRADED" => "Degraded",
        "DOWN" => "Down",
        _ => "No exchanges yet",
    }
}

type Connection = service_connections::ServiceConnectionsServiceConnections;

#[component]
pub fn ExternalServices() -> impl IntoView {
    let (data, set_data) = signal(None::<Vec<Connection>>);
    let (message, set_message) = signal(None::<String>);
    let load = Callback::new(move |_| {
        send::<ServiceConnections>(
            service_connections::Variables {
                hours: 24,
                buckets: 24,
            },
            set_message,
            None,
            move |d| set_data.set(Some(d.service_connections.unwrap_or_default())),
        )
    });
    load.run(());
    let tested = RwSignal::new(None::<(String, test_connection::TestConnectionTestConnection)>);
    let testing = RwSignal::new(None::<String>);
    let test = move |id: String, name: String| {
        testing.set(Some(id.clone()));
        tested.set(None);
        send::<TestConnection>(
            test_connection::Variables { id },
            set_message,
            None,
            move |d| {
                testing.set(None);
                if let Some(r) = d.test_connection {
                    tested.set(Some((name, r)));
                    request_animation_frame(|| focus("test-result-heading"));
                }
                load.run(());
            },
        );
    };
    let rows = move || {
        data.get()
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let (id, name) = (c.id.clone(), c.name.clone());
                let busy = {
                    let id = id.clone();
                    move || testing.get().as_deref() == Some(id.as_str())
                };
                let label = format!("Test connection {}", c.name);
                let disabled = busy.clone();
                let (row_name, shown, href) = (
                    c.name.clone(),
                    c.name.clone(),
                    format!("/settings/services/connection/{}", c.id),
                );
                view! {
                    <tr data-connection=row_name>
                        <td><NavLink href=href class="connection-link">{shown}</NavLink>
                            <br/><span class="muted">{c.description.clone()}</span></td>
                        <td>{type_words(&name_of(&c.service_type))}<br/>
                            <span class="muted">{protocol_words(&name_of(&c.protocol))}</span></td>
                        <td><code>{c.address.clone()}</code></td>
                        <td>{environment_words(&name_of(&c.environment))}</td>
                        <td class="credentials">{if c.credentials_set {
                            format!("Set {} (never shown again)", utc(Some(&c.credentials_changed_at), false))
                        } else {
                            "None".to_owned()
                        }}</td>
                        <td><span class=format!("status status-{}", name_of(&c.health.status).to_lowercase())>
                            {status_words(&name_of(&c.health.status))}</span></td>
                        <td>
                            <button class="test-connection" aria-label=label prop:disabled=disabled
                                on:click=move |_| test(id.clone(), name.clone())>
                                {move || if busy() { "Testing…" } else { "Test Connection" }}
                            </button>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <PageHeading title="External Services"/>
        <p class="muted">"The systems Switchboard exchanges data with. Test Connection really connects: it looks the name up, connects, checks the TLS certificate, authenticates and makes one harmless call."</p>
        <p class="notice" id="allow-list-note">"Loopback, private and link-local addresses are refused unless the server's operator lists them in " <code>"services.allowed_hosts"</code> ". An on-premises lab system on a private network needs its address (or range) listed there."</p>
        <p>
            <NavLink href="/settings/services/logs" id="to-logs">"Integration Logs"</NavLink>" · "
            <NavLink href="/settings/services/health" id="to-health">"Health"</NavLink>" · "
            <NavLink href="/settings/services/lab-intake" id="to-intake">"Lab intake"</NavLink>" · "
            <NavLink href="/settings/services/imports" id="to-imports">"Import patients"</NavLink>
        </p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="services-message">{move || message.get()}</p>
        </Show>
        <Show when=move || tested.get().is_some()>
            {move || tested.get().map(|(name, r)| view! { <TestResult name result=r/> })}
        </Show>
        <section class="card" aria-labelledby="connections-heading">
            <h2 id="connections-heading">"Connections"</h2>
            <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <Show when=move || data.get().is_some_and(|d| !d.is_empty())
                    fallback=|| view! { <p class="muted" id="no-connections">"No connections yet."</p> }>
                    <table id="connections">
                        <thead><tr>
                            <th scope="col">"Name"</th><th scope="col">"Type"</th><th scope="col">"Address"</th>
                            <th scope="col">"Environment"</th><th scope="col">"Credentials"</th>
                            <th scope="col">"Health"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </Show>
            </Show>
        </section>
        <ConnectionForm on_created=load/>
    }
}

/// What a Test Connection found, step by step.
#[component]
fn TestResult(
    name: String,
    result: test_connection::TestConnectionTestConnection,
) -> impl IntoView {
    let steps = result
        .steps
        .iter()
        .map(|s| {
            let step = name_of(&s.step);
            view! {
                <tr data-step=step.clone() data-ok=s.ok.to_string()>
                    <th scope="row">{step_words(&step)}</th>
                    <td>{if s.ok { "✓ Passed" } else { "✗ Failed" }}</td>
                    <td>{format!("{} ms", s.latency_ms)}</td>
                    <td>{s.detail.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let summary = if result.ok {
        format!("{name}: connected ({} ms in all).", result.latency_ms)
    } else {
        format!(
            "{name}: failed — {}",
            result.code.as_ref().map(name_of).unwrap_or_default()
        )
    };
    let (ok, message, fix) = (result.ok, result.message.clone(), result.fix.clone());
    view! {
        <section class="card" aria-labelledby="test-result-heading" id="test-result" data-ok=ok.to_string()>
            <h2 id="test-result-heading" tabindex="-1">"Test Connection"</h2>
            <p id="test-summary" class=if ok { "ok" } else { "error" } role="status">{summary}</p>
            <Show when=move || !ok>
                <p id="test-message">{message.clone()}</p>
                <p id="test-fix"><strong>"What to try: "</strong>{fix.clone()}</p>
            </Show>
            <table id="test-steps">
                <thead><tr><th scope="col">"Step"</th><th scope="col">"Result"</th><th scope="col">"Time"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>{steps}</tbody>
            </table>
        </section>
    }
}

pub(super) fn step_words(raw: &str) -> &'static str {
    match raw {
        "RESOLVE" => "Name lookup",
        "CONNECT" => "Connect",
        "TLS" => "TLS handshake",
        "AUTHENTICATE" => "Authenticate",
        "CALL" => "Protocol call",
        "STORAGE" => "Storage probe",
        _ => "Step",
    }
}

/// Adds a connection: the fields fit the chosen type and protocol, and the credentials' the
/// chosen kind.
#[component]
fn ConnectionForm(on_created: Callback<()>) -> impl IntoView {
    let (busy, set_busy) = signal(false);
    let name = RwSignal::new(String::new());
    let service_type = RwSignal::new("LAB".to_owned());
    let protocol = RwSignal::new("HTTPS_JSON".to_owned());
    let address = RwSignal::new(String::new());
    let health_path = RwSignal::new("health".to_owned());
    let environment = RwSignal::new(crate::session::new_record_environment());
    let ca = RwSignal::new(String::new());
    let kind = RwSignal::new("NONE".to_owned());
    let header = RwSignal::new("X-Api-Key".to_owned());
    let secret = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let token_url = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let certificate = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<(String, String)>::new());
    let general = RwSignal::new(None::<String>);
    let error_of = move |field: &'static str| {
        move || {
            errors.with(|e| {
                e.iter()
                    .find(|(f, _)| f.ends_with(&format!(".{field}")))
                    .map(|(_, t)| t.clone())
            })
        }
    };
    let protocols = move || {
        let t = service_type.get();
        TYPES
            .iter()
            .find(|(name, _, _)| *name == t)
            .map_or(&[][..], |(_, _, p)| *p)
    };
    let is_http = move || matches!(protocol.get().as_str(), "HTTPS_JSON" | "HL7V2_HTTP");

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        errors.set(vec![]);
        general.set(None);
        let need = |v: &RwSignal<String>| Some(v.get_untracked()).filter(|s| !s.trim().is_empty());
        let k = kind.get_untracked();
        let credentials = create_service_connection::ServiceCredentialsInput {
            kind: enum_of(&k).unwrap_or(create_service_connection::AuthKind::NONE),
            api_key_header: (k == "API_KEY").then(|| header.get_untracked()),
            api_key: (k == "API_KEY").then(|| need(&secret)).flatten(),
            username: (k == "BASIC").then(|| username.get_untracked()),
            password: (k == "BASIC").then(|| need(&secret)).flatten(),
            token_url: (k == "OAUTH2_CLIENT_CREDENTIALS").then(|| token_url.get_untracked()),
            client_id: (k == "OAUTH2_CLIENT_CREDENTIALS").then(|| client_id.get_untracked()),
            client_secret: (k == "OAUTH2_CLIENT_CREDENTIALS")
                .then(|| need(&secret))
                .flatten(),
            scope: None,
            certificate: (k == "CLIENT_CERTIFICATE").then(|| certificate.get_untracked()),
            private_key: (k == "CLIENT_CERTIFICATE").then(|| need(&secret)).flatten(),
            access_key_id: (k == "ACCESS_KEY").then(|| username.get_untracked()),
            secret_access_key: (k == "ACCESS_KEY").then(|| need(&secret)).flatten(),
        };
        let http = matches!(
            protocol.get_untracked().as_str(),
            "HTTPS_JSON" | "HL7V2_HTTP"
        );
        let input = create_service_connection::ServiceConnectionInput {
            name: name.get_untracked(),
            description: String::new(),
            service_type: enum_of(&service_type.get_untracked())
                .unwrap_or(create_service_connection::ServiceType::LAB),
            protocol: enum_of(&protocol.get_untracked())
                .unwrap_or(create_service_connection::Protocol::HTTPS_JSON),
            address: address.get_untracked(),
            health_path: http.then(|| health_path.get_untracked()),
            identifiers: None,
            enabled: true,
            timeout_ms: None,
            ca_certificates: need(&ca),
            validation_address: None,
            validation_mode: false,
            client_id: None,
        };
        let environment = enum_of(&environment.get_untracked())
            .unwrap_or(create_service_connection::Environment::SANDBOX);
        send_with::<CreateServiceConnection>(
            create_service_connection::Variables {
                input,
                environment,
                credentials,
            },
            Some(set_busy),
            move |_| {
                // The secret leaves the page with the form: it is never shown again.
                for s in [name, address, secret, ca, certificate] {
                    s.set(String::new());
                }
                on_created.run(());
                request_animation_frame(|| focus("connections-heading"));
            },
            move |e| match e {
                ApiError::Invalid { field, text } => match field_id(&field) {
                    Some(control) => {
                        errors.set(vec![(field, text)]);
                        request_animation_frame(move || focus(control));
                    }
                    None => general.set(Some(text)),
                },
                other => super::handle_error(other, general.write_only()),
            },
        );
    };
    let type_options = TYPES
        .iter()
        .map(|(t, words, _)| view! { <option value=*t selected=*t == "LAB">{*words}</option> })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="new-connection-heading">
            <h2 id="new-connection-heading">"Add a connection"</h2>
            <form on:submit=submit novalidate id="connection-form">
                <label for="connection-name">"Name"</label>
                <input id="connection-name" type="text" maxlength="200" prop:value=name
                    aria-describedby="connection-name-error"
                    on:input=move |ev| name.set(event_target_value(&ev))/>
                <p id="connection-name-error" class="error">{error_of("name")}</p>
                <label for="connection-type">"Service type"</label>
                <select id="connection-type" on:change=move |ev| {
                    let t = event_target_value(&ev);
                    let first = TYPES.iter().find(|(n, _, _)| *n == t).map_or("HTTPS_JSON", |(_, _, p)| p[0]);
                    protocol.set(first.to_owned());
                    service_type.set(t);
                }>{type_options}</select>
                <label for="connection-protocol">"Protocol"</label>
                <select id="connection-protocol" on:change=move |ev| protocol.set(event_target_value(&ev))>
                    {move || protocols().iter().map(|p| view! {
                        <option value=*p selected=move || protocol.get() == *p>{protocol_words(p)}</option>
                    }).collect_view()}
                </select>
                <label for="connection-address">"Address"</label>
                <input id="connection-address" type="text" prop:value=address
                    placeholder=move || address_hint(&protocol.get())
                    aria-describedby="connection-address-error"
                    aria-invalid=move || error_of("address")().is_some().to_string()
                    on:input=move |ev| address.set(event_target_value(&ev))/>
                <p id="connection-address-error" class="error">{error_of("address")}</p>
                <Show when=is_http>
                    <label for="connection-health-path">"Health path (what Test Connection asks for)"</label>
                    <input id="connection-health-path" type="text" prop:value=health_path
                        on:input=move |ev| health_path.set(event_target_value(&ev))/>
                </Show>
                <label for="connection-environment">"Environment"</label>
                <select id="connection-environment" on:change=move |ev| environment.set(event_target_value(&ev))>
                    <option value="SANDBOX" selected=move || environment.get() == "SANDBOX">"Sandbox (test data; http and mllp allowed)"</option>
                    <option value="PRODUCTION" selected=move || environment.get() == "PRODUCTION">"Production (live data; TLS only)"</option>
                </select>
                <label for="connection-ca">"Private certificate authority (PEM, optional)"</label>
                <textarea id="connection-ca" rows="3" prop:value=ca aria-describedby="connection-ca-error"
                    on:input=move |ev| ca.set(event_target_value(&ev))></textarea>
                <p id="connection-ca-error" class="error">{error_of("caCertificates")}</p>
                <fieldset>
                    <legend>"Credentials (stored encrypted; never shown again)"</legend>
                    <label for="credentials-kind">"How Switchboard authenticates"</label>
                    <select id="credentials-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="NONE" selected>"None"</option>
                        <option value="API_KEY">"API key in a header"</option>
                        <option value="BASIC">"User name and password (HTTP basic)"</option>
                        <option value="OAUTH2_CLIENT_CREDENTIALS">"OAuth 2.0 client credentials"</option>
                        <option value="CLIENT_CERTIFICATE">"Client certificate (mutual TLS)"</option>
                        <option value="ACCESS_KEY">"Access key (S3-compatible storage)"</option>
                    </select>
                    <Show when=move || kind.get() == "API_KEY">
                        <label for="credentials-header">"Header"</label>
                        <input id="credentials-header" type="text" prop:value=header
                            on:input=move |ev| header.set(event_target_value(&ev))/>
                    </Show>
                    <Show when=move || kind.get() == "BASIC" || kind.get() == "ACCESS_KEY">
                        <label for="credentials-username">{move || if kind.get() == "BASIC" { "User name" } else { "Access key id" }}</label>
                        <input id="credentials-username" type="text" autocomplete="off" prop:value=username
                            on:input=move |ev| username.set(event_target_value(&ev))/>
                    </Show>
                    <Show when=move || kind.get() == "OAUTH2_CLIENT_CREDENTIALS">
                        <label for="credentials-token-url">"Token endpoint"</label>
                        <input id="credentials-token-url" type="url" prop:value=token_url
                            on:input=move |ev| token_url.set(event_target_value(&ev))/>
                        <label for="credentials-client-id">"Client id"</label>
                        <input id="credentials-client-id" type="text" prop:value=client_id
                            on:input=move |ev| client_id.set(event_target_value(&ev))/>
                    </Show>
                    <Show when=move || kind.get() == "CLIENT_CERTIFICATE">
                        <label for="credentials-certificate">"Certificate (PEM, with its chain)"</label>
                        <textarea id="credentials-certificate" rows="3" prop:value=certificate
                            on:input=move |ev| certificate.set(event_target_value(&ev))></textarea>
                    </Show>
                    <Show when=move || kind.get() != "NONE">
                        <label for="credentials-secret">{move || match kind.get().as_str() {
                            "API_KEY" => "API key",
                            "BASIC" => "Password",
                            "OAUTH2_CLIENT_CREDENTIALS" => "Client secret",
                            "ACCESS_KEY" => "Secret access key",
                            _ => "Private key (PEM)",
                        }}</label>
                        <input id="credentials-secret" type="password" autocomplete="new-password" prop:value=secret
                            aria-describedby="credentials-error"
                            on:input=move |ev| secret.set(event_target_value(&ev))/>
                    </Show>
                    <p id="credentials-error" class="error">{move || errors.with(|e| e.iter().find(|(f, _)| f.starts_with("credentials")).map(|(_, t)| t.clone()))}</p>
                </fieldset>
                <Show when=move || general.get().is_some()>
                    <p class="error" role="alert" id="connection-form-error">{move || general.get()}</p>
                </Show>
                <button id="connection-submit" type="submit" prop:disabled=busy>
                    {move || if busy.get() { "Adding…" } else { "Add connection" }}
                </button>
            </form>
        </section>
    }
}

/// The form control a refused field is shown next to; others are shown under the form.
fn field_id(field: &str) -> Option<&'static str> {
    if field.starts_with("credentials") {
        Some("credentials-kind")
    } else if field.ends_with(".address") {
        Some("connection-address")
    } else if field.ends_with("caCertificates") {
        Some("connection-ca")
    } else if field.ends_with(".name") {
        Some("connection-name")
    } else {
        None
    }
}
