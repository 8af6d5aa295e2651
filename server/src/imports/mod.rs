//! Batch imports of patients: the upload is cut into chunks as it arrives (`upload`), and a
//! worker imports them batch by batch (`run`), with what the credential that started the job
//! could do then, and only while it still may. Every replica runs a worker; a database lease
//! gives each job to one of them at a time, and a job whose worker died is taken up by another
//! (or by the restarted server) once its lease runs out.

pub mod upload;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::import_job::Model as Job;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::access::patients::new_patient;
use crate::domain::actor::{ActorKind, Who};
use crate::domain::csv::records;
use crate::domain::partner_app::AppStatus;
use crate::domain::patient_import::{
    CsvHeader, ImportAuthority, ImportFormat, ImportStatus, Refusal, RefusalCode, read_row,
};
use crate::error::{AppError, AppResult, Unique};
use crate::store::audit::{NewAuditEvent, RecordIds};
use crate::store::imports::{self, Applied, Batch};
use crate::store::{Store, admins, api_keys, clients, partner_apps};

/// The audit trail's actor as kept with a job.
pub fn who_to_stored(who: &Who) -> String {
    serde_json::json!({
        "kind": who.kind.as_str(),
        "id": who.id,
        "label": who.label,
        "role": who.role.map(|r| r.as_str()),
        "onBehalfOf": who.on_behalf_of,
    })
    .to_string()
}

pub fn who_from_stored(raw: &str) -> Who {
    let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let uuid = |k: &str| v[k].as_str().and_then(|s| Uuid::parse_str(s).ok());
    Who {
        kind: ActorKind::from_stored(v["kind"].as_str().unwrap_or_default()),
        id: uuid("id"),
        label: v["label"].as_str().unwrap_or_default().to_owned(),
        role: v["role"].as_str().and_then(|r| r.parse().ok()),
        on_behalf_of: uuid("onBehalfOf"),
    }
}

