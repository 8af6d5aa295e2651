//! Webhook delivery's rows: the outbox's events fanned out to one message per endpoint, the
//! messages claimed for sending under a lease, and each attempt's outcome.
//!
//! Claims are one `UPDATE … RETURNING` whose inner `SELECT` skips rows another replica has
//! locked (PostgreSQL) and rows under a live lease, so that two replicas never send one
//! message at the same time; a lease that ran out (its holder was killed) lets anyone take
//! the message again. SQLite has one writer: there the claim is a job of the group commit.

use chrono::{DateTime, Utc};
use entity::{webhook_attempt, webhook_endpoint, webhook_event, webhook_message};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, QueryTrait, Set, Statement,
};
use uuid::Uuid;

use crate::domain::webhook_delivery::MessageStatus;
use crate::error::AppResult;

/// Rows per multi-row INSERT: well under either backend's limit of bound values.
const INSERT_CHUNK: usize = 400;

/// How far fan-out has read the outbox: a place in commit order
/// (`migration::m20261201_000001_webhook_delivery`).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Position {
    /// PostgreSQL: the writing transaction's id (as text); SQLite: unused.
    pub txid: String,
    /// PostgreSQL: the event's sequence number; SQLite: its rowid.
    pub seq: i64,
}

fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// The position, locked for the caller's transaction. `None` on PostgreSQL when another
/// replica holds it: that one is fanning out.
pub async fn lock_position(db: &impl ConnectionTrait) -> AppResult<Option<Position>> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT txid, seq FROM webhook_dispatch WHERE id = 1 FOR UPDATE SKIP LOCKED"
        }
        _ => "SELECT txid, seq FROM webhook_dispatch WHERE id = 1",
    };
    Ok(Position::find_by_statement(statement(db, sql, vec![]))
        .one(db)
        .await?)
}

/// Moves the position to `to`.
pub fn set_position(backend: DbBackend, to: &Position) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => "UPDATE webhook_dispatch SET txid = $1, seq = $2 WHERE id = 1",
        _ => "UPDATE webhook_dispatch SET txid = ?, seq = ? WHERE id = 1",
    };
    Statement::from_sql_and_values(backend, sql, vec![to.txid.clone().into(), to.seq.into()])
}

/// Whether any event lies after the position (a read without locks, so that fan-out takes
/// the write lock only when there is something to write). On PostgreSQL it may find events
/// that cannot be fanned out yet (an older transaction still runs).
pub async fn any_after_position(db: &impl ConnectionTrait) -> AppResult<bool> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            // The position as two values computed first, and the order: then the index
            // finds the first event after it (joined to the position row, or without the
            // order, the planner scanned every event).
            "SELECT e.id FROM webhook_events e \
             WHERE (e.txid, e.seq) > ((SELECT txid::xid8 FROM webhook_dispatch WHERE id = 1), (SELECT seq FROM webhook_dispatch WHERE id = 1)) \
             ORDER BY e.txid, e.seq LIMIT 1"
        }
        _ => {
            "SELECT id FROM webhook_events WHERE rowid > (SELECT seq FROM webhook_dispatch WHERE id = 1) LIMIT 1"
        }
    };
    Ok(db
        .query_one_raw(statement(db, sql, vec![]))
        .await?
        .is_some())
}

/// An event read for fan-out, with its environment (the client's, or the event's own for
/// records without a client) and its position.
#[derive(Clone, Debug, FromQueryResult)]
struct Row {
    id: Uuid,
    event_type: String,
    record_type: String,
    record_id: Option<Uuid>,
    client_id: Option<Uuid>,
    location_id: Option<Uuid>,
    fields: String,
    occurred_at: DateTime<Utc>,
    environment: Option<String>,
    pos_txid: String,
    pos_seq: i64,
}

