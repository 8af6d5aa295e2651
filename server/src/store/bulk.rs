//! Bulk inserts shared by the tables that take them (bench and demo loads).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::AppResult;

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
