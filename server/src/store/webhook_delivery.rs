//! Webhook delivery's rows: the outbox's events fanned out to one message per endpoint, the
//! messages claimed for sending under a lease, and each attempt's outcome.
//!
//! Claims are one `UPDATE … RETURNING` whose inner `SELECT` skips rows another replica has
//! locked (PostgreSQL) and rows under a live lease, so that two replicas never send one
//! message at the same time; a lease that ran out (its holder was killed) lets anyone take
//! the message again. SQLite has one writer, the claim runs under the store's write lock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{client, webhook_attempt, webhook_endpoint, webhook_event, webhook_message};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::webhook_delivery::MessageStatus;
use crate::error::AppResult;

/// Rows per multi-row INSERT: well under either backend's limit of bound values.
const INSERT_CHUNK: usize = 400;

/// Events not yet fanned out, oldest first, with their environment (the client's, or the
/// event's own for records without a client). On PostgreSQL the rows are locked for the
/// caller's transaction and rows another replica holds are skipped.
pub async fn undispatched(
    db: &impl ConnectionTrait,
    limit: u64,
) -> AppResult<Vec<(webhook_event::Model, Option<String>)>> {
    let mut query = webhook_event::Entity::find()
        .filter(webhook_event::Column::DispatchedAt.is_null())
        .order_by_asc(webhook_event::Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let events = query.all(db).await?;
    let mut clients: Vec<Uuid> = events.iter().filter_map(|e| e.client_id).collect();
    clients.sort();
    clients.dedup();
    let envs: HashMap<Uuid, String> = if clients.is_empty() {
        HashMap::new()
    } else {
        client::Entity::find()
            .filter(client::Column::Id.is_in(clients))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.environment))
            .collect()
    };
    Ok(events
        .into_iter()
        .map(|e| {
            let env = e
                .environment
                .clone()
                .or_else(|| e.client_id.and_then(|c| envs.get(&c).cloned()));
            (e, env)
        })
        .collect())
}

