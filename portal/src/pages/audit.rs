use leptos::prelude::*;
use serde_json::{Value, json};

use super::{send, utc};
use crate::queries::AUDIT;

fn list(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[component]
pub fn Audit() -> impl IntoView {
    let (events, set_events) = signal(None::<Vec<Value>>);
    let (message, set_message) = signal(None::<String>);
    send(AUDIT, json!({}), set_message, None, move |d| {
        set_events.set(d["auditEvents"]["nodes"].as_array().cloned())
    });
    let rows = move || {
        events
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
                view! {
                    <tr>
                        <td>{utc(e["occurredAt"].as_str(), true)}</td>
                        <td>{s("actorLabel")}<br/><span class="muted">{s("actorKind")}</span></td>
                        <td>{s("action")}</td>
                        <td>{s("operation")}</td>
                        <td>{s("recordType")}" "<span class="muted">{list(&e["recordIds"])}</span></td>
                        <td>{list(&e["fields"])}</td>
                        <td>{s("ip")}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <h1>"Audit"</h1>
        <p class="muted">"Every access to patient data and every settings change, newest first. The trail cannot be edited."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert">{move || message.get()}</p>
        </Show>
        <table id="audit">
            <thead><tr>
                <th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                <th scope="col">"Operation"</th><th scope="col">"Records"</th><th scope="col">"Fields"</th><th scope="col">"From"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
