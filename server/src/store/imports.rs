//! Batch imports (`import_jobs`, `import_chunks`, `import_refusals`). A job's upload is kept as
//! sealed chunks of whole records, one batch each; a batch's patients, its refused rows, its
//! audit event, the job's cursor and counts, and the removal of its chunk commit together, so
//! a job stopped anywhere (`kill -9` included) resumes at the first batch not committed, and
//! no row is imported twice or skipped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{import_chunk, import_job, import_refusal};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::audit::{NewAuditEvent, RecordIds};
use super::lab_tests::{self, NewTest};
use super::patients::{self, NewPatient};
use super::{Effect, Effects, Store, sealed};
use crate::domain::environment::Environment;
use crate::domain::patient_import::{BATCH_ROWS, ImportStatus, Refusal, RefusalCode, RowTest};
use crate::error::{AppResult, Unique};

use import_job::{Column, Entity, Model};

/// A job as it starts receiving its upload.
pub struct NewJob {
    pub id: Uuid,
    pub environment: String,
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub format: String,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor: String,
    pub authority: String,
    pub ip: Option<String>,
    pub header: Option<String>,
    /// The replica receiving the upload, until `lease_until` (renewed with each chunk).
    pub receiver: Uuid,
    pub lease_until: DateTime<Utc>,
}

