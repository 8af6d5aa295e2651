//! Polling of LAB connections (`service_polls`): each connection's schedule, its feed's
//! cursor, and the lease a replica holds while it polls. A poll is claimed by one conditional
//! update (free: no lease, or a lapsed one), its cursor moves only while the lease is still
//! the poller's, and its end releases the lease with the next due time.

use chrono::{DateTime, Utc};
use entity::service_poll::{self, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::{Effects, Store};
use crate::error::AppResult;

/// A connection's polling as an administrator sets it.
pub struct Setting {
    pub every_seconds: Option<i32>,
    pub cron: Option<String>,
    pub path: String,
    pub enabled: bool,
}

pub async fn find(db: &impl ConnectionTrait, connection_id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(connection_id).one(db).await?)
}

/// Sets a connection's polling (its cursor and lease, if any, stay), due at `next_at`.
pub async fn set(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    setting: Setting,
    next_at: DateTime<Utc>,
) -> AppResult<Model> {
    let now = Utc::now();
    let row = match find(db, connection_id).await? {
        Some(row) => {
            let mut row: service_poll::ActiveModel = row.into();
            row.every_seconds = Set(setting.every_seconds);
            row.cron = Set(setting.cron);
            row.path = Set(setting.path);
            row.enabled = Set(setting.enabled);
            row.next_at = Set(next_at);
            row.failures = Set(0);
            row.updated_at = Set(now);
            row.update(db).await?
        }
        None => {
            service_poll::ActiveModel {
                connection_id: Set(connection_id),
                every_seconds: Set(setting.every_seconds),
                cron: Set(setting.cron),
                path: Set(setting.path),
                enabled: Set(setting.enabled),
                cursor: Set(None),
                next_at: Set(next_at),
                failures: Set(0),
                last_polled_at: Set(None),
                last_outcome: Set(None),
                last_message: Set(None),
                lease_owner: Set(None),
                lease_until: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?
        }
    };
    Ok(row)
}

/// Forgets a connection's polling (with the connection).
pub async fn remove(db: &impl ConnectionTrait, connection_id: Uuid) -> AppResult<()> {
    Entity::delete_by_id(connection_id).exec(db).await?;
    Ok(())
}

/// No poll holds the row (or its poller's lease ran out).
fn free(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now))
}

/// Takes the lease of `connection_id`'s polling if no one holds it: the row as taken.
pub async fn claim(
    store: &Store,
    connection_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Option<Model>> {
    let txn = store.begin_write().await?;
    let taken = Entity::update_many()
        .col_expr(Column::LeaseOwner, Some(owner).into())
        .col_expr(Column::LeaseUntil, Some(lease_until).into())
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(free(now))
        .exec(&txn.txn)
        .await?;
    let row = find(&txn.txn, connection_id).await?;
    txn.commit(Effects::none()).await?;
    Ok(row.filter(|_| taken.rows_affected == 1))
}

/// Takes the lease of one connection whose scheduled poll is due, the longest overdue first.
pub async fn claim_due(
    store: &Store,
    owner: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Option<Model>> {
    let due: Vec<Uuid> = Entity::find()
        .select_only()
        .column(Column::ConnectionId)
        .filter(Column::Enabled.eq(true))
        .filter(Column::NextAt.lte(now))
        .filter(free(now))
        .order_by_asc(Column::NextAt)
        .limit(4)
        .into_tuple()
        .all(store.conn())
        .await?;
    for id in due {
        if let Some(row) = claim(store, id, owner, now, lease_until).await? {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// Moves the feed's cursor past a page whose messages are all kept, and renews the lease;
/// false if the lease is no longer `owner`'s (another replica polls now: stop).
pub async fn advance(
    store: &Store,
    connection_id: Uuid,
    owner: Uuid,
    cursor: Option<&str>,
    lease_until: DateTime<Utc>,
) -> AppResult<bool> {
    let txn = store.begin_write().await?;
    let mut update = Entity::update_many()
        .col_expr(Column::LeaseUntil, Some(lease_until).into())
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::LeaseOwner.eq(owner));
    if let Some(cursor) = cursor {
        update = update.col_expr(Column::Cursor, Some(cursor.to_owned()).into());
    }
    let done = update.exec(&txn.txn).await?;
    txn.commit(Effects::none()).await?;
    Ok(done.rows_affected == 1)
}

/// How a poll ended.
pub struct Finish<'a> {
    pub next_at: DateTime<Utc>,
    pub failures: i32,
    pub outcome: &'a str,
    pub message: &'a str,
    pub at: DateTime<Utc>,
}

/// Records the end of `owner`'s poll and releases its lease, in the caller's transaction.
pub async fn finish(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    owner: Uuid,
    end: Finish<'_>,
) -> AppResult<bool> {
    let done = Entity::update_many()
        .col_expr(Column::NextAt, end.next_at.into())
        .col_expr(Column::Failures, end.failures.into())
        .col_expr(Column::LastPolledAt, Some(end.at).into())
        .col_expr(Column::LastOutcome, Some(end.outcome.to_owned()).into())
        .col_expr(Column::LastMessage, Some(end.message.to_owned()).into())
        .col_expr(Column::LeaseOwner, Option::<Uuid>::None.into())
        .col_expr(Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Releases `owner`'s lease without a poll (the connection is off), due again at `next_at`.
pub async fn skip(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    owner: Uuid,
    next_at: DateTime<Utc>,
) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::NextAt, next_at.into())
        .col_expr(Column::LeaseOwner, Option::<Uuid>::None.into())
        .col_expr(Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}
