//! The one write path: a change and what it causes, committed as one unit.
//!
//! Every write that changes records also writes rows that must exist if and only if the
//! change does: its audit event today, next the webhook outbox's events. They are `Effects`,
//! handed to the store with the change: `Store::insert` for a single new row (batched with
//! other writers on SQLite, one statement on PostgreSQL) and `WriteTxn::commit` for a change
//! made in a transaction of its own. A new kind of side effect is a variant of `Effect` and its
//! INSERT below; no caller changes.

use sea_orm::sea_query::{
    CommonTableExpression, InsertStatement, PostgresQueryBuilder, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    FromQueryResult, QueryTrait, Statement,
};
use tokio::sync::Notify;
use uuid::Uuid;

use super::audit::{self, NewAuditEvent};
use super::audit_chain::Unlinked;
use super::webhook_events;
use crate::domain::webhook_event::NewEvent;
use crate::error::{AppError, AppResult};

/// One row a change causes.
#[derive(Clone, Debug)]
pub enum Effect {
    Audit(NewAuditEvent),
    /// A system event for webhooks (the outbox).
    Webhook(NewEvent),
}

impl Effect {
    /// Its INSERTs (an event and its rows of the record index), made once: the event's id,
    /// taken here, is in both, and goes to `audit_ids` (what the transaction links).
    fn insert_statements(&self, audit_ids: &mut Vec<Uuid>) -> Vec<InsertStatement> {
        match self {
            Effect::Audit(event) => {
                let (id, statements) = audit::insert_statements(event);
                audit_ids.push(id);
                statements
            }
            Effect::Webhook(event) => vec![webhook_events::insert_statement(event)],
        }
    }
}

/// What a change causes, written in the change's transaction.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Effects(Vec<Effect>);

impl Effects {
    /// Nothing: only for bulk loads that are not requests (demo and benchmark data).
    pub fn none() -> Self {
        Effects::default()
    }

    /// The change's audit event: every change through the API has one.
    pub fn audited(event: NewAuditEvent) -> Self {
        Effects(vec![Effect::Audit(event)])
    }

    pub fn and(mut self, effect: Effect) -> Self {
        self.0.push(effect);
        self
    }

    fn iter(&self) -> impl Iterator<Item = &Effect> {
        self.0.iter()
    }

    /// Whether these store an audit event (on PostgreSQL, committed without a flush).
    pub(super) fn has_audit(&self) -> bool {
        self.0.iter().any(|e| matches!(e, Effect::Audit(_)))
    }

    /// Whether committing these wrote webhook events (and the delivery worker should look).
    pub(super) fn has_events(&self) -> bool {
        self.0.iter().any(|e| matches!(e, Effect::Webhook(_)))
    }

    /// Writes the effects in `txn`, before its commit: one INSERT each (a change has one or
    /// two), the audit events' last. On PostgreSQL inserting an event takes the chain's lock
    /// (its trigger) until the commit. The read-audit writer inserts its rows of the record
    /// index first and then waits for that lock: had this transaction taken the lock and then
    /// waited for one of those rows, each would wait for the other (a deadlock, one refused).
    /// Returns the audit events' ids.
    async fn write(&self, txn: &DatabaseTransaction) -> AppResult<Vec<Uuid>> {
        let backend = txn.get_database_backend();
        let (mut events, mut ids) = (Vec::new(), Vec::new());
        for effect in &self.0 {
            let mut statements = effect.insert_statements(&mut ids);
            if matches!(effect, Effect::Audit(_)) {
                events.extend(statements.pop());
            }
            for statement in statements {
                txn.execute_raw(backend.build(&statement)).await?;
            }
        }
        for statement in events {
            txn.execute_raw(backend.build(&statement)).await?;
        }
        Ok(ids)
    }
}

/// A write transaction, holding the SQLite writer lock for as long as it lives.
pub struct WriteTxn<'a> {
    pub txn: DatabaseTransaction,
    pub(super) guard: Option<super::write_lock::Turn<'a>>,
    /// Told when a commit wrote webhook events.
    pub(super) events_written: &'a Notify,
    /// A validation-only request's: `commit` rolls back instead (`Store::rehearsing`).
    pub(super) rehearsal: bool,
    /// PostgreSQL: where `commit` waits for the flush of an audited change.
    pub(super) flushes: Option<&'a super::flush_group::FlushGroup>,
}

impl WriteTxn<'_> {
    /// Writes the change's `effects` in this transaction and commits both: a change is never
    /// stored without them, nor they without the change.
    pub async fn commit(mut self, effects: Effects) -> AppResult<()> {
        let audit_ids = effects.write(&self.txn).await?;
        if self.rehearsal {
            self.txn.rollback().await?;
            return Ok(());
        }
        // The head the turn knows is forgotten until this commit is known to have landed.
        let known = self.guard.as_mut().and_then(|turn| turn.take());
        let linked = super::audit_chain::seal(&self.txn, Unlinked::These(&audit_ids)).await?;
        self.txn.commit().await?;
        if let Some(turn) = self.guard.as_mut() {
            **turn = linked.or(known);
        }
        if let Some(flushes) = self.flushes.filter(|_| effects.has_audit()) {
            flushes.flushed().await?;
        }
        if effects.has_events() {
            self.events_written.notify_one();
        }
        Ok(())
    }
}

