use leptos::prelude::*;

use leptos_router::hooks::use_query_map;

use super::audit_integrity::IntegrityCard;
use super::{PageHeading, handle_error, send, utc};
use crate::api::{download, name_of};
use crate::queries::{Audit as AuditQuery, audit};

type Event = audit::AuditAuditEventsNodes;

/// Actions and record types the trail records, offered as filters.
const ACTIONS: &[&str] = &[
    "READ",
    "SEARCH",
    "CREATE",
    "UPDATE",
    "ROTATE",
    "REVOKE",
    "EXPIRE",
    "LOGIN",
    "LOGIN_FAILED",
    "DENIED",
    "EXPORT",
];
const RECORD_TYPES: &[&str] = &[
    "patient",
    "test",
    "api_key",
    "client",
    "location",
    "admin_user",
    "setting",
    "request",
    "audit_event",
];

/// Record ids shown before the rest are folded away.
const IDS_SHOWN: usize = 3;

/// The filter form's values.
#[derive(Clone, Default, PartialEq)]
struct Filter {
    record: String,
    actor: String,
    action: String,
    record_type: String,
    from: String,
    to: String,
}

fn some(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A datetime-local value (local wall time, no zone) taken as UTC, as the form says.
fn utc_input(v: &str) -> Option<String> {
    some(v).map(|v| format!("{v}:00Z"))
}

/// A patient's or test's id is 36 characters of hex and dashes; anything else in the record
/// field is a patient's external id.
fn is_id(v: &str) -> bool {
    v.len() == 36 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Filter {
    fn input(&self) -> audit::AuditFilterInput {
        let record = some(&self.record);
        let (record_id, external_patient_id) = match record {
            Some(r) if is_id(&r) => (Some(r), None),
            other => (None, other),
        };
        audit::AuditFilterInput {
            actor_id: some(&self.actor),
            action: some(&self.action),
            record_type: some(&self.record_type),
            record_id,
            external_patient_id,
            occurred_from: utc_input(&self.from),
            occurred_to: utc_input(&self.to),
        }
    }

    /// The same filter as the export's query string.
    fn query(&self, format: &str) -> String {
        let f = self.input();
        let mut parts = vec![format!("format={format}")];
        let mut add = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                parts.push(format!(
                    "{key}={}",
                    String::from(js_sys::encode_uri_component(&v))
                ));
            }
        };
        add("actorId", f.actor_id);
        add("action", f.action);
        add("recordType", f.record_type);
        add("recordId", f.record_id);
        add("externalPatientId", f.external_patient_id);
        add("occurredFrom", f.occurred_from);
        add("occurredTo", f.occurred_to);
        parts.join("&")
    }
}

/// Where a record can be seen: a key's page, or for patients and tests (which the portal has
/// no screen for) every event about the record.
fn record_link(record_type: &str, id: &str) -> String {
    match record_type {
        "api_key" => format!("/settings/api-console/keys/{id}"),
        _ => format!("/settings/audit?record={id}"),
    }
}

/// Record ids as links; a long list as a count that opens to the full list.
fn record_ids(record_type: &str, ids: Vec<String>) -> AnyView {
    let n = ids.len();
    let links = ids
        .into_iter()
        .map(|id| {
            let href = record_link(record_type, &id);
            view! { <a class="record-id" href=href>{id}</a>" " }
        })
        .collect_view();
    if n <= IDS_SHOWN {
        return view! { <span class="ids">{links}</span> }.into_any();
    }
    view! {
        <details class="ids">
            <summary>{format!("{n} records")}</summary>
            {links}
        </details>
    }
    .into_any()
}

