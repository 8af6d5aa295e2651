//! Integration Logs: every exchange with an external service, newest first, filtered by
//! connection, outcome and error code; one entry's detail (its steps, correlation id and, while
//! debug capture was on, what was sent and received, redacted) opens in place.

use leptos::prelude::*;

use super::services::step_words;
use super::{NavLink, PageHeading, send, utc};
use crate::api::{enum_of, name_of};
use crate::queries::{IntegrationLog, integration_log};

type Entry = integration_log::IntegrationLogIntegrationLog;

/// The codes an entry may carry, as the API names them.
const CODES: &[&str] = &[
    "DNS_FAILURE",
    "CONNECTION_REFUSED",
    "TIMEOUT",
    "TLS_ERROR",
    "AUTH_FAILED",
    "UNEXPECTED_RESPONSE",
    "PROTOCOL_ERROR",
    "BLOCKED_ADDRESS",
    "REJECTED",
    "ENVIRONMENT_MISMATCH",
    "SIGNATURE_INVALID",
    "TIMESTAMP_STALE",
    "INVALID_MESSAGE",
];

fn operation_words(raw: &str) -> &'static str {
    match raw {
        "TEST_CONNECTION" => "Test Connection",
        "HEALTH_CHECK" => "Health check",
        "REQUEST_RECORDS" => "Records request",
        "RECEIVE_RECORDS" => "Records answer",
        "WEBHOOK_DELIVERY" => "Webhook delivery",
        "RECEIVE_RESULTS" => "Lab results",
        "POLL_RESULTS" => "Lab feed poll",
        _ => "Exchange",
    }
}

#[component]
pub fn IntegrationLogs() -> impl IntoView {
    let (entries, set_entries) = signal(None::<Vec<Entry>>);
    let (connections, set_connections) = signal(Vec::<(String, String)>::new());
    let (message, set_message) = signal(None::<String>);
    let connection = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let (busy, set_busy) = signal(false);
    let load = move || {
        let pick = |v: &RwSignal<String>| Some(v.get_untracked()).filter(|s| !s.is_empty());
        let filter = integration_log::IntegrationLogFilter {
            connection_id: pick(&connection),
            outcome: pick(&outcome).and_then(|o| enum_of(&o)),
            error_code: pick(&code).and_then(|c| enum_of(&c)),
            since: None,
            until: None,
            webhook_deliveries: match kind.get_untracked().as_str() {
                "webhooks" => Some(true),
                "services" => Some(false),
                _ => None,
            },
        };
        send::<IntegrationLog>(
            integration_log::Variables {
                filter: Some(filter),
                before: None,
            },
            set_message,
            Some(set_busy),
            move |d| {
                set_connections.set(
                    d.service_connections
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| (c.id, c.name))
                        .collect(),
                );
                set_entries.set(Some(d.integration_log.unwrap_or_default()));
            },
        );
    };
    load();
    let name_of_connection = move |id: Option<&String>| {
        id.and_then(|id| {
            connections.with(|c| c.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()))
        })
        .unwrap_or_else(|| "(deleted connection)".into())
    };
    let rows = move || {
        entries
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let outcome = name_of(&e.outcome);
                let code = e.error_code.as_ref().map(name_of);
                let steps = e
                    .steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {} ({} ms) {}",
                            step_words(&name_of(&s.step)),
                            if s.ok { "passed" } else { "failed" },
                            s.latency_ms,
                            s.detail
                        )
                    })
                    .map(|line| view! { <li>{line}</li> })
                    .collect_view();
                let (row_outcome, row_code) = (outcome.clone(), code.clone().unwrap_or_default());
                view! {
                    <tr data-outcome=row_outcome data-code=row_code>
                        <td>{utc(Some(&e.occurred_at), true)}</td>
                        <td>{if e.webhook_endpoint_id.is_some() {
                            "Webhook endpoint".to_owned()
                        } else {
                            name_of_connection(e.connection_id.as_ref())
                        }}</td>
                        <td>{operation_words(&name_of(&e.operation))}
                            <br/><span class="muted">{name_of(&e.direction).to_lowercase()}</span></td>
                        <td class="outcome">{outcome}</td>
                        <td><code>{code.unwrap_or_else(|| "—".into())}</code></td>
                        <td>{format!("{} ms", e.latency_ms)}</td>
                        <td>
                            <details class="entry-detail">
                                <summary>{e.message.clone()}</summary>
                                <p>"Correlation id: " <code>{e.correlation_id.clone()}</code></p>
                                <ul class="steps">{steps}</ul>
                                {e.capture.clone().map(|c| view! {
                                    <p>"Captured (secrets and patient data redacted):"</p>
                                    <pre class="capture">{c}</pre>
                                })}
                            </details>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let connection_options = move || {
        connections
            .get()
            .into_iter()
            .map(|(id, name)| view! { <option value=id>{name}</option> })
            .collect_view()
    };
    let code_options = CODES
        .iter()
        .map(|c| view! { <option value=*c>{*c}</option> })
        .collect_view();
    view! {
        <p><NavLink href="/settings/services">"‹ External Services"</NavLink></p>
        <PageHeading title="Integration Logs"/>
        <p class="muted">"Every exchange with an outside system: tests, health checks, requests sent, messages received, and webhook deliveries (from their delivery log). Kept for the server's retention period."</p>
        <form class="filters" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); load(); }>
            <label for="log-connection">"Connection"</label>
            <select id="log-connection" on:change=move |ev| connection.set(event_target_value(&ev))>
                <option value="">"All connections"</option>
                {connection_options}
            </select>
            <label for="log-kind">"Exchanges"</label>
            <select id="log-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="">"All"</option>
                <option value="services">"With external services"</option>
                <option value="webhooks">"Webhook deliveries"</option>
            </select>
            <label for="log-outcome">"Outcome"</label>
            <select id="log-outcome" on:change=move |ev| outcome.set(event_target_value(&ev))>
                <option value="">"Any outcome"</option>
                <option value="OK">"OK"</option>
                <option value="FAILED">"Failed"</option>
                <option value="REFUSED">"Refused by Switchboard"</option>
            </select>
            <label for="log-code">"Error code"</label>
            <select id="log-code" on:change=move |ev| code.set(event_target_value(&ev))>
                <option value="">"Any code"</option>
                {code_options}
            </select>
            <button id="log-apply" type="submit" prop:disabled=busy>"Show"</button>
        </form>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="log-message">{move || message.get()}</p>
        </Show>
        <section class="card" aria-labelledby="log-heading">
            <h2 id="log-heading">"Entries"</h2>
            <Show when=move || entries.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <Show when=move || entries.get().is_some_and(|e| !e.is_empty())
                    fallback=|| view! { <p class="muted" id="no-entries">"No entries match."</p> }>
                    <table id="log-entries">
                        <thead><tr>
                            <th scope="col">"When"</th><th scope="col">"Connection"</th><th scope="col">"Exchange"</th>
                            <th scope="col">"Outcome"</th><th scope="col">"Code"</th><th scope="col">"Time"</th>
                            <th scope="col">"What happened"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </Show>
            </Show>
        </section>
    }
}
