//! A LAB connection's polling, on its page: the schedule (every so many seconds, or a cron
//! expression in UTC) and the feed's path, where the feed stands and how the last poll went,
//! and "Poll now" with what it fetched.

use leptos::prelude::*;

use super::{focus, handle_error, send, send_with, utc};
use crate::api::ApiError;
use crate::queries::{
    PollServiceNow, SetServicePolling, poll_service_now, service_connection, set_service_polling,
};

type Connection = service_connection::ServiceConnectionServiceConnection;

/// Whether a connection is one whose lab can be polled: LAB over an HTTP protocol.
pub fn polled(c: &Connection) -> bool {
    use crate::api::name_of;
    name_of(&c.service_type) == "LAB"
        && matches!(name_of(&c.protocol).as_str(), "HTTPS_JSON" | "HL7V2_HTTP")
}

#[component]
pub fn PollingPanel(
    /// The connection as loaded (reloaded after each change here).
    connection: ReadSignal<Option<Connection>>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let start = connection.get_untracked();
    let id = start.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let id = StoredValue::new(id);
    let polling = start.and_then(|c| c.polling);
    let by_cron = RwSignal::new(polling.as_ref().is_some_and(|p| p.cron.is_some()));
    let every = RwSignal::new(
        polling
            .as_ref()
            .and_then(|p| p.every_seconds)
            .unwrap_or(300)
            .to_string(),
    );
    let cron = RwSignal::new(
        polling
            .as_ref()
            .and_then(|p| p.cron.clone())
            .unwrap_or_default(),
    );
    let path = RwSignal::new(
        polling
            .as_ref()
            .map_or_else(|| "results".to_owned(), |p| p.path.clone()),
    );
    let enabled = RwSignal::new(polling.as_ref().is_none_or(|p| p.enabled));
    let error = RwSignal::new(None::<String>);
    let (message, set_message) = signal(None::<String>);
    let (result, set_result) = signal(None::<(bool, String)>);
    let (saving, set_saving) = signal(false);
    let (polling_now, set_polling_now) = signal(false);

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let (every_seconds, cron) = if by_cron.get_untracked() {
            (None, Some(cron.get_untracked()))
        } else {
            match every.get_untracked().trim().parse::<i64>() {
                Ok(s) => (Some(s), None),
                Err(_) => {
                    error.set(Some("The interval is a whole number of seconds.".into()));
                    request_animation_frame(|| focus("polling-every"));
                    return;
                }
            }
        };
        let input = set_service_polling::ServicePollingInput {
            every_seconds,
            cron,
            path: Some(path.get_untracked()),
            enabled: enabled.get_untracked(),
        };
        send_with::<SetServicePolling>(
            set_service_polling::Variables {
                id: id.get_value(),
                input,
            },
            Some(set_saving),
            move |_| on_changed.run(()),
            move |e| match e {
                ApiError::Invalid { text, .. } => {
                    error.set(Some(text));
                    request_animation_frame(|| focus("polling-error"));
                }
                other => handle_error(other, error.write_only()),
            },
        );
    };
    let poll_now = move |_| {
        set_result.set(None);
        set_message.set(None);
        send::<PollServiceNow>(
            poll_service_now::Variables { id: id.get_value() },
            set_message,
            Some(set_polling_now),
            move |d| {
                if let Some(p) = d.poll_service_now {
                    let text = if p.ok {
                        format!(
                            "Fetched {} message(s) in {} page(s): {} accepted, {} to the dead-letter queue.{}",
                            p.fetched,
                            p.pages,
                            p.accepted,
                            p.dead_lettered,
                            if p.more {
                                " More is waiting: the next poll is due now."
                            } else {
                                ""
                            }
                        )
                    } else {
                        format!("The poll failed: {}", p.log_entry.message)
                    };
                    set_result.set(Some((p.ok, text)));
                }
                on_changed.run(());
            },
        );
    };

    let facts = move || {
        connection
            .get()
            .and_then(|c| c.polling)
            .map(|p| {
                view! {
                    <dl class="facts" id="polling-facts">
                        <dt>"Scheduled polls"</dt><dd id="polling-state">{if p.enabled {
                            format!("On; next {}", utc(Some(&p.next_poll_at), true))
                        } else {
                            "Off (Poll now still works)".into()
                        }}</dd>
                        <dt>"Feed position"</dt><dd><code id="polling-cursor">{p.cursor.clone().unwrap_or_else(|| "From the start".into())}</code></dd>
                        <dt>"Last poll"</dt><dd id="polling-last">{match (&p.last_polled_at, &p.last_outcome) {
                            (Some(at), Some(outcome)) => format!(
                                "{} — {}: {}",
                                utc(Some(at), true),
                                outcome,
                                p.last_message.clone().unwrap_or_default()
                            ),
                            _ => "Never polled".into(),
                        }}</dd>
                        {(p.consecutive_failures > 0).then(|| view! {
                            <dt>"Failures in a row"</dt><dd id="polling-failures">{format!(
                                "{} (polls are spaced out until the feed answers again)",
                                p.consecutive_failures
                            )}</dd>
                        })}
                        {p.polling_now.then(|| view! {
                            <dt>"Now"</dt><dd>"A poll is running"</dd>
                        })}
                    </dl>
                }
            })
    };
    view! {
        <section class="card" aria-labelledby="polling-heading">
            <h2 id="polling-heading">"Polling"</h2>
            <p class="muted">"For a lab that cannot send its results: Switchboard asks the lab's feed for what came after the last result it kept, on this schedule. Each poll is one entry in the integration log."</p>
            {facts}
            <Show when=move || message.get().is_some()>
                <p class="error" role="alert" id="polling-message">{move || message.get()}</p>
            </Show>
            <Show when=move || result.get().is_some()>
                <p role="status" id="polling-result"
                    class=move || if result.get().is_some_and(|(ok, _)| ok) { "notice" } else { "error" }>
                    {move || result.get().map(|(_, text)| text)}
                </p>
            </Show>
            <form on:submit=save novalidate id="polling-form">
                <fieldset>
                    <legend>"Schedule"</legend>
                    <label class="check" for="polling-by-every">
                        <input type="radio" name="polling-by" id="polling-by-every" prop:checked=move || !by_cron.get()
                            on:change=move |_| by_cron.set(false)/>
                        "Every so many seconds"
                    </label>
                    <label class="check" for="polling-by-cron">
                        <input type="radio" name="polling-by" id="polling-by-cron" prop:checked=move || by_cron.get()
                            on:change=move |_| by_cron.set(true)/>
                        "A cron expression (UTC)"
                    </label>
                    <Show when=move || !by_cron.get()
                        fallback=move || view! {
                            <label for="polling-cron">"Cron expression, e.g. */5 * * * * (minute hour day month weekday)"</label>
                            <input id="polling-cron" type="text" prop:value=cron on:input=move |ev| cron.set(event_target_value(&ev))/>
                        }>
                        <label for="polling-every">"Seconds between polls"</label>
                        <input id="polling-every" type="text" inputmode="numeric" prop:value=every
                            on:input=move |ev| every.set(event_target_value(&ev))/>
                    </Show>
                </fieldset>
                <label for="polling-path">"Feed path under the connection's address"</label>
                <input id="polling-path" type="text" prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
                <label class="check" for="polling-enabled">
                    <input type="checkbox" id="polling-enabled" prop:checked=enabled
                        on:change=move |ev| enabled.set(event_target_checked(&ev))/>
                    "Poll on this schedule"
                </label>
                <p id="polling-error" class="error" tabindex="-1" role="alert">{move || error.get()}</p>
                <div class="row actions">
                    <button id="polling-save" type="submit" prop:disabled=saving>
                        {move || if saving.get() { "Saving…" } else { "Save polling" }}
                    </button>
                    <button id="polling-now" type="button" class="secondary" on:click=poll_now
                        prop:disabled=move || polling_now.get() || connection.with(|c| c.as_ref().is_none_or(|c| c.polling.is_none()))>
                        {move || if polling_now.get() { "Polling…" } else { "Poll now" }}
                    </button>
                </div>
            </form>
        </section>
    }
}