#[component]
pub fn Audit() -> impl IntoView {
    let (events, set_events) = signal(None::<Vec<Event>>);
    let (next, set_next) = signal(None::<String>);
    let (message, set_message) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    // A link may bring a filter: `?actor=<id>` (a key's page) or `?record=<id>` (a record).
    let query = use_query_map();
    let linked = query.with_untracked(|q| Filter {
        record: q.get("record").unwrap_or_default(),
        actor: q.get("actor").unwrap_or_default(),
        ..Filter::default()
    });
    let form = RwSignal::new(linked.clone());
    // The filter the shown events were found with (the form may have changed since).
    let shown = RwSignal::new(linked.clone());
    // A link within this screen changes the query, not the screen: search again.
    Effect::new(move |first: Option<()>| {
        let f = query.with(|q| Filter {
            record: q.get("record").unwrap_or_default(),
            actor: q.get("actor").unwrap_or_default(),
            ..Filter::default()
        });
        if first.is_some() {
            form.set(f.clone());
            shown.set(f);
        }
    });

    let fetch = move |filter: Filter, after: Option<String>| {
        let variables = audit::Variables {
            filter: Some(filter.input()),
            after: after.clone(),
        };
        set_message.set(None);
        send::<AuditQuery>(variables, set_message, Some(set_busy), move |d| {
            let Some(page) = d.audit_events else {
                return;
            };
            set_next.set(
                page.page_info
                    .has_next_page
                    .then_some(page.page_info.end_cursor)
                    .flatten(),
            );
            if after.is_some() {
                set_events.update(|list| list.get_or_insert_default().extend(page.nodes));
            } else {
                set_events.set(Some(page.nodes));
            }
        });
    };
    fetch(linked, None);
    Effect::new(move |first: Option<()>| {
        let f = shown.get();
        if first.is_some() {
            fetch(f, None);
        }
    });

    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let filter = form.get_untracked();
        // Searching is setting the shown filter: the effect above fetches it.
        shown.set(filter);
    };
    let more = move |_| fetch(shown.get_untracked(), next.get_untracked());
    let export = move |format: &'static str| {
        let query = shown.get_untracked().query(format);
        set_message.set(None);
        leptos::task::spawn_local(async move {
            let name = format!("audit-events.{format}");
            if let Err(err) = download(&format!("/audit/export?{query}"), &name).await {
                handle_error(err, set_message);
            }
        });
    };

    let field = move |id: &'static str,
                      label: &'static str,
                      get: fn(&Filter) -> String,
                      set: fn(&mut Filter, String)| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" prop:value=move || get(&form.get())
                on:input=move |ev| form.update(|f| set(f, event_target_value(&ev)))/>
        }
    };
    let choice = move |id: &'static str,
                       label: &'static str,
                       options: &'static [&'static str],
                       set: fn(&mut Filter, String)| {
        view! {
            <label for=id>{label}</label>
            <select id=id on:change=move |ev| form.update(|f| set(f, event_target_value(&ev)))>
                <option value="">"Any"</option>
                {options.iter().map(|o| view! { <option value=*o>{*o}</option> }).collect_view()}
            </select>
        }
    };

    let rows = move || {
        events
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e: Event| {
                // The actor's name leads to everything they did ("what did this key do?").
                let actor = if e.actor_id.is_empty() {
                    view! { <span>{e.actor_label}</span> }.into_any()
                } else {
                    let href = format!("/settings/audit?actor={}", e.actor_id);
                    view! { <a class="actor-link" href=href>{e.actor_label}</a> }.into_any()
                };
                view! {
                    <tr>
                        <td>{utc(Some(&e.occurred_at), true)}</td>
                        <td>{actor}<br/><span class="muted">{
                            // A portal user is shown in their role, not as an administrator.
                            e.actor_role.as_ref().map(name_of).unwrap_or(e.actor_kind)
                        }</span><br/><code class="muted actor-id">{e.actor_id}</code></td>
                        <td class="action">{e.action}</td>
                        <td>{e.operation}</td>
                        <td>{e.record_type.clone()}" "{record_ids(&e.record_type, e.record_ids)}</td>
                        <td>{e.fields.join(", ")}</td>
                        <td>{e.ip.unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <PageHeading title="Audit"/>
        <p class="muted">"Every access to patient data and every settings change, newest first. The trail cannot be edited."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="audit-message">{move || message.get()}</p>
        </Show>
        <IntegrityCard/>
        <section class="card">
            <h2>"Find events"</h2>
            <form id="audit-filter" on:submit=search novalidate>
                {field("audit-record", "Record (a patient or test id, or a patient's external id)", |f| f.record.clone(), |f, v| f.record = v)}
                {field("audit-actor", "Who (a key's or user's id)", |f| f.actor.clone(), |f, v| f.actor = v)}
                {choice("audit-action", "Action", ACTIONS, |f, v| f.action = v)}
                {choice("audit-record-type", "Record type", RECORD_TYPES, |f, v| f.record_type = v)}
                <label for="audit-from">"From (UTC)"</label>
                <input id="audit-from" type="datetime-local" prop:value=move || form.get().from
                    on:input=move |ev| form.update(|f| f.from = event_target_value(&ev))/>
                <label for="audit-to">"Until (UTC)"</label>
                <input id="audit-to" type="datetime-local" prop:value=move || form.get().to
                    on:input=move |ev| form.update(|f| f.to = event_target_value(&ev))/>
                <div class="row">
                    <button id="audit-search" type="submit" disabled=busy>"Search"</button>
                    <button id="audit-export-csv" type="button" class="link" on:click=move |_| export("csv")>"Export CSV"</button>
                    <button id="audit-export-ndjson" type="button" class="link" on:click=move |_| export("ndjson")>"Export NDJSON"</button>
                </div>
            </form>
        </section>
        <table id="audit">
            <thead><tr>
                <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                <th scope="col">"Operation"</th><th scope="col">"Records"</th><th scope="col">"Fields"</th><th scope="col">"From"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <Show when=move || events.get().is_some_and(|e| e.is_empty())>
            <p class="muted" id="audit-empty">"No events match."</p>
        </Show>
        <Show when=move || next.get().is_some()>
            <button id="audit-more" on:click=more disabled=busy>"Show older events"</button>
        </Show>
    }
}
