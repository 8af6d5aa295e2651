//! New rows for the tables that create them in code (patients, tests): each gets a new
//! time-ordered id, one at a time (API writes) or in bulk (bench and demo loads).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::AppResult;

/// One row built by `row` with a new id, returned with it so that the audit event of the write
/// can name the row before it is stored.
pub(super) fn with_new_id<N, A>(new: N, row: fn(Uuid, N, DateTime<Utc>) -> A) -> (Uuid, A) {
    let id = Uuid::now_v7();
    (id, row(id, new, Utc::now()))
}

/// Inserts `batch` in one statement, each row built by `row` with a new time-ordered id and
/// one shared timestamp; returns the ids in order. The caller keeps the batch under the
/// backend's bound-parameter limit (~500 rows).
pub(super) async fn insert_with_ids<N, A>(
    db: &impl ConnectionTrait,
    batch: Vec<N>,
    row: fn(Uuid, N, DateTime<Utc>) -> A,
) -> AppResult<Vec<Uuid>>
where
    A: ActiveModelTrait + Send,
{
    let now = Utc::now();
    let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
    let rows: Vec<A> = ids
        .iter()
        .zip(batch)
        .map(|(id, new)| row(*id, new, now))
        .collect();
    if !rows.is_empty() {
        A::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(ids)
}