/// The INSERT … RETURNING of `row` together with the INSERTs of its `effects`, as one call:
/// each call is a round trip to PostgreSQL, and on SQLite a hand-over to the connection's
/// thread, which inside the serialised write is time every other writer waits. On PostgreSQL
/// it is one statement (the effects' INSERTs in a `WITH`), atomic on its own; on SQLite, which
/// has no INSERT in `WITH`, statements in a row that the group writer runs in a savepoint.
/// Either way an error in one leaves none stored. Also the ids of the audit events it stores.
pub(super) fn insert_statement<A>(
    backend: DbBackend,
    row: A,
    effects: &Effects,
) -> (Statement, Vec<Uuid>)
where
    A: ActiveModelTrait,
{
    let mut change = <A::Entity as EntityTrait>::insert(row).into_query();
    change.returning_all();
    let mut ids = Vec::new();
    if backend == DbBackend::Postgres {
        let mut clause = WithClause::new();
        for (i, statement) in effects
            .iter()
            .flat_map(|effect| effect.insert_statements(&mut ids))
            .enumerate()
        {
            let mut cte = CommonTableExpression::new();
            cte.query(statement).table_name(format!("effect{i}"));
            clause.cte(cte);
        }
        let (sql, values) = if effects.0.is_empty() {
            change.build(PostgresQueryBuilder)
        } else {
            change.with(clause).build(PostgresQueryBuilder)
        };
        return (Statement::from_sql_and_values(backend, sql, values), ids);
    }
    let parts: Vec<Statement> = std::iter::once(backend.build(&change))
        .chain(
            effects
                .iter()
                .flat_map(|effect| effect.insert_statements(&mut ids))
                .map(|s| backend.build(&s)),
        )
        .collect();
    (joined(backend, parts), ids)
}

/// SQLite statements as one, run in order (its placeholders are positional, so the values
/// follow one another). PostgreSQL takes one statement per call with bound values.
pub(super) fn joined(backend: DbBackend, parts: Vec<Statement>) -> Statement {
    debug_assert_eq!(backend, DbBackend::Sqlite);
    let sql = parts
        .iter()
        .map(|s| s.sql.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let values = parts
        .into_iter()
        .flat_map(|s| s.values.map(|v| v.0).unwrap_or_default())
        .collect();
    Statement::from_sql_and_values(backend, sql, sea_orm::Values(values))
}

/// The row an INSERT … RETURNING gave back.
pub(super) fn first_row<E: EntityTrait>(rows: Vec<sea_orm::QueryResult>) -> AppResult<E::Model>
where
    E::Model: FromQueryResult,
{
    rows.first()
        .map(|r| E::Model::from_query_result(r, ""))
        .transpose()?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the insert returned no row")))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use entity::client;
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Set};
    use uuid::Uuid;

    use super::{Effect, Effects};
    use crate::domain::actor::Who;
    use crate::store::Store;
    use crate::store::audit::NewAuditEvent;

    fn event(action: &str) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at: Utc::now(),
            who: Who::anonymous("test"),
            action: action.into(),
            operation: "test".into(),
            operation_name: None,
            record_type: "client".into(),
            record_ids: Vec::<Uuid>::new().into(),
            fields: vec![],
            ip: None,
        }
    }

    fn row(name: &str) -> client::ActiveModel {
        client::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.into()),
            environment: Set("SANDBOX".into()),
            created_at: Set(Utc::now()),
        }
    }

    async fn counts(store: &Store) -> (u64, u64) {
        let db = store.conn();
        (
            client::Entity::find().count(db).await.unwrap(),
            entity::audit_event::Entity::find().count(db).await.unwrap(),
        )
    }

    #[tokio::test]
    async fn a_row_and_all_its_effects_are_stored_or_none_is() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let two = Effects::audited(event("CREATE")).and(Effect::Audit(event("NOTE")));
        let stored = store.insert(row("a"), two.clone()).await.unwrap();
        assert_eq!(stored.name, "a", "the stored row comes back");
        assert_eq!(counts(&store).await, (1, 2));

        // The same change whose second effect cannot be written: nothing is stored, through
        // either path.
        store
            .conn()
            .execute_unprepared("CREATE TRIGGER no_notes BEFORE INSERT ON audit_events WHEN NEW.action = 'NOTE' BEGIN SELECT RAISE(ABORT, 'refused'); END")
            .await
            .unwrap();
        assert!(store.insert(row("b"), two.clone()).await.is_err());
        let txn = store.begin_write().await.unwrap();
        client::Entity::insert(row("c"))
            .exec(&txn.txn)
            .await
            .unwrap();
        assert!(txn.commit(two).await.is_err());
        assert_eq!(counts(&store).await, (1, 2));
    }
}