/// Whether any event waits to be fanned out: a read, so that the fan-out takes the write lock
/// only when there is something to write.
pub async fn any_undispatched(db: &impl ConnectionTrait) -> AppResult<bool> {
    Ok(webhook_event::Entity::find()
        .select_only()
        .column(webhook_event::Column::Id)
        .filter(webhook_event::Column::DispatchedAt.is_null())
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

/// Marks events fanned out.
pub async fn mark_dispatched(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> AppResult<()> {
    for chunk in ids.chunks(INSERT_CHUNK) {
        webhook_event::Entity::update_many()
            .col_expr(webhook_event::Column::DispatchedAt, Expr::value(at))
            .filter(webhook_event::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// A message to make: one event for one endpoint.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub at: DateTime<Utc>,
}

impl NewMessage {
    fn row(self) -> webhook_message::ActiveModel {
        webhook_message::ActiveModel {
            id: Set(Uuid::now_v7()),
            endpoint_id: Set(self.endpoint_id),
            event_id: Set(self.event_id),
            event_type: Set(self.event_type),
            payload: Set(self.payload),
            status: Set(MessageStatus::Pending.as_str().into()),
            attempts: Set(0),
            next_attempt_at: Set(self.at),
            lease_owner: Set(None),
            lease_until: Set(None),
            created_at: Set(self.at),
            delivered_at: Set(None),
        }
    }
}

pub async fn insert_messages(db: &impl ConnectionTrait, messages: Vec<NewMessage>) -> AppResult<()> {
    let rows: Vec<webhook_message::ActiveModel> =
        messages.into_iter().map(NewMessage::row).collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        webhook_message::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Stores an event already fanned out with its one message (a `webhook.test` ping for one
/// endpoint), and returns the message.
pub async fn insert_direct(
    db: &impl ConnectionTrait,
    event: webhook_event::Model,
    message: NewMessage,
) -> AppResult<webhook_message::Model> {
    use sea_orm::ActiveModelTrait;
    webhook_event::ActiveModel::from(event).insert(db).await?;
    Ok(message.row().insert(db).await?)
}

/// Takes up to `limit` of the endpoint's messages that are due, for `owner` until
/// `lease_until`, and returns them.
pub async fn claim(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<webhook_message::Model>> {
    use webhook_message::Column;
    let backend = db.get_database_backend();
    let free = Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now));
    let mut due = Query::select();
    let enabled = Query::select()
        .column(webhook_endpoint::Column::Id)
        .from(webhook_endpoint::Entity)
        .and_where(webhook_endpoint::Column::Id.eq(endpoint_id))
        .and_where(webhook_endpoint::Column::Enabled.eq(true))
        .to_owned();
    due.column(Column::Id)
        .from(webhook_message::Entity)
        .and_where(Column::EndpointId.eq(endpoint_id))
        // Checked here, not only by the caller, which may hold a list a second old.
        .and_where(Column::EndpointId.in_subquery(enabled))
        .and_where(Column::Status.eq(MessageStatus::Pending.as_str()))
        .and_where(Column::NextAttemptAt.lte(now))
        .cond_where(free.clone())
        .order_by(Column::NextAttemptAt, Order::Asc)
        .limit(limit);
    if backend == DbBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut take = Query::update();
    take.table(webhook_message::Entity)
        .values([
            (Column::LeaseOwner, owner.into()),
            (Column::LeaseUntil, lease_until.into()),
        ])
        .and_where(Column::Id.in_subquery(due))
        // Checked again on the row as it is now: a lease taken since the inner SELECT read
        // it stands.
        .cond_where(free)
        .returning_all();
    let rows = db.query_all_raw(backend.build(&take)).await?;
    Ok(rows
        .iter()
        .map(|r| webhook_message::Model::from_query_result(r, ""))
        .collect::<Result<_, _>>()?)
}

/// When the endpoint's next message not under a lease is due, if it has one pending.
pub async fn next_due(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    use webhook_message::Column;
    let free = Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now));
    Ok(webhook_message::Entity::find()
        .select_only()
        .column(Column::NextAttemptAt)
        .filter(Column::EndpointId.eq(endpoint_id))
        .filter(Column::Status.eq(MessageStatus::Pending.as_str()))
        .filter(free)
        .order_by_asc(Column::NextAttemptAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?)
}

/// What happened to one claimed message.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempt: webhook_attempt::Model,
    /// The message's state after it, and when it is next due if still pending.
    pub status: MessageStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records a batch of outcomes: their attempts and their messages' new states. A message that
/// another replica already delivered (its lease had run out) stays delivered.
pub async fn record(db: &impl ConnectionTrait, outcomes: &[Outcome]) -> AppResult<()> {
    use webhook_message::Column;
    let attempts: Vec<webhook_attempt::ActiveModel> = outcomes
        .iter()
        .map(|o| {
            let a = o.attempt.clone();
            webhook_attempt::ActiveModel {
                id: Set(a.id),
                message_id: Set(a.message_id),
                endpoint_id: Set(a.endpoint_id),
                attempted_at: Set(a.attempted_at),
                http_status: Set(a.http_status),
                latency_ms: Set(a.latency_ms),
                error: Set(a.error),
                response_excerpt: Set(a.response_excerpt),
            }
        })
        .collect();
    for chunk in attempts.chunks(INSERT_CHUNK) {
        webhook_attempt::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    let delivered: Vec<Uuid> = outcomes
        .iter()
        .filter(|o| o.status == MessageStatus::Delivered)
        .map(|o| o.message_id)
        .collect();
    let at = outcomes
        .iter()
        .map(|o| o.attempt.attempted_at)
        .max()
        .unwrap_or_else(Utc::now);
    for chunk in delivered.chunks(INSERT_CHUNK) {
        webhook_message::Entity::update_many()
            .col_expr(Column::Status, Expr::value(MessageStatus::Delivered.as_str()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::DeliveredAt, Expr::value(at))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    let others: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status != MessageStatus::Delivered)
        .collect();
    for o in others {
        let mut update = webhook_message::Entity::update_many()
            .col_expr(Column::Status, Expr::value(o.status.as_str()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None));
        if let Some(next) = o.next_attempt_at {
            update = update.col_expr(Column::NextAttemptAt, Expr::value(next));
        }
        update
            .filter(Column::Id.eq(o.message_id))
            .filter(Column::Status.eq(MessageStatus::Pending.as_str()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Gives back the leases `owner` still holds (a graceful stop): the messages are due again
/// at once, for any replica.
pub async fn release(db: &impl ConnectionTrait, owner: Uuid) -> AppResult<u64> {
    use webhook_message::Column;
    let done = webhook_message::Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(Column::LeaseOwner.eq(owner))
        .filter(Column::Status.eq(MessageStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Makes messages due again now: pending or finished, they are sent once more with the same
/// `webhook-id`. Only the endpoint's; with `since`, every message made since then, else the
/// ones listed.
pub async fn requeue(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
    ids: Option<&[Uuid]>,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    use webhook_message::Column;
    let mut update = webhook_message::Entity::update_many()
        .col_expr(Column::Status, Expr::value(MessageStatus::Pending.as_str()))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .filter(Column::EndpointId.eq(endpoint_id));
    if let Some(ids) = ids {
        update = update.filter(Column::Id.is_in(ids.iter().copied()));
    }
    if let Some(since) = since {
        update = update.filter(Column::CreatedAt.gte(since));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Which messages of an endpoint a delivery log shows.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Older than this message (the page before).
    pub before: Option<Uuid>,
}

/// An endpoint's messages, newest first.
pub async fn messages(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
    filter: &MessageFilter,
    limit: u64,
) -> AppResult<Vec<webhook_message::Model>> {
    use webhook_message::Column;
    let mut query = webhook_message::Entity::find()
        .filter(Column::EndpointId.eq(endpoint_id))
        .order_by_desc(Column::Id)
        .limit(limit);
    if let Some(s) = filter.status {
        query = query.filter(Column::Status.eq(s.as_str()));
    }
    if let Some(t) = &filter.event_type {
        query = query.filter(Column::EventType.eq(t.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(Column::CreatedAt.lt(until));
    }
    if let Some(before) = filter.before {
        query = query.filter(Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}

pub async fn find_message(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<webhook_message::Model>> {
    Ok(webhook_message::Entity::find_by_id(id).one(db).await?)
}

/// The attempts of the messages, oldest first.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    message_ids: &[Uuid],
) -> AppResult<Vec<webhook_attempt::Model>> {
    if message_ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::MessageId.is_in(message_ids.iter().copied()))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?)
}