/// Up to `limit` events after `from`, in commit order: on PostgreSQL only those no running
/// transaction can precede.
pub async fn events_after(
    db: &impl ConnectionTrait,
    from: &Position,
    limit: u64,
) -> AppResult<Vec<(webhook_event::Model, Option<String>, Position)>> {
    const COLUMNS: &str = "e.id, e.event_type, e.record_type, e.record_id, e.client_id, e.location_id, e.fields, e.occurred_at, COALESCE(e.environment, c.environment) AS environment";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (sql, values): (String, Vec<sea_orm::Value>) = match db.get_database_backend() {
        DbBackend::Postgres => (
            format!(
                "SELECT {COLUMNS}, e.txid::text AS pos_txid, e.seq AS pos_seq FROM webhook_events e \
                 LEFT JOIN clients c ON c.id = e.client_id \
                 WHERE (e.txid, e.seq) > ($1::xid8, $2) AND e.txid < pg_snapshot_xmin(pg_current_snapshot()) \
                 ORDER BY e.txid, e.seq LIMIT $3"
            ),
            vec![from.txid.clone().into(), from.seq.into(), limit.into()],
        ),
        _ => (
            format!(
                "SELECT {COLUMNS}, '0' AS pos_txid, e.rowid AS pos_seq FROM webhook_events e \
                 LEFT JOIN clients c ON c.id = e.client_id \
                 WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?"
            ),
            vec![from.seq.into(), limit.into()],
        ),
    };
    let rows = Row::find_by_statement(statement(db, &sql, values))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let position = Position {
                txid: r.pos_txid,
                seq: r.pos_seq,
            };
            let event = webhook_event::Model {
                id: r.id,
                event_type: r.event_type,
                record_type: r.record_type,
                record_id: r.record_id,
                client_id: r.client_id,
                location_id: r.location_id,
                fields: r.fields,
                occurred_at: r.occurred_at,
                environment: r.environment.clone(),
            };
            (event, r.environment, position)
        })
        .collect())
}

/// A message to make: one event for one endpoint.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub at: DateTime<Utc>,
    /// Made already taken by this sender (owner, until): it is sent at once, without a claim.
    pub lease: Option<(Uuid, DateTime<Utc>)>,
}

impl NewMessage {
    /// The message as stored.
    pub fn model(&self) -> webhook_message::Model {
        webhook_message::Model {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            payload: self.payload.clone(),
            status: MessageStatus::Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: self.at,
            lease_owner: self.lease.map(|(o, _)| o),
            lease_until: self.lease.map(|(_, u)| u),
            created_at: self.at,
            delivered_at: None,
        }
    }

    fn row(self) -> webhook_message::ActiveModel {
        webhook_message::ActiveModel {
            id: Set(self.id),
            endpoint_id: Set(self.endpoint_id),
            event_id: Set(self.event_id),
            event_type: Set(self.event_type),
            payload: Set(self.payload),
            status: Set(MessageStatus::Pending.as_str().into()),
            attempts: Set(0),
            next_attempt_at: Set(self.at),
            lease_owner: Set(self.lease.map(|(o, _)| o)),
            lease_until: Set(self.lease.map(|(_, u)| u)),
            created_at: Set(self.at),
            delivered_at: Set(None),
        }
    }
}

