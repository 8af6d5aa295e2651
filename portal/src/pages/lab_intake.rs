//! Lab intake: the HL7 v2 result messages labs sent, newest first, with the acknowledgement
//! each got; the dead-letter queue (a message not taken, with why), where a message is
//! reprocessed after a fix or discarded with a reason; a message's text with the patient's
//! segments masked until revealed (revealing is audited); and each lab connection's code
//! mapping, imported as CSV.

use leptos::prelude::*;

use super::dialog::{Ask, use_ask};
use super::{NavLink, PageHeading, send, utc};
use crate::api::{enum_of, name_of};
use crate::queries::{
    CodeMappings, DeleteCodeMapping, DiscardLabMessage, ImportCodeMappings, LabMessages,
    ReprocessLabMessage, RevealLabMessage, code_mappings, delete_code_mapping, discard_lab_message,
    import_code_mappings, lab_messages, reprocess_lab_message, reveal_lab_message,
};

type Message = lab_messages::LabMessagesLabMessages;
type Mapping = code_mappings::CodeMappingsServiceConnectionCodeMappings;

fn status_words(raw: &str) -> &'static str {
    match raw {
        "ACCEPTED" => "Accepted",
        "CHECKED" => "Test message, checked",
        "DEAD" => "Dead letter",
        "REPROCESSED" => "Reprocessed",
        "DISCARDED" => "Discarded",
        _ => "Unknown",
    }
}