pub async fn create(db: &impl ConnectionTrait, new: NewJob) -> AppResult<Model> {
    let now = Utc::now();
    Ok(import_job::ActiveModel {
        id: Set(new.id),
        environment: Set(new.environment),
        client_id: Set(new.client_id),
        location_id: Set(new.location_id),
        format: Set(new.format),
        status: Set(ImportStatus::Receiving.as_str().into()),
        actor_kind: Set(new.actor_kind),
        actor_id: Set(new.actor_id),
        actor: Set(new.actor),
        authority: Set(new.authority),
        ip: Set(new.ip),
        header: Set(new.header),
        total_rows: Set(0),
        processed: Set(0),
        created: Set(0),
        duplicates: Set(0),
        failed: Set(0),
        tests_created: Set(0),
        next_chunk: Set(0),
        chunks: Set(0),
        error: Set(None),
        lease_owner: Set(Some(new.receiver)),
        lease_until: Set(Some(new.lease_until)),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Keeps one chunk of a job's upload (`rows` records from line `first_line`), sealed. False
/// when the job is no longer receiving (cancelled meanwhile): the upload should stop.
pub async fn add_chunk(
    store: &Store,
    job_id: Uuid,
    seq: i32,
    first_line: i32,
    rows: i32,
    data: &str,
    lease_until: DateTime<Utc>,
) -> AppResult<bool> {
    let id = Uuid::now_v7();
    let sealed = sealed::seal(store.keyring(), sealed::IMPORT_UPLOAD, id, data)?;
    let txn = store.begin_write().await?;
    unflushed(&txn.txn).await?;
    let renewed = Entity::update_many()
        .col_expr(Column::LeaseUntil, Some(lease_until).into())
        .col_expr(Column::UpdatedAt, Utc::now().into())
        .filter(Column::Id.eq(job_id))
        .filter(Column::Status.eq(ImportStatus::Receiving.as_str()))
        .exec(&txn.txn)
        .await?;
    if renewed.rows_affected != 1 {
        return Ok(false);
    }
    import_chunk::ActiveModel {
        id: Set(id),
        job_id: Set(job_id),
        seq: Set(seq),
        first_line: Set(first_line),
        rows: Set(rows),
        data: Set(sealed.text),
        key_id: Set(Some(sealed.key_id)),
    }
    .insert(&txn.txn)
    .await?;
    txn.commit(Effects::none()).await?;
    Ok(true)
}

/// On PostgreSQL, this transaction's commit does not wait for its WAL to reach the disk
/// (`synchronous_commit = off`, for this transaction only). Safe here: the WAL is written in
/// order, so the upload's last commit (`queue`, flushed) makes every chunk before it durable;
/// and a batch lost to a database crash is lost whole, with the cursor that counted it, so it
/// is imported again. What it saves is a disk flush per chunk and per batch, which under
/// write-back pressure cost up to a second each. (SQLite's WAL commits do not flush.)
async fn unflushed(txn: &sea_orm::DatabaseTransaction) -> AppResult<()> {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
            .await?;
    }
    Ok(())
}

/// Ends a job's upload: it waits for a worker. None if it was cancelled meanwhile.
pub async fn queue(
    store: &Store,
    job_id: Uuid,
    total_rows: i32,
    chunks: i32,
) -> AppResult<Option<Model>> {
    let txn = store.begin_write().await?;
    let mut update = Entity::update_many()
        .col_expr(Column::TotalRows, total_rows.into())
        .col_expr(Column::Chunks, chunks.into())
        .col_expr(Column::LeaseOwner, Option::<Uuid>::None.into())
        .col_expr(Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
        .col_expr(Column::UpdatedAt, Utc::now().into());
    // An upload without rows has nothing left to do.
    update = if chunks == 0 {
        update
            .col_expr(Column::Status, ImportStatus::Completed.as_str().into())
            .col_expr(Column::FinishedAt, Some(Utc::now()).into())
    } else {
        update.col_expr(Column::Status, ImportStatus::Queued.as_str().into())
    };
    let done = update
        .filter(Column::Id.eq(job_id))
        .filter(Column::Status.eq(ImportStatus::Receiving.as_str()))
        .exec(&txn.txn)
        .await?;
    let job = Entity::find_by_id(job_id).one(&txn.txn).await?;
    txn.commit(Effects::none()).await?;
    store.imports_queued().notify_one();
    Ok(job.filter(|_| done.rows_affected == 1))
}

/// Ends a job for good with `status` (FAILED with the reason, or CANCELLED) unless it has
/// ended already, and drops what is left of its upload. True if this ended it.
pub async fn end(
    store: &Store,
    job_id: Uuid,
    status: ImportStatus,
    error: Option<&str>,
) -> AppResult<bool> {
    let txn = store.begin_write().await?;
    let now = Utc::now();
    let done = Entity::update_many()
        .col_expr(Column::Status, status.as_str().into())
        .col_expr(Column::Error, error.map(str::to_owned).into())
        .col_expr(Column::LeaseOwner, Option::<Uuid>::None.into())
        .col_expr(Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
        .col_expr(Column::FinishedAt, Some(now).into())
        .col_expr(Column::UpdatedAt, now.into())
        .filter(Column::Id.eq(job_id))
        .filter(Column::Status.is_in(unfinished()))
        .exec(&txn.txn)
        .await?;
    if done.rows_affected == 1 {
        import_chunk::Entity::delete_many()
            .filter(import_chunk::Column::JobId.eq(job_id))
            .exec(&txn.txn)
            .await?;
    }
    txn.commit(Effects::none()).await?;
    Ok(done.rows_affected == 1)
}

fn unfinished() -> [&'static str; 3] {
    [
        ImportStatus::Receiving.as_str(),
        ImportStatus::Queued.as_str(),
        ImportStatus::Running.as_str(),
    ]
}

/// Uploads whose receiver stopped renewing (it died mid-upload): they can never complete.
pub async fn stalled_uploads(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(ImportStatus::Receiving.as_str()))
        .filter(Column::LeaseUntil.lt(now))
        .into_tuple()
        .all(db)
        .await?)
}

/// Takes the oldest job that is waiting, or whose worker stopped renewing its lease (or that
/// `owner` holds already), for `owner` until `lease_until`. One worker holds a job at a time, on any replica.
pub async fn claim(
    store: &Store,
    owner: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Option<Model>> {
    let free = || {
        sea_orm::Condition::all()
            .add(Column::Status.is_in([
                ImportStatus::Queued.as_str(),
                ImportStatus::Running.as_str(),
            ]))
            .add(
                sea_orm::Condition::any()
                    .add(Column::LeaseUntil.is_null())
                    .add(Column::LeaseUntil.lt(now))
                    // Its own job, after an error cut its run short.
                    .add(Column::LeaseOwner.eq(owner)),
            )
    };
    let candidates: Vec<Uuid> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(free())
        .order_by_asc(Column::CreatedAt)
        .limit(4)
        .into_tuple()
        .all(store.conn())
        .await?;
    for id in candidates {
        let txn = store.begin_write().await?;
        let taken = Entity::update_many()
            .col_expr(Column::Status, ImportStatus::Running.as_str().into())
            .col_expr(Column::LeaseOwner, Some(owner).into())
            .col_expr(Column::LeaseUntil, Some(lease_until).into())
            .col_expr(Column::StartedAt, Expr::col(Column::StartedAt).if_null(now))
            .col_expr(Column::UpdatedAt, now.into())
            .filter(Column::Id.eq(id))
            .filter(free())
            .exec(&txn.txn)
            .await?;
        let job = Entity::find_by_id(id).one(&txn.txn).await?;
        txn.commit(Effects::none()).await?;
        if taken.rows_affected == 1 {
            return Ok(job);
        }
    }
    Ok(None)
}

/// The text of chunk `seq` of a job (and the line it starts on), opened; none once imported
/// or dropped.
pub async fn chunk(store: &Store, job_id: Uuid, seq: i32) -> AppResult<Option<(u32, String)>> {
    let Some(row) = import_chunk::Entity::find()
        .filter(import_chunk::Column::JobId.eq(job_id))
        .filter(import_chunk::Column::Seq.eq(seq))
        .one(store.conn())
        .await?
    else {
        return Ok(None);
    };
    let data = sealed::open(
        store.keyring(),
        sealed::IMPORT_UPLOAD,
        row.id,
        &row.data,
        row.key_id.as_deref(),
    )?;
    Ok(Some((u32::try_from(row.first_line).unwrap_or(0), data)))
}

/// One batch, as read: the patients to create (with their lines and the tests ordered for
/// them) and the rows refused.
#[derive(Clone)]
pub struct Batch {
    pub job_id: Uuid,
    pub client_id: Uuid,
    pub owner: Uuid,
    pub seq: i32,
    pub last: bool,
    pub rows: i32,
    pub patients: Vec<(u32, NewPatient, Vec<RowTest>)>,
    pub refusals: Vec<Refusal>,
    pub lease_until: DateTime<Utc>,
    /// The batch's audit event; its records are the patients created (and, in a copy, the
    /// tests).
    pub event: NewAuditEvent,
}

/// What committing a batch did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Done {
        created: usize,
        duplicates: usize,
    },
    /// The job is no longer this worker's to run (cancelled, or its lease was lost): nothing
    /// of the batch was written.
    Stopped,
}

/// Commits a batch (see the module's note). A patient whose `externalPatientId` the client
/// already has, or an earlier row of the batch has, is refused as a duplicate, as
/// `createPatient` would refuse it.
pub async fn apply(store: &Store, mut batch: Batch) -> AppResult<Applied> {
    let txn = store.begin_write().await?;
    if !batch.last {
        unflushed(&txn.txn).await?;
    }
    let externals: Vec<&str> = batch
        .patients
        .iter()
        .filter_map(|(_, p, _)| p.external_patient_id.as_deref())
        .collect();
    let mut taken: HashSet<String> = if externals.is_empty() {
        HashSet::new()
    } else {
        patients::existing_external_ids(&txn.txn, batch.client_id, &externals)
            .await?
            .into_iter()
            .collect()
    };
    let accessions: Vec<&str> = batch
        .patients
        .iter()
        .flat_map(|(_, _, tests)| tests.iter().map(|t| t.accession_number.as_str()))
        .collect();
    let mut ordered: HashSet<String> = if accessions.is_empty() {
        HashSet::new()
    } else {
        lab_tests::existing_accessions(&txn.txn, batch.client_id, &accessions)
            .await?
            .into_iter()
            .collect()
    };
    // A row is taken whole or refused whole: its patient and all its tests.
    let mut fresh = Vec::with_capacity(batch.patients.len());
    let mut fresh_tests = Vec::with_capacity(batch.patients.len());
    for (line, patient, tests) in std::mem::take(&mut batch.patients) {
        if let Some(ext) = &patient.external_patient_id
            && taken.contains(ext)
        {
            batch.refusals.push(Refusal {
                line,
                code: RefusalCode::DuplicatePatient,
                field: Some("externalPatientId".into()),
                message: Unique::PatientExternalId.message().into(),
            });
            continue;
        }
        if let Some(i) = tests
            .iter()
            .position(|t| ordered.contains(&t.accession_number))
        {
            batch.refusals.push(Refusal {
                line,
                code: RefusalCode::DuplicateTest,
                field: Some(format!("tests[{i}].accessionNumber")),
                message: Unique::TestAccession.message().into(),
            });
            continue;
        }
        if let Some(ext) = &patient.external_patient_id {
            taken.insert(ext.clone());
        }
        ordered.extend(tests.iter().map(|t| t.accession_number.clone()));
        fresh_tests.push((patient.client_id, patient.location_id, tests));
        fresh.push(patient);
    }
    let created = fresh.len();
    let duplicates = batch
        .refusals
        .iter()
        .filter(|r| r.code == RefusalCode::DuplicatePatient)
        .count();
    let failed = batch.refusals.len() - duplicates;
    let ids = patients::insert_many(&txn.txn, fresh).await?;
    let now = Utc::now();
    let tests: Vec<NewTest> = ids
        .iter()
        .zip(fresh_tests)
        .flat_map(|(patient_id, (client_id, location_id, tests))| {
            tests.into_iter().map(move |t| NewTest {
                patient_id: *patient_id,
                client_id,
                location_id,
                test_code: t.test_code,
                test_name: t.test_name,
                accession_number: t.accession_number,
                ordered_at: now,
            })
        })
        .collect();
    let mut test_ids = Vec::with_capacity(tests.len());
    let mut tests = tests.into_iter().peekable();
    while tests.peek().is_some() {
        // Under both backends' bound-parameter limits (a test is 15 values).
        let chunk: Vec<NewTest> = tests.by_ref().take(BATCH_ROWS).collect();
        test_ids.extend(lab_tests::insert_many(&txn.txn, chunk).await?);
    }
    if !batch.refusals.is_empty() {
        import_refusal::Entity::insert_many(batch.refusals.iter().map(|r| {
            import_refusal::ActiveModel {
                job_id: Set(batch.job_id),
                line: Set(r.line as i32),
                code: Set(r.code.as_str().into()),
                field: Set(r.field.clone()),
                message: Set(r.message.clone()),
            }
        }))
        .exec(&txn.txn)
        .await?;
    }
    let mut cursor = Entity::update_many()
        .col_expr(Column::NextChunk, (batch.seq + 1).into())
        .col_expr(
            Column::Processed,
            Expr::col(Column::Processed).add(batch.rows),
        )
        .col_expr(
            Column::Created,
            Expr::col(Column::Created).add(created as i32),
        )
        .col_expr(
            Column::Duplicates,
            Expr::col(Column::Duplicates).add(duplicates as i32),
        )
        .col_expr(Column::Failed, Expr::col(Column::Failed).add(failed as i32))
        .col_expr(
            Column::TestsCreated,
            Expr::col(Column::TestsCreated).add(test_ids.len() as i32),
        )
        .col_expr(Column::UpdatedAt, now.into());
    cursor = if batch.last {
        cursor
            .col_expr(Column::Status, ImportStatus::Completed.as_str().into())
            .col_expr(Column::FinishedAt, Some(now).into())
            .col_expr(Column::LeaseOwner, Option::<Uuid>::None.into())
            .col_expr(Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
    } else {
        cursor.col_expr(Column::LeaseUntil, Some(batch.lease_until).into())
    };
    let moved = cursor
        .filter(Column::Id.eq(batch.job_id))
        .filter(Column::Status.eq(ImportStatus::Running.as_str()))
        .filter(Column::LeaseOwner.eq(batch.owner))
        .filter(Column::NextChunk.eq(batch.seq))
        .exec(&txn.txn)
        .await?;
    if moved.rows_affected != 1 {
        // Dropping the transaction rolls the batch back.
        return Ok(Applied::Stopped);
    }
    import_chunk::Entity::delete_many()
        .filter(import_chunk::Column::JobId.eq(batch.job_id))
        .filter(import_chunk::Column::Seq.eq(batch.seq))
        .exec(&txn.txn)
        .await?;
    let tests_event = (!test_ids.is_empty()).then(|| NewAuditEvent {
        record_type: "test".into(),
        record_ids: RecordIds::Ids(test_ids),
        fields: vec![],
        ..batch.event.clone()
    });
    let mut effects = if ids.is_empty() {
        Effects::none()
    } else {
        batch.event.record_ids = RecordIds::Ids(ids);
        Effects::audited(batch.event)
    };
    if let Some(event) = tests_event {
        effects = effects.and(Effect::Audit(event));
    }
    txn.commit(effects).await?;
    Ok(Applied::Done {
        created,
        duplicates,
    })
}

/// Keeps the job `owner`'s for longer (between batches that take a while).
pub async fn renew(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    owner: Uuid,
    lease_until: DateTime<Utc>,
) -> AppResult<bool> {
    let done = Entity::update_many()
        .col_expr(Column::LeaseUntil, Some(lease_until).into())
        .filter(Column::Id.eq(job_id))
        .filter(Column::LeaseOwner.eq(owner))
        .filter(Column::Status.eq(ImportStatus::Running.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Newest first; `actor`: only the jobs this credential or user started.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: Option<Uuid>,
    environment: Option<Environment>,
    first: u64,
) -> AppResult<Vec<Model>> {
    let mut query = Entity::find();
    if let Some(actor) = actor {
        query = query.filter(Column::ActorId.eq(actor));
    }
    if let Some(env) = environment {
        query = query.filter(Column::Environment.eq(env.as_str()));
    }
    Ok(query
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(first)
        .all(db)
        .await?)
}

/// Refused rows of a job in line order, after line `after`.
pub async fn refusals(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    after: i32,
    first: u64,
) -> AppResult<Vec<import_refusal::Model>> {
    Ok(import_refusal::Entity::find()
        .filter(import_refusal::Column::JobId.eq(job_id))
        .filter(import_refusal::Column::Line.gt(after))
        .order_by_asc(import_refusal::Column::Line)
        .limit(first)
        .all(db)
        .await?)
}

impl From<&Model> for ImportStatus {
    fn from(job: &Model) -> Self {
        job.status.parse().unwrap_or(ImportStatus::Failed)
    }
}
