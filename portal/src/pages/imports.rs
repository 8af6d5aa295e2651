//! Import patients: a CSV or NDJSON file uploaded into a client and location, then followed as
//! a job (a progress bar, created, duplicates and refused rows), cancelled while it runs, and
//! its refused rows downloaded with their lines and reasons.

use std::time::Duration;

use leptos::prelude::*;

use super::{NavLink, PageHeading, handle_error, send, utc};
use crate::api::{download, name_of, upload};
use crate::queries::{
    CancelImportJob, ImportJob, ImportJobs, cancel_import_job, import_job, import_jobs,
};

type Client = import_jobs::ImportJobsClients;

/// A job as shown: from the list, from a look at one, or from the upload's answer.
#[derive(Clone, Debug, PartialEq)]
struct Job {
    id: String,
    status: String,
    format: String,
    client_id: String,
    total_rows: i64,
    processed: i64,
    created: i64,
    duplicates: i64,
    failed: i64,
    tests_created: i64,
    error: Option<String>,
    created_at: String,
    refused_rows_url: String,
}

macro_rules! job_of {
    ($j:expr) => {{
        let j = $j;
        Job {
            id: j.id,
            status: name_of(&j.status),
            format: name_of(&j.format),
            client_id: j.client_id,
            total_rows: j.total_rows,
            processed: j.processed,
            created: j.created,
            duplicates: j.duplicates,
            failed: j.failed,
            tests_created: j.tests_created,
            error: j.error,
            created_at: j.created_at,
            refused_rows_url: j.refused_rows_url,
        }
    }};
}

/// A job's counts in words (its tests only when it ordered some).
fn counts(j: &Job) -> String {
    let tests = if j.tests_created > 0 {
        format!(" ({} tests)", j.tests_created)
    } else {
        String::new()
    };
    format!(
        "{} created{tests} · {} duplicates · {} refused",
        j.created, j.duplicates, j.failed
    )
}

/// How often a running job is looked at.
const POLL: Duration = Duration::from_millis(1_000);

fn finished(status: &str) -> bool {
    matches!(status, "COMPLETED" | "CANCELLED" | "FAILED")
}