#[component]
pub fn LabIntake() -> impl IntoView {
    let (list, set_list) = signal(None::<Vec<Message>>);
    let (labs, set_labs) = signal(Vec::<(String, String)>::new());
    let (message, set_message) = signal(None::<String>);
    let (notice, set_notice) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let connection = RwSignal::new(String::new());
    let status = RwSignal::new("DEAD".to_owned());
    let revealed = RwSignal::new(Vec::<(String, String)>::new());
    let ask = use_ask();
    let load = Callback::new(move |_: ()| {
        let pick = |v: &RwSignal<String>| Some(v.get_untracked()).filter(|s| !s.is_empty());
        send::<LabMessages>(
            lab_messages::Variables {
                connection_id: pick(&connection),
                status: pick(&status).and_then(|s| enum_of(&s)),
            },
            set_message,
            Some(set_busy),
            move |d| {
                set_labs.set(
                    d.service_connections
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| name_of(&c.service_type) == "LAB")
                        .map(|c| (c.id, c.name))
                        .collect(),
                );
                set_list.set(Some(d.lab_messages.unwrap_or_default()));
            },
        );
    });
    load.run(());
    let reveal = move |id: String| {
        send::<RevealLabMessage>(
            reveal_lab_message::Variables { id: id.clone() },
            set_message,
            None,
            move |d| {
                if let Some(text) = d.reveal_lab_message {
                    revealed.update(|r| r.push((id, text)));
                }
            },
        );
    };
    let reprocess = move |id: String| {
        set_notice.set(None);
        send::<ReprocessLabMessage>(
            reprocess_lab_message::Variables { id },
            set_message,
            None,
            move |d| {
                if let Some(r) = d.reprocess_lab_message {
                    set_notice.set(Some(match r.problem {
                        None => "Reprocessed: its results are stored.".into(),
                        Some(p) => format!(
                            "Still not taken: {} — {}{}",
                            name_of(&p.code),
                            p.message,
                            p.location.map(|l| format!(" (at {l})")).unwrap_or_default()
                        ),
                    }));
                }
                load.run(());
            },
        );
    };
    let discard = move |id: String| {
        let reason = RwSignal::new(String::new());
        ask.set(Some(Ask {
            title: "Discard this message?".into(),
            text: "It leaves the dead-letter queue without being processed; it is kept, with your reason, and the discard is audited.".into(),
            confirm: "Discard",
            danger: true,
            extra: Some(ViewFn::from(move || view! {
                <label for="discard-reason">"Reason"</label>
                <input id="discard-reason" type="text" required
                    on:input=move |ev| reason.set(event_target_value(&ev))/>
            })),
            then: Callback::new(move |_| {
                send::<DiscardLabMessage>(
                    discard_lab_message::Variables {
                        id: id.clone(),
                        reason: reason.get_untracked(),
                    },
                    set_message,
                    None,
                    move |_| {
                        set_notice.set(Some("Discarded.".into()));
                        load.run(());
                    },
                );
            }),
        }));
    };
    let lab_name = move |id: Option<&String>| match id {
        None => "No connection takes it".to_owned(),
        Some(id) => labs
            .with(|l| l.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()))
            .unwrap_or_else(|| "(deleted connection)".into()),
    };
    let rows = move || {
        list.get()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let raw_status = name_of(&m.status);
                let dead = raw_status == "DEAD";
                let id = m.id.clone();
                let (for_reveal, for_reprocess, for_discard) = (id.clone(), id.clone(), id.clone());
                let shown = move || {
                    revealed.with(|r| r.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone()))
                };
                let problem = m.error_code.as_ref().map(|c| {
                    format!("{}: {}", name_of(c), m.error_message.clone().unwrap_or_default())
                });
                view! {
                    <tr data-status=raw_status.clone() data-control=m.control_id.clone().unwrap_or_default()>
                        <td>{utc(Some(&m.received_at), true)}</td>
                        <td>{lab_name(m.connection_id.as_ref())}<br/>
                            <span class="muted">{format!("{} · {}", m.sending_facility, name_of(&m.transport))}</span></td>
                        <td><code>{m.control_id.clone().unwrap_or_else(|| "—".into())}</code><br/>
                            <span class="muted">{m.message_type.clone()}</span></td>
                        <td class="status">{status_words(&raw_status)}</td>
                        <td><code>{name_of(&m.ack_code)}</code></td>
                        <td>
                            <details class="entry-detail">
                                <summary class="problem">{problem.clone().unwrap_or_else(|| "Taken".into())}</summary>
                                {m.resolution.clone().map(|r| view! {
                                    <p>{format!("{} by {}: {}",
                                        utc(m.resolved_at.as_deref(), false),
                                        m.resolved_by.clone().unwrap_or_default(), r)}</p>
                                })}
                                <p>{format!("Processed {} time(s).", m.attempts)}</p>
                                <p>"Message (patient segments masked):"</p>
                                <pre class="capture masked">{m.masked_message.replace('\r', "\n")}</pre>
                                {move || shown().map(|t| view! {
                                    <p>"Revealed (this was audited):"</p>
                                    <pre class="capture revealed">{t.replace('\r', "\n")}</pre>
                                })}
                                <p>"Acknowledgement sent:"</p>
                                <pre class="capture ack">{m.ack.replace('\r', "\n")}</pre>
                                <div class="row actions">
                                    <button class="secondary reveal" on:click=move |_| reveal(for_reveal.clone())>"Reveal patient data"</button>
                                    {dead.then(|| view! {
                                        <button class="reprocess" on:click=move |_| reprocess(for_reprocess.clone())>"Reprocess"</button>
                                        <button class="danger discard" on:click=move |_| discard(for_discard.clone())>"Discard…"</button>
                                    })}
                                </div>
                            </details>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let lab_options = move || {
        labs.get()
            .into_iter()
            .map(|(id, name)| view! { <option value=id>{name}</option> })
            .collect_view()
    };
    view! {
        <p><NavLink href="/settings/services">"‹ External Services"</NavLink></p>
        <PageHeading title="Lab intake"/>
        <p class="muted">"HL7 v2 result messages from laboratories, over MLLP or HTTPS. A message that cannot be taken (an unknown patient or order, an unmapped code, a bad field) waits in the dead-letter queue with the reason; fix the cause, then reprocess it, or discard it with a reason."</p>
        <form class="filters" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); load.run(()); }>
            <label for="intake-connection">"Connection"</label>
            <select id="intake-connection" on:change=move |ev| connection.set(event_target_value(&ev))>
                <option value="">"All lab connections"</option>
                {lab_options}
            </select>
            <label for="intake-status">"Messages"</label>
            <select id="intake-status" on:change=move |ev| status.set(event_target_value(&ev))>
                <option value="DEAD" selected>"Dead-letter queue"</option>
                <option value="">"All recent messages"</option>
                <option value="ACCEPTED">"Accepted"</option>
                <option value="REPROCESSED">"Reprocessed"</option>
                <option value="DISCARDED">"Discarded"</option>
                <option value="CHECKED">"Test messages"</option>
            </select>
            <button id="intake-apply" type="submit" prop:disabled=busy>"Show"</button>
        </form>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="intake-message">{move || message.get()}</p>
        </Show>
        <Show when=move || notice.get().is_some()>
            <p class="notice" role="status" id="intake-notice">{move || notice.get()}</p>
        </Show>
        <section class="card" aria-labelledby="intake-heading">
            <h2 id="intake-heading">"Messages"</h2>
            <Show when=move || list.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <Show when=move || list.get().is_some_and(|l| !l.is_empty())
                    fallback=|| view! { <p class="muted" id="no-messages">"No messages."</p> }>
                    <table id="intake-messages">
                        <thead><tr>
                            <th scope="col">"Received"</th><th scope="col">"From"</th><th scope="col">"Control id"</th>
                            <th scope="col">"Status"</th><th scope="col">"ACK"</th><th scope="col">"What happened"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </Show>
            </Show>
        </section>
        <CodeMappingsCard labs/>
    }
}