/// Runs import jobs until the task is dropped: waits for a queued job (or a job whose worker
/// stopped), imports it, and looks again.
pub async fn run(store: Store, lease: Duration) {
    let owner = Uuid::now_v7();
    let queued: Arc<Notify> = store.imports_queued();
    // An upload counts as interrupted only once its lease ran out: looking more often than
    // that finds nothing new.
    let mut stalled_checked: Option<std::time::Instant> = None;
    loop {
        if stalled_checked.is_none_or(|at| at.elapsed() >= lease) {
            stalled_checked = Some(std::time::Instant::now());
            if let Err(e) = end_stalled_uploads(&store).await {
                tracing::warn!(error = %e.message(), "looking for interrupted import uploads");
            }
        }
        match claim(&store, owner, lease).await {
            Ok(Some(job)) => {
                let id = job.id;
                if let Err(e) = run_job(&store, owner, lease, job).await {
                    tracing::warn!(job = %id, error = %e.message(), "import job interrupted; it will be taken up again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.message(), "claiming an import job"),
        }
        // A lease that ran out is noticed within a second.
        let _ = tokio::time::timeout(Duration::from_secs(1), queued.notified()).await;
    }
}

async fn claim(store: &Store, owner: Uuid, lease: Duration) -> AppResult<Option<Job>> {
    let now = Utc::now();
    imports::claim(store, owner, now, now + chrono_of(lease)).await
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(30))
}

async fn end_stalled_uploads(store: &Store) -> AppResult<()> {
    for id in imports::stalled_uploads(store.conn(), Utc::now()).await? {
        imports::end(
            store,
            id,
            ImportStatus::Failed,
            Some("the upload was interrupted before it ended; nothing was imported: upload the file again"),
        )
        .await?;
    }
    Ok(())
}

/// Whether the credential (or portal user) that started a job may still act: a revoked key
/// stops its import at the next batch.
async fn may_still_act(store: &Store, who: &Who) -> AppResult<bool> {
    let db = store.conn();
    let Some(id) = who.id else { return Ok(false) };
    Ok(match who.kind {
        ActorKind::ApiKey => api_keys::find(db, id).await?.is_some_and(|k| {
            k.revoked_at.is_none() && k.expires_at.is_none_or(|at| at > Utc::now())
        }),
        ActorKind::Admin => admins::find_user(db, id).await?.is_some(),
        ActorKind::PartnerApp => partner_apps::find(db, id)
            .await?
            .is_some_and(|a| a.status == AppStatus::Active.as_str()),
        ActorKind::Anonymous | ActorKind::ServiceConnection => false,
    })
}

/// Imports a job's batches from its cursor on. Returns early, without error, when the job is
/// no longer this worker's (cancelled, ended); an error leaves the job to be taken up again.
async fn run_job(store: &Store, owner: Uuid, lease: Duration, job: Job) -> AppResult<()> {
    let who = who_from_stored(&job.actor);
    let authority = ImportAuthority::from_stored(&job.authority);
    let format: ImportFormat = job.format.parse().unwrap_or(ImportFormat::Ndjson);
    let header = match (&job.header, format) {
        (Some(h), ImportFormat::Csv) => Some(CsvHeader::parse(h).map_err(AppError::from)?),
        _ => None,
    };
    // The client's locations the credential reaches: where a row may name another location.
    let locations: Vec<Uuid> = clients::list_locations(store.conn(), &[job.client_id])
        .await?
        .into_iter()
        .map(|l| l.id)
        .filter(|l| authority.locations.as_ref().is_none_or(|a| a.contains(l)))
        .collect();
    for seq in job.next_chunk..job.chunks {
        if !may_still_act(store, &who).await? {
            imports::end(
                store,
                job.id,
                ImportStatus::Failed,
                Some("the credential that started the import was revoked or expired; the rows imported until then stay"),
            )
            .await?;
            return Ok(());
        }
        let Some((first_line, text)) = imports::chunk(store, job.id, seq).await? else {
            // Dropped by a cancel; were the job still running, its upload would be lost.
            if imports::find(store.conn(), job.id)
                .await?
                .is_some_and(|j| ImportStatus::from(&j) == ImportStatus::Running)
            {
                imports::end(
                    store,
                    job.id,
                    ImportStatus::Failed,
                    Some("part of the upload is missing; upload the file again"),
                )
                .await?;
            }
            return Ok(());
        };
        let mut batch = Batch {
            job_id: job.id,
            client_id: job.client_id,
            owner,
            seq,
            last: seq + 1 == job.chunks,
            rows: 0,
            patients: Vec::new(),
            refusals: Vec::new(),
            lease_until: Utc::now() + chrono_of(lease),
            event: NewAuditEvent {
                occurred_at: Utc::now(),
                who: who.clone(),
                action: "CREATE".into(),
                operation: "importPatients".into(),
                operation_name: None,
                record_type: "patient".into(),
                record_ids: RecordIds::Ids(vec![]),
                fields: vec![],
                ip: job.ip.clone(),
            },
        };
        let mut fields = BTreeSet::new();
        for (line, record) in records(&text, format.quoted(), first_line) {
            batch.rows += 1;
            match read_row(line, record, header.as_ref(), &authority) {
                Ok(row) => {
                    let location = row.location_id.unwrap_or(job.location_id);
                    if row.location_id.is_some() && !locations.contains(&location) {
                        batch.refusals.push(Refusal {
                            line,
                            code: RefusalCode::InvalidInput,
                            field: Some("locationId".into()),
                            message: "no such location for this client".into(),
                        });
                        continue;
                    }
                    fields.extend(row.write.field_names());
                    let (patient, _) = new_patient(job.client_id, location, row.write);
                    batch.patients.push((line, patient, row.tests));
                }
                Err(refusal) => batch.refusals.push(refusal),
            }
        }
        batch.event.fields = fields.into_iter().collect();
        if apply(store, batch).await? == Applied::Stopped {
            return Ok(());
        }
    }
    Ok(())
}

/// Commits a batch; a patient (or a test) created meanwhile by another request with an
/// external id (an accession number) of the batch (PostgreSQL, between the duplicate check and
/// the insert) fails the batch, which is then checked and applied once more.
async fn apply(store: &Store, batch: Batch) -> AppResult<Applied> {
    let again = batch.clone();
    match imports::apply(store, batch).await {
        Err(AppError::Duplicate(Unique::PatientExternalId | Unique::TestAccession)) => {
            imports::apply(store, again).await
        }
        other => other,
    }
}