/// The INSERTs of `messages`.
pub fn insert_messages(backend: DbBackend, messages: Vec<NewMessage>) -> Vec<Statement> {
    let rows: Vec<webhook_message::ActiveModel> =
        messages.into_iter().map(NewMessage::row).collect();
    rows.chunks(INSERT_CHUNK)
        .map(|chunk| {
            backend.build(&webhook_message::Entity::insert_many(chunk.to_vec()).into_query())
        })
        .collect()
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
/// `lease_until`: an UPDATE returning them (`claimed`).
pub fn claim(
    backend: DbBackend,
    endpoint_id: Uuid,
    owner: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Statement {
    use webhook_message::Column;
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
    backend.build(&take)
}

/// The messages a `claim` returned.
pub fn claimed(rows: Vec<QueryResult>) -> AppResult<Vec<webhook_message::Model>> {
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

/// Messages waiting to be delivered, and when the oldest of them was made (`/metrics`).
pub async fn backlog(db: &impl ConnectionTrait) -> AppResult<(u64, Option<DateTime<Utc>>)> {
    use webhook_message::Column;
    let pending = || {
        webhook_message::Entity::find()
            .filter(Column::Status.eq(MessageStatus::Pending.as_str()))
            .select_only()
    };
    let count = pending()
        .column_as(Column::Id.count(), "n")
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0);
    let oldest = pending()
        .column(Column::CreatedAt)
        .order_by_asc(Column::CreatedAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    Ok((u64::try_from(count).unwrap_or(0), oldest))
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

/// What records a batch of outcomes: their attempts and their messages' new states. A message
/// that another replica already delivered (its lease had run out) stays delivered.
pub fn record(backend: DbBackend, outcomes: &[Outcome]) -> Vec<Statement> {
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
    let mut statements: Vec<Statement> = attempts
        .chunks(INSERT_CHUNK)
        .map(|chunk| {
            backend.build(&webhook_attempt::Entity::insert_many(chunk.to_vec()).into_query())
        })
        .collect();
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
        let update = webhook_message::Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(MessageStatus::Delivered.as_str()),
            )
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::DeliveredAt, Expr::value(at))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(Column::Id.is_in(chunk.iter().copied()));
        statements.push(backend.build(&update.into_query()));
    }
    for o in outcomes
        .iter()
        .filter(|o| o.status != MessageStatus::Delivered)
    {
        let mut update = webhook_message::Entity::update_many()
            .col_expr(Column::Status, Expr::value(o.status.as_str()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        if let Some(next) = o.next_attempt_at {
            update = update.col_expr(Column::NextAttemptAt, Expr::value(next));
        }
        let update = update
            .filter(Column::Id.eq(o.message_id))
            .filter(Column::Status.eq(MessageStatus::Pending.as_str()));
        statements.push(backend.build(&update.into_query()));
    }
    statements
}

/// Gives back the leases `owner` still holds (a graceful stop): the messages are due again
/// at once, for any replica.
pub async fn release(db: &impl ConnectionTrait, owner: Uuid) -> AppResult<u64> {
    use webhook_message::Column;
    let done = webhook_message::Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
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

/// Rows removed per table and run of `purge`: a run's transaction stays short (on SQLite it
/// holds the write lock); the next run takes the rest.
const PURGE_BATCH: u64 = 5_000;

/// Removes what is older than `before` and finished: delivered or failed messages with their
/// attempts, and events already fanned out. Pending messages stay whatever their age. On
/// SQLite the newest event always stays: fan-out's position is a rowid, and a table emptied
/// of its newest row would give the next event a rowid already passed.
pub async fn purge(db: &impl ConnectionTrait, before: DateTime<Utc>) -> AppResult<u64> {
    let limit = i64::try_from(PURGE_BATCH).unwrap_or(i64::MAX);
    let (attempts, messages, events) = match db.get_database_backend() {
        DbBackend::Postgres => (
            "DELETE FROM webhook_attempts WHERE message_id IN (SELECT id FROM webhook_messages WHERE status <> 'PENDING' AND created_at < $1 LIMIT $2)",
            "DELETE FROM webhook_messages WHERE id IN (SELECT id FROM webhook_messages WHERE status <> 'PENDING' AND created_at < $1 LIMIT $2)",
            "DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e, webhook_dispatch d \
             WHERE d.id = 1 AND e.occurred_at < $1 AND (e.txid, e.seq) <= (d.txid::xid8, d.seq) LIMIT $2)",
        ),
        _ => (
            "DELETE FROM webhook_attempts WHERE message_id IN (SELECT id FROM webhook_messages WHERE status <> 'PENDING' AND created_at < ? LIMIT ?)",
            "DELETE FROM webhook_messages WHERE id IN (SELECT id FROM webhook_messages WHERE status <> 'PENDING' AND created_at < ? LIMIT ?)",
            "DELETE FROM webhook_events WHERE rowid IN (SELECT rowid FROM webhook_events \
             WHERE occurred_at < ? AND rowid <= (SELECT seq FROM webhook_dispatch WHERE id = 1) \
             AND rowid < (SELECT MAX(rowid) FROM webhook_events) LIMIT ?)",
        ),
    };
    let mut removed = 0;
    for sql in [attempts, messages, events] {
        let done = db
            .execute_raw(statement(db, sql, vec![before.into(), limit.into()]))
            .await?;
        removed += done.rows_affected();
    }
    Ok(removed)
}
