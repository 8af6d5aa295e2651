//! Webhooks, in the API Console: the endpoints events are sent to, and the form that
//! subscribes a new one (its signing secret shown once).

use leptos::prelude::*;

use super::secret::SecretPanel;
use super::{NavLink, PageHeading, environment_words, focus, send, send_with, utc};
use crate::api::{ApiError, name_of};
use crate::queries::{
    CreateWebhookEndpoint, WebhookEndpoints, create_webhook_endpoint, webhook_endpoints,
};
use crate::webhook_events::WEBHOOK_EVENTS;

/// An event type by its GraphQL name, as the receiver sees it.
pub(super) fn wire_name(graphql: &str) -> &str {
    WEBHOOK_EVENTS
        .iter()
        .find(|(g, _, _)| *g == graphql)
        .map_or(graphql, |(_, wire, _)| wire)
}

/// The event types an endpoint receives, as receivers name them.
pub(super) fn events_words<T: serde::Serialize>(types: Option<&[T]>) -> String {
    match types {
        None => "All events".into(),
        Some(list) => list
            .iter()
            .map(|t| wire_name(&name_of(t)).to_owned())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Enabled, or why not.
pub(super) fn state_words(enabled: bool, reason: Option<String>) -> String {
    if enabled {
        return "Enabled".into();
    }
    match reason.as_deref() {
        Some("GONE") => "Disabled: the receiver answered 410 Gone".into(),
        Some("FAILING") => "Disabled: every attempt failed for too long".into(),
        Some("APP_REVOKED") => "Disabled: its partner app was revoked".into(),
        _ => "Disabled".into(),
    }
}

#[component]
pub fn Webhooks() -> impl IntoView {
    let (data, set_data) = signal(None::<Vec<webhook_endpoints::WebhookEndpointsWebhookEndpoints>>);
    let (message, set_message) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let load = Callback::new(move |_| {
        send::<WebhookEndpoints>(webhook_endpoints::Variables, set_message, None, move |d| {
            set_data.set(Some(d.webhook_endpoints.unwrap_or_default()))
        })
    });
    load.run(());
    let on_created = Callback::new(move |s| {
        secret.set(Some(s));
        load.run(());
    });
    let rows = move || {
        data.get()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let href = format!("/settings/api-console/webhooks/{}", e.id);
                let (row, shown) = (e.url.clone(), e.url.clone());
                let secrets = e
                    .secrets
                    .iter()
                    .map(|s| format!("{}…", s.prefix))
                    .collect::<Vec<_>>()
                    .join(" + ");
                view! {
                    <tr data-endpoint=row>
                        <td>
                            <NavLink href=href class="endpoint-link">{shown}</NavLink><br/>
                            <span class="muted">{e.description.clone()}</span>
                        </td>
                        <td>{environment_words(&name_of(&e.environment))}</td>
                        <td class="events">{events_words(e.event_types.as_deref())}</td>
                        <td class="status">{state_words(e.enabled, e.disabled_reason.as_ref().map(name_of))}
                            <br/><span class="muted">{e.failing_since.as_deref().map(|f| format!("Failing since {}", utc(Some(f), false)))}</span>
                        </td>
                        <td><code class="muted">{secrets}</code></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <p><NavLink href="/settings/api-console">"‹ API Console"</NavLink></p>
        <PageHeading title="Webhooks"/>
        <p class="muted">"Switchboard sends system events to these addresses, signed (Standard Webhooks) with each endpoint's secret, and retries for about three days while a receiver is down. Events carry ids and the names of changed fields, never patient data."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="webhooks-message">{move || message.get()}</p>
        </Show>
        <SecretPanel secret/>
        <EndpointForm on_created/>
        <section class="card" aria-labelledby="endpoints-heading">
            <h2 id="endpoints-heading">"Endpoints"</h2>
            <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <Show when=move || data.get().is_some_and(|d| !d.is_empty())
                    fallback=|| view! { <p class="muted" id="no-endpoints">"No endpoints yet."</p> }>
                    <table id="endpoints">
                        <thead><tr>
                            <th scope="col">"Address"</th><th scope="col">"Environment"</th>
                            <th scope="col">"Events"</th><th scope="col">"Status"</th><th scope="col">"Secrets"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </Show>
            </Show>
        </section>
    }
}

/// Subscribes a new endpoint.
#[component]
fn EndpointForm(on_created: Callback<(String, String)>) -> impl IntoView {
    let (busy, set_busy) = signal(false);
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let environment = RwSignal::new(crate::session::new_record_environment());
    let all = RwSignal::new(true);
    let chosen = RwSignal::new(Vec::<&'static str>::new());
    let url_error = RwSignal::new(None::<String>);
    let events_error = RwSignal::new(None::<String>);
    let general = RwSignal::new(None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        general.set(None);
        url_error.set(None);
        events_error.set(None);
        let address = url.get_untracked().trim().to_owned();
        if address.is_empty() {
            url_error.set(Some(
                "Enter the address to send events to (https://…).".into(),
            ));
            request_animation_frame(|| focus("endpoint-url"));
            return;
        }
        let types = if all.get_untracked() {
            None
        } else {
            let picked = chosen.get_untracked();
            if picked.is_empty() {
                events_error.set(Some("Choose at least one event, or all events.".into()));
                request_animation_frame(|| focus("events-all"));
                return;
            }
            Some(
                picked
                    .iter()
                    .filter_map(|t| serde_json::from_value(serde_json::Value::from(*t)).ok())
                    .collect(),
            )
        };
        let input = create_webhook_endpoint::WebhookEndpointInput {
            url: address.clone(),
            description: description.get_untracked(),
            event_types: types,
        };
        let environment = match environment.get_untracked().as_str() {
            "PRODUCTION" => create_webhook_endpoint::Environment::PRODUCTION,
            _ => create_webhook_endpoint::Environment::SANDBOX,
        };
        send_with::<CreateWebhookEndpoint>(
            create_webhook_endpoint::Variables { input, environment },
            Some(set_busy),
            move |d| {
                if let Some(created) = d.create_webhook_endpoint {
                    url.set(String::new());
                    description.set(String::new());
                    on_created.run((created.webhook_endpoint.url, created.signing_secret));
                }
            },
            move |e| match e {
                ApiError::Invalid { field, text } if field.contains("url") => {
                    url_error.set(Some(text));
                    request_animation_frame(|| focus("endpoint-url"));
                }
                ApiError::Invalid { text, .. } => events_error.set(Some(text)),
                other => super::handle_error(other, general.write_only()),
            },
        );
    };
    let choices = WEBHOOK_EVENTS
        .iter()
        .map(|(graphql, wire, words)| {
            let id = format!("event-{}", wire.replace(['.', '_'], "-"));
            let label_for = id.clone();
            let checked = move || chosen.with(|c| c.contains(graphql));
            let toggle = move |ev| {
                let on = event_target_checked(&ev);
                chosen.update(|c| {
                    c.retain(|t| t != graphql);
                    if on {
                        c.push(graphql);
                    }
                });
            };
            view! {
                <label class="check" for=label_for>
                    <input type="checkbox" id=id prop:checked=checked on:change=toggle
                        prop:disabled=move || all.get()/>
                    <code>{*wire}</code>" — "{*words}
                </label>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="new-endpoint-heading">
            <h2 id="new-endpoint-heading">"Add an endpoint"</h2>
            <form on:submit=submit novalidate>
                <label for="endpoint-url">"Address"</label>
                <input id="endpoint-url" type="url" placeholder="https://hooks.example.com/switchboard"
                    aria-invalid=move || url_error.get().is_some().to_string()
                    aria-describedby="endpoint-url-error"
                    prop:value=url on:input=move |ev| url.set(event_target_value(&ev))/>
                <p id="endpoint-url-error" class="error">{move || url_error.get()}</p>
                <label for="endpoint-description">"Description (optional)"</label>
                <input id="endpoint-description" type="text" maxlength="500"
                    prop:value=description on:input=move |ev| description.set(event_target_value(&ev))/>
                <label for="endpoint-environment">"Environment"</label>
                <select id="endpoint-environment" on:change=move |ev| environment.set(event_target_value(&ev))>
                    <option value="SANDBOX" selected=move || environment.get() == "SANDBOX">"Sandbox (test data; http allowed)"</option>
                    <option value="PRODUCTION" selected=move || environment.get() == "PRODUCTION">"Production (live data; https only)"</option>
                </select>
                <fieldset aria-describedby="endpoint-events-error">
                    <legend>"Events"</legend>
                    <label class="check" for="events-all">
                        <input type="checkbox" id="events-all" prop:checked=all
                            on:change=move |ev| all.set(event_target_checked(&ev))/>
                        "All events, including types added later"
                    </label>
                    {choices}
                </fieldset>
                <p id="endpoint-events-error" class="error">{move || events_error.get()}</p>
                <Show when=move || general.get().is_some()>
                    <p class="error" role="alert" id="endpoint-form-error">{move || general.get()}</p>
                </Show>
                <button id="endpoint-submit" type="submit" prop:disabled=busy>
                    {move || if busy.get() { "Adding…" } else { "Add endpoint" }}
                </button>
            </form>
        </section>
    }
}