#[component]
pub fn Imports() -> impl IntoView {
    let (clients, set_clients) = signal(Vec::<Client>::new());
    let (jobs, set_jobs) = signal(None::<Vec<Job>>);
    let (message, set_message) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let current = RwSignal::new(None::<Job>);
    // The job followed on screen (the upload just made, or one picked from the list).
    let followed = RwSignal::new(None::<String>);
    let client = RwSignal::new(String::new());
    let location = RwSignal::new(String::new());
    let file_input = NodeRef::<leptos::html::Input>::new();
    let load = Callback::new(move |_: ()| {
        send::<ImportJobs>(import_jobs::Variables {}, set_message, None, move |d| {
            set_clients.set(d.clients.unwrap_or_default());
            set_jobs.set(Some(
                d.import_jobs.into_iter().map(|j| job_of!(j)).collect(),
            ));
        });
    });
    load.run(());
    // Follows the current job until it ends, then refreshes the list.
    let follow = Callback::new(move |id: String| {
        fn poll(
            id: String,
            current: RwSignal<Option<Job>>,
            followed: RwSignal<Option<String>>,
            set_message: WriteSignal<Option<String>>,
            load: Callback<()>,
        ) {
            send::<ImportJob>(
                import_job::Variables { id: id.clone() },
                set_message,
                None,
                move |d| {
                    let Some(job) = d.import_job.map(|j| job_of!(j)) else {
                        return;
                    };
                    let done = finished(&job.status);
                    // Only the job on screen is followed.
                    if followed.with_untracked(|f| f.as_deref() == Some(job.id.as_str())) {
                        current.set(Some(job));
                        if done {
                            load.run(());
                        } else {
                            set_timeout(
                                move || poll(id, current, followed, set_message, load),
                                POLL,
                            );
                        }
                    }
                },
            );
        }
        followed.set(Some(id.clone()));
        poll(id, current, followed, set_message, load);
    });
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_message.set(None);
        let Some(file) = file_input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            set_message.set(Some("Choose a file to import.".into()));
            return;
        };
        let name = file.name().to_ascii_lowercase();
        let content_type = if name.ends_with(".csv") {
            "text/csv"
        } else {
            "application/x-ndjson"
        };
        let path = format!(
            "/imports/patients?clientId={}&locationId={}",
            client.get_untracked(),
            location.get_untracked()
        );
        set_busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = upload(&path, file, content_type).await;
            set_busy.set(false);
            match answer {
                Ok(body) => {
                    // The answer is the job; it is followed by its id like any other.
                    let Some(id) = body["id"].as_str().map(str::to_owned) else {
                        return;
                    };
                    if let Some(input) = file_input.get_untracked() {
                        input.set_value("");
                    }
                    current.set(None);
                    follow.run(id);
                }
                Err(e) => handle_error(e, set_message),
            }
        });
    };
    let cancel = move |id: String| {
        send::<CancelImportJob>(
            cancel_import_job::Variables { id: id.clone() },
            set_message,
            None,
            move |_| follow.run(id),
        );
    };
    let show = move |job: Job| {
        let id = job.id.clone();
        current.set(Some(job));
        follow.run(id);
    };
    let locations = move || {
        let chosen = client.get();
        clients
            .get()
            .into_iter()
            .find(|c| c.id == chosen)
            .map(|c| c.locations)
            .unwrap_or_default()
            .into_iter()
            .map(|l| view! { <option value=l.id>{l.name}</option> })
            .collect_view()
    };
    let client_name = move |id: &str| {
        clients
            .with(|c| c.iter().find(|c| c.id == id).map(|c| c.name.clone()))
            .unwrap_or_else(|| id.to_owned())
    };
    let rows = move || {
        jobs.get()
            .unwrap_or_default()
            .into_iter()
            .map(|j| {
                let (status, marker) = (j.status.clone(), j.status.clone());
                let shown = j.clone();
                view! {
                    <tr data-status=marker>
                        <td>{utc(Some(j.created_at.as_str()).filter(|s| !s.is_empty()), false)}</td>
                        <td>{client_name(&j.client_id)}</td>
                        <td>{j.format.clone()}</td>
                        <td class="status">{status}</td>
                        <td>{format!("{} of {}", j.processed, j.total_rows)}</td>
                        <td>{counts(&j)}</td>
                        <td><button class="secondary" on:click=move |_| show(shown.clone())>"Show"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <p><NavLink href="/settings/services">"‹ External Services"</NavLink></p>
        <PageHeading title="Import patients"/>
        <p class="muted">"Patients from another system, in bulk: a CSV file with a header row naming the columns (externalPatientId, firstName, lastName, dateOfBirth as YYYY-MM-DD, sex, email, phone, address, diagnoses and medications separated by ;, insurance, billingAccount, locationId; and to order a test for the patient, testCode, testName and accessionNumber), or NDJSON (one JSON object per line, the same names; tests as a list). Each row is checked as a single new patient is; a row whose externalPatientId the client already has is a duplicate and changes nothing."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="import-message">{move || message.get()}</p>
        </Show>
        <section class="card" aria-labelledby="import-start-heading">
            <h2 id="import-start-heading">"New import"</h2>
            <form on:submit=start id="import-form">
                <label for="import-client">"Client"</label>
                <select id="import-client" required on:change=move |ev| { client.set(event_target_value(&ev)); location.set(String::new()); }>
                    <option value="">"Choose a client"</option>
                    {move || clients.get().into_iter().map(|c| view! {
                        <option value=c.id.clone()>{format!("{} ({})", c.name, name_of(&c.environment))}</option>
                    }).collect_view()}
                </select>
                <label for="import-location">"Location"</label>
                <select id="import-location" required prop:value=location on:change=move |ev| location.set(event_target_value(&ev))>
                    <option value="">"Choose a location"</option>
                    {locations}
                </select>
                <label for="import-file">"File (.csv, or .ndjson / .jsonl)"</label>
                <input id="import-file" type="file" accept=".csv,.ndjson,.jsonl,.json,text/csv,application/x-ndjson" node_ref=file_input required/>
                <button id="import-submit" type="submit" prop:disabled=busy>{move || if busy.get() { "Uploading…" } else { "Start import" }}</button>
            </form>
        </section>
        {move || current.get().map(|job| {
            let (status, marker) = (job.status.clone(), job.status.clone());
            let running = !finished(&status);
            let (id, url) = (job.id.clone(), job.refused_rows_url.clone());
            let refused = job.duplicates + job.failed;
            let filename = format!("import-{}-refused.csv", job.id);
            view! {
                <section class="card" aria-labelledby="import-job-heading" id="import-job" data-status=marker>
                    <h2 id="import-job-heading">"Import "{status.to_lowercase()}</h2>
                    <label for="import-progress">{format!("{} of {} rows", job.processed, job.total_rows)}</label>
                    <progress id="import-progress" max=job.total_rows.max(1) value=job.processed></progress>
                    <p id="import-counts">{counts(&job)}</p>
                    {job.error.clone().map(|e| view! { <p class="error" id="import-error">{e}</p> })}
                    <div class="row actions">
                        {running.then(|| view! {
                            <button class="danger" id="import-cancel" on:click=move |_| cancel(id.clone())>"Cancel import"</button>
                        })}
                        {(refused > 0).then(|| view! {
                            <button class="secondary" id="import-refused" on:click=move |_| {
                                let (url, filename) = (url.clone(), filename.clone());
                                leptos::task::spawn_local(async move {
                                    if let Err(e) = download(&url, &filename).await {
                                        handle_error(e, set_message);
                                    }
                                });
                            }>"Download refused rows (CSV)"</button>
                        })}
                    </div>
                </section>
            }
        })}
        <section class="card" aria-labelledby="import-jobs-heading">
            <h2 id="import-jobs-heading">"Recent imports"</h2>
            <Show when=move || jobs.get().is_some_and(|j| !j.is_empty())
                fallback=|| view! { <p class="muted" id="no-imports">"No imports yet."</p> }>
                <table id="import-jobs">
                    <thead><tr>
                        <th scope="col">"Started"</th><th scope="col">"Client"</th><th scope="col">"Format"</th>
                        <th scope="col">"Status"</th><th scope="col">"Rows"</th><th scope="col">"Outcome"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
        </section>
    }
}