/// A lab connection's code mapping: its entries, removing one, and importing CSV.
#[component]
fn CodeMappingsCard(labs: ReadSignal<Vec<(String, String)>>) -> impl IntoView {
    let connection = RwSignal::new(String::new());
    let (entries, set_entries) = signal(None::<Vec<Mapping>>);
    let (message, set_message) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let csv = RwSignal::new(String::new());
    let load = move || {
        let id = connection.get_untracked();
        if id.is_empty() {
            set_entries.set(None);
            return;
        }
        send::<CodeMappings>(
            code_mappings::Variables { id },
            set_message,
            None,
            move |d| {
                set_entries.set(d.service_connection.map(|c| c.code_mappings));
            },
        );
    };
    let import = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_message.set(None);
        send::<ImportCodeMappings>(
            import_code_mappings::Variables {
                id: connection.get_untracked(),
                csv: csv.get_untracked(),
            },
            set_message,
            Some(set_busy),
            move |_| {
                csv.set(String::new());
                load();
            },
        );
    };
    let remove = move |kind: String, local: String| {
        let Some(kind) = enum_of(&kind) else {
            return;
        };
        send::<DeleteCodeMapping>(
            delete_code_mapping::Variables {
                id: connection.get_untracked(),
                kind,
                local_code: local,
            },
            set_message,
            None,
            move |_| load(),
        );
    };
    let rows = move || {
        entries
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let kind = name_of(&e.kind);
                let (k, l) = (kind.clone(), e.local_code.clone());
                view! {
                    <tr>
                        <td>{kind}</td>
                        <td><code>{e.local_code.clone()}</code></td>
                        <td><code>{e.code.clone()}</code></td>
                        <td>{e.loinc.clone().unwrap_or_default()}</td>
                        <td>{e.name.clone().unwrap_or_default()}</td>
                        <td><button class="secondary" on:click=move |_| remove(k.clone(), l.clone())>"Remove"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card" aria-labelledby="mapping-heading">
            <h2 id="mapping-heading">"Code mappings"</h2>
            <p class="muted">"A lab's local test codes (OBR-4) and observation codes (OBX-3), and Switchboard's codes they stand for. A kind with no entry passes codes through as sent; once it has entries, a code not listed sends its message to the dead-letter queue (UNMAPPED_CODE)."</p>
            <label for="mapping-connection">"Lab connection"</label>
            <select id="mapping-connection" on:change=move |ev| { connection.set(event_target_value(&ev)); load(); }>
                <option value="">"Choose a connection"</option>
                {move || labs.get().into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
            </select>
            <Show when=move || message.get().is_some()>
                <p class="error" role="alert" id="mapping-message">{move || message.get()}</p>
            </Show>
            <Show when=move || entries.get().is_some()>
                <Show when=move || entries.get().is_some_and(|e| !e.is_empty())
                    fallback=|| view! { <p class="muted" id="no-mappings">"No entries: codes pass through as the lab sends them."</p> }>
                    <table id="mapping-entries">
                        <thead><tr>
                            <th scope="col">"Kind"</th><th scope="col">"Lab's code"</th><th scope="col">"Switchboard's code"</th>
                            <th scope="col">"LOINC"</th><th scope="col">"Name"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </Show>
                <form on:submit=import id="mapping-import">
                    <label for="mapping-csv">"Import CSV (header: kind,localCode,code,loinc,name)"</label>
                    <textarea id="mapping-csv" rows="5" prop:value=csv on:input=move |ev| csv.set(event_target_value(&ev))></textarea>
                    <button id="mapping-submit" type="submit" prop:disabled=busy>"Import"</button>
                </form>
            </Show>
        </section>
    }
}
