//! One webhook endpoint: its settings and secrets, its actions (enable or disable, rotate the
//! secret, send a test event, replay, delete), and its delivery log with filters, from which
//! any delivery can be sent again.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::dialog::{Ask, use_ask};
use super::keys::{DEFAULT_GRACE, GRACE_CHOICES};
use super::secret::SecretPanel;
use super::webhooks::{events_words, state_words, wire_name};
use super::{NavLink, PageHeading, environment_words, send, utc};
use crate::api::name_of;
use crate::queries::{
    DeleteWebhookEndpoint, DisableWebhookEndpoint, EnableWebhookEndpoint, ReplayWebhookDeliveries,
    ResendWebhookDelivery, RotateWebhookSecret, SendTestWebhookEvent, WebhookEndpoint,
    delete_webhook_endpoint, disable_webhook_endpoint, enable_webhook_endpoint,
    replay_webhook_deliveries, resend_webhook_delivery, rotate_webhook_secret,
    send_test_webhook_event, webhook_endpoint,
};
use crate::webhook_events::WEBHOOK_EVENTS;

type Endpoint = webhook_endpoint::WebhookEndpointWebhookEndpoint;
type Delivery = webhook_endpoint::WebhookEndpointWebhookDeliveries;

/// A delivery's state in words.
fn delivery_words(status: &str) -> &'static str {
    match status {
        "DELIVERED" => "Delivered",
        "FAILED" => "Failed",
        _ => "Pending",
    }
}

/// One attempt in words: its answer or why there was none.
fn attempt_words(a: &webhook_endpoint::WebhookEndpointWebhookDeliveriesAttempts) -> String {
    let answer = match (a.http_status, &a.error) {
        (Some(s), None) => format!("HTTP {s}"),
        (Some(s), Some(e)) => format!("HTTP {s} ({})", name_of(e)),
        (None, Some(e)) => name_of(e),
        (None, None) => "—".into(),
    };
    format!(
        "{}: {answer}, {} ms",
        utc(Some(&a.attempted_at), true),
        a.latency_ms
    )
}

