use leptos::prelude::*;

use super::{send, utc};
use crate::api::name_of;
use crate::queries::{Audit as AuditQuery, audit};

type Event = audit::AuditAuditEventsNodes;

#[component]
pub fn Audit() -> impl IntoView {
    let (events, set_events) = signal(None::<Vec<Event>>);
    let (message, set_message) = signal(None::<String>);
    send::<AuditQuery>(audit::Variables, set_message, None, move |d| {
        set_events.set(d.audit_events.map(|c| c.nodes))
    });
    let rows = move || {
        events
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e: Event| {
                view! {
                    <tr>
                        <td>{utc(Some(&e.occurred_at), true)}</td>
                        <td>{e.actor_label}<br/><span class="muted">{
                            // A portal user is shown in their role, not as an administrator.
                            e.actor_role.as_ref().map(name_of).unwrap_or(e.actor_kind)
                        }</span></td>
                        <td>{e.action}</td>
                        <td>{e.operation}</td>
                        <td>{e.record_type}" "<span class="muted">{e.record_ids.join(", ")}</span></td>
                        <td>{e.fields.join(", ")}</td>
                        <td>{e.ip.unwrap_or_default()}</td>
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
