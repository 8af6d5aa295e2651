//! The Audit screen's proof that the trail is untampered: the server walks the hash chain on
//! request (it reads the whole trail, so not on every visit) and says intact or where it breaks.

use leptos::prelude::*;

use super::send;
use crate::queries::{AuditVerification, audit_verification};

type Found = audit_verification::AuditVerificationAuditVerification;

fn outcome(found: Found) -> AnyView {
    match found.broken_at {
        None => view! {
            <p id="audit-verified" class="ok">
                {format!(
                    "Intact: all {} events are linked and unchanged ({} links).",
                    found.events_checked, found.links_checked
                )}
            </p>
            <p class="muted">"Last hash, to note somewhere else: "
                <code id="audit-head-hash">{found.head_hash.unwrap_or_default()}</code></p>
        }
        .into_any(),
        Some(broken) => {
            // The event at fault when the server can tell; otherwise the link's events, one
            // of which was changed.
            let events = match broken.event_id {
                Some(id) => vec![id],
                None => broken.event_ids,
            };
            let label = if events.len() == 1 {
                "Event: "
            } else {
                "One of these events: "
            };
            view! {
                <p id="audit-verified" class="error" role="alert">
                    {format!(
                        "Broken at link {} of the chain ({:?}): {}.",
                        broken.position, broken.problem, broken.message
                    )}
                </p>
                <p class="muted">
                    {format!(
                        "The {} links before it ({} events) are intact. ",
                        found.links_checked, found.events_checked
                    )}
                    {(!events.is_empty()).then(|| view! {
                        {label}
                        {events.into_iter().map(|id| view! {
                            <a href=format!("/settings/audit?record={id}")><code>{id.clone()}</code></a>
                            " "
                        }).collect_view()}
                    })}
                </p>
            }
            .into_any()
        }
    }
}

#[component]
pub fn IntegrityCard() -> impl IntoView {
    let (found, set_found) = signal(None::<Found>);
    let (message, set_message) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let verify = move |_| {
        set_message.set(None);
        send::<AuditVerification>(
            audit_verification::Variables {},
            set_message,
            Some(set_busy),
            move |d| set_found.set(d.audit_verification),
        );
    };
    view! {
        <section class="card" aria-labelledby="audit-integrity-title">
            <h2 id="audit-integrity-title">"Integrity"</h2>
            <p class="muted">"Every batch of events is linked to the one before it by a hash. Verifying recomputes every link and finds any event changed, deleted or moved since it was recorded."</p>
            <button id="audit-verify" type="button" on:click=verify disabled=busy>
                {move || if busy.get() { "Verifying…" } else { "Verify the trail" }}
            </button>
            <div role="status" aria-live="polite">
                {move || found.get().map(outcome)}
                <Show when=move || message.get().is_some()>
                    <p class="error" role="alert">{move || message.get()}</p>
                </Show>
            </div>
        </section>
    }
}