#[component]
pub fn WebhookDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let (endpoint, set_endpoint) = signal(None::<Endpoint>);
    let (deliveries, set_deliveries) = signal(Vec::<Delivery>::new());
    let (loaded, set_loaded) = signal(false);
    let (message, set_message) = signal(None::<String>);
    let (notice, set_notice) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let status_filter = RwSignal::new(String::new());
    let type_filter = RwSignal::new(String::new());
    let since_filter = RwSignal::new(String::new());
    let ask = use_ask();

    let load = Callback::new(move |_| {
        fn enum_of<T: serde::de::DeserializeOwned>(raw: String) -> Option<T> {
            (!raw.is_empty())
                .then(|| serde_json::from_value(serde_json::Value::from(raw)).ok())
                .flatten()
        }
        let since = since_filter.get_untracked();
        let filter = webhook_endpoint::WebhookDeliveryFilter {
            status: enum_of(status_filter.get_untracked()),
            event_type: enum_of(type_filter.get_untracked()),
            since: (!since.is_empty()).then(|| format!("{since}:00Z")),
            until: None,
        };
        send::<WebhookEndpoint>(
            webhook_endpoint::Variables {
                id: id(),
                filter: Some(filter),
            },
            set_message,
            None,
            move |d| {
                set_endpoint.set(d.webhook_endpoint);
                set_deliveries.set(d.webhook_deliveries.unwrap_or_default());
                set_loaded.set(true);
            },
        )
    });
    load.run(());

    let toggle = move |_| {
        let Some(e) = endpoint.get_untracked() else {
            return;
        };
        let id = e.id.clone();
        if e.enabled {
            ask.set(Some(Ask {
                title: format!("Disable {}?", e.url),
                text: "Nothing is sent to it, and new events are not kept for it, until you enable it again.".into(),
                confirm: "Disable endpoint",
                danger: true,
                extra: None,
                then: Callback::new(move |_| {
                    send::<DisableWebhookEndpoint>(
                        disable_webhook_endpoint::Variables { id: id.clone() },
                        set_message,
                        None,
                        move |_| load.run(()),
                    );
                }),
            }));
        } else {
            send::<EnableWebhookEndpoint>(
                enable_webhook_endpoint::Variables { id },
                set_message,
                None,
                move |_| {
                    set_notice.set(Some("Enabled: what was pending is being sent.".into()));
                    load.run(())
                },
            );
        }
    };
    let rotate = move |_| {
        let Some(e) = endpoint.get_untracked() else {
            return;
        };
        let overlap = RwSignal::new(DEFAULT_GRACE);
        let (id, url) = (e.id.clone(), e.url.clone());
        ask.set(Some(Ask {
            title: format!("Rotate the signing secret of {}?", e.url),
            text: "A new secret is issued and shown once. During the overlap every message is signed with both, so the receiver can switch without missing one.".into(),
            confirm: "Rotate secret",
            danger: false,
            extra: Some(ViewFn::from(move || view! {
                <label for="rotate-grace">"The old secret keeps signing for"</label>
                <select id="rotate-grace" on:change=move |ev| {
                    overlap.set(event_target_value(&ev).parse().unwrap_or(DEFAULT_GRACE))
                }>
                    // The server allows at most seven days by default.
                    {GRACE_CHOICES.iter().filter(|(secs, _)| *secs <= 604_800).map(|(secs, words)| view! {
                        <option value=secs.to_string() selected=*secs == DEFAULT_GRACE>{*words}</option>
                    }).collect_view()}
                </select>
            })),
            then: Callback::new(move |_| {
                let url = url.clone();
                let vars = rotate_webhook_secret::Variables { id: id.clone(), overlap: overlap.get_untracked() };
                send::<RotateWebhookSecret>(vars, set_message, None, move |d| {
                    if let Some(r) = d.rotate_webhook_secret {
                        secret.set(Some((url, r.signing_secret)));
                    }
                    load.run(());
                });
            }),
        }));
    };
    let test_event = move |_| {
        send::<SendTestWebhookEvent>(
            send_test_webhook_event::Variables { endpoint_id: id() },
            set_message,
            None,
            move |_| {
                set_notice.set(Some("A test event is on its way.".into()));
                load.run(());
            },
        );
    };
    let delete = move |_| {
        let Some(e) = endpoint.get_untracked() else {
            return;
        };
        let id = e.id.clone();
        ask.set(Some(Ask {
            title: format!("Delete {}?", e.url),
            text: "The endpoint, its secrets and its delivery log are removed for good.".into(),
            confirm: "Delete endpoint",
            danger: true,
            extra: None,
            then: Callback::new(move |_| {
                send::<DeleteWebhookEndpoint>(
                    delete_webhook_endpoint::Variables { id: id.clone() },
                    set_message,
                    None,
                    move |_| {
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().set_href("/settings/api-console/webhooks");
                        }
                    },
                );
            }),
        }));
    };
    let replay_since = RwSignal::new(String::new());
    let replay = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let since = replay_since.get_untracked();
        if since.is_empty() {
            set_message.set(Some(
                "Choose the time to send deliveries again from.".into(),
            ));
            return;
        }
        send::<ReplayWebhookDeliveries>(
            replay_webhook_deliveries::Variables {
                endpoint_id: id(),
                since: format!("{since}:00Z"),
            },
            set_message,
            None,
            move |d| {
                let n = d.replay_webhook_deliveries.unwrap_or(0);
                set_notice.set(Some(format!("{n} deliveries are being sent again.")));
                load.run(());
            },
        );
    };
    let resend = move |delivery: String| {
        send::<ResendWebhookDelivery>(
            resend_webhook_delivery::Variables { id: delivery },
            set_message,
            None,
            move |_| {
                set_notice.set(Some("The delivery is being sent again.".into()));
                load.run(());
            },
        );
    };

    let facts = move || {
        endpoint.get().map(|e| {
            let secrets = e
                .secrets
                .iter()
                .map(|s| match &s.expires_at {
                    Some(end) => format!("{}… (signs until {})", s.prefix, utc(Some(end), false)),
                    None => format!("{}… (current)", s.prefix),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let enabled = e.enabled;
            view! {
                <dl class="facts">
                    <dt>"Status"</dt><dd id="endpoint-status">{state_words(e.enabled, e.disabled_reason.as_ref().map(name_of))}</dd>
                    <dt>"Failing since"</dt><dd>{utc(e.failing_since.as_deref(), false)}</dd>
                    <dt>"Environment"</dt><dd>{environment_words(&name_of(&e.environment))}</dd>
                    <dt>"Events"</dt><dd id="endpoint-events">{events_words(e.event_types.as_deref())}</dd>
                    <dt>"Description"</dt><dd>{e.description.clone()}</dd>
                    <dt>"Signing secrets"</dt><dd id="endpoint-secrets">{secrets}</dd>
                    <dt>"Added"</dt><dd>{utc(Some(&e.created_at), false)}</dd>
                </dl>
                <div class="row">
                    <button id="endpoint-test" type="button" class="secondary" on:click=test_event>"Send test event"</button>
                    <button id="endpoint-rotate" type="button" class="secondary" on:click=rotate>"Rotate secret"</button>
                    <button id="endpoint-toggle" type="button" class=if enabled { "danger" } else { "secondary" } on:click=toggle>
                        {if enabled { "Disable" } else { "Enable" }}
                    </button>
                    <button id="endpoint-delete" type="button" class="danger" on:click=delete>"Delete"</button>
                </div>
            }
        })
    };
    let rows = move || {
        deliveries
            .get()
            .into_iter()
            .map(|d| {
                let status = name_of(&d.status);
                let kind = wire_name(&name_of(&d.event_type)).to_owned();
                let last = d.attempts.last().map_or_else(|| "not yet attempted".to_owned(), attempt_words);
                let all = d.attempts.iter().map(attempt_words).collect::<Vec<_>>();
                let details = d.attempts.last().map(|a| a.detail.clone()).unwrap_or_default();
                let label = format!("Resend {}", d.id);
                let delivery = d.id.clone();
                view! {
                    <tr data-delivery=d.id.clone() data-status=status.clone()>
                        <td><code>{d.id.clone()}</code><br/><span class="muted">{utc(Some(&d.created_at), true)}</span></td>
                        <td>{kind}</td>
                        <td class="status">{delivery_words(&status)}<br/>
                            <span class="muted">{d.next_attempt_at.as_deref().map(|n| format!("next attempt {}", utc(Some(n), true)))}</span>
                        </td>
                        <td>
                            <details>
                                <summary>{format!("{} attempt(s); last: {last}", d.attempt_count)}</summary>
                                <ul>{all.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
                                <pre class="excerpt">{details}</pre>
                            </details>
                        </td>
                        <td><button type="button" class="secondary" aria-label=label
                            on:click=move |_| resend(delivery.clone())>"Resend"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };
    let title = move || {
        endpoint
            .get()
            .map_or_else(|| "Webhook endpoint".to_owned(), |e| e.url)
    };

    view! {
        <p><NavLink href="/settings/api-console/webhooks">"‹ Webhooks"</NavLink></p>
        {move || view! { <PageHeading title=title()/> }}
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="endpoint-message">{move || message.get()}</p>
        </Show>
        <Show when=move || notice.get().is_some()>
            <p role="status" id="endpoint-notice">{move || notice.get()}</p>
        </Show>
        <SecretPanel secret/>
        <Show when=move || !loaded.get() || endpoint.get().is_some()
            fallback=|| view! { <p id="endpoint-missing">"There is no such endpoint."</p> }>
            <section class="card" aria-label="About the endpoint">{facts}</section>
            <section class="card" aria-labelledby="log-heading">
                <h2 id="log-heading">"Delivery log"</h2>
                <div class="row filters">
                    <label for="log-status">"Status"</label>
                    <select id="log-status" on:change=move |ev| { status_filter.set(event_target_value(&ev)); load.run(()) }>
                        <option value="">"Any"</option>
                        <option value="PENDING">"Pending"</option>
                        <option value="DELIVERED">"Delivered"</option>
                        <option value="FAILED">"Failed"</option>
                    </select>
                    <label for="log-type">"Event"</label>
                    <select id="log-type" on:change=move |ev| { type_filter.set(event_target_value(&ev)); load.run(()) }>
                        <option value="">"Any"</option>
                        {WEBHOOK_EVENTS.iter().map(|(g, wire, _)| view! { <option value=*g>{*wire}</option> }).collect_view()}
                    </select>
                    <label for="log-since">"Since (UTC)"</label>
                    <input id="log-since" type="datetime-local"
                        on:change=move |ev| { since_filter.set(event_target_value(&ev)); load.run(()) }/>
                    <button id="log-refresh" type="button" class="secondary" on:click=move |_| load.run(())>"Refresh"</button>
                </div>
                <table id="deliveries">
                    <thead><tr>
                        <th scope="col">"Delivery"</th><th scope="col">"Event"</th><th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <form class="row" on:submit=replay>
                    <label for="replay-since">"Send every delivery again since (UTC)"</label>
                    <input id="replay-since" type="datetime-local"
                        on:input=move |ev| replay_since.set(event_target_value(&ev))/>
                    <button id="replay-submit" type="submit" class="secondary">"Replay"</button>
                </form>
            </section>
        </Show>
    }
}
