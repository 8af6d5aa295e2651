//! Group commit for SQLite's single-statement writes (an INSERT with its audit row).
//!
//! SQLite takes one writer at a time, so every write waits for the one before it. Each write
//! on its own costs BEGIN, the change and COMMIT, each a hand-over to the connection's thread,
//! plus a WAL append of every page the change touched. Under load the writers queue anyway, so
//! one task takes all that are waiting and stores them in one transaction: one BEGIN and one
//! COMMIT for the lot, and each page written to the WAL once. M1 (createPatient) was limited
//! by that serial section, with CPU to spare (docs/benchmarks-history.md).
//!
//! Each write runs inside its own SAVEPOINT, so one that fails (a duplicate external id) is
//! rolled back alone and the others still commit. No caller hears of success before the COMMIT
//! that made its write durable; if the transaction as a whole fails, every write in it is
//! reported failed and none is stored. When writers do not queue, a batch is one write and
//! nothing waits for company.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, QueryResult, Statement,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use uuid::Uuid;

use super::audit_chain::{ChainHead, Unlinked};
use super::write_lock::WriteLock;

use crate::error::{AppError, AppResult};

/// Writes stored by one transaction at most; enough for every request in flight at the
/// benchmark's 32 connections, small enough that one batch never holds the writer for long.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<AppResult<Vec<QueryResult>>>;

struct Job {
    statement: Statement,
    /// The audit events it stores, which the batch links.
    audit_ids: Vec<Uuid>,
    reply: Reply,
}

#[derive(Clone)]
pub(super) struct GroupWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GroupWriter {
    /// Starts the writer task. It takes `write_lock` for each batch, so writes that need
    /// their own transaction (`Store::begin_write`) are never interleaved with a batch.
    pub(super) fn start(db: DatabaseConnection, write_lock: Arc<WriteLock>) -> GroupWriter {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(db, write_lock, queue));
        GroupWriter { jobs }
    }

    /// Runs `statement` (one or more statements, in order, storing the audit events
    /// `audit_ids`) in the next batch and returns its rows once they are committed.
    pub(super) async fn write(
        &self,
        statement: Statement,
        audit_ids: Vec<Uuid>,
    ) -> AppResult<Vec<QueryResult>> {
        // Built here, in the caller's task, to keep the serial section short.
        let statement = Statement {
            sql: format!("SAVEPOINT job; {}; RELEASE job", statement.sql),
            ..statement
        };
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                statement,
                audit_ids,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the database writer has stopped"))
}

async fn run(
    db: DatabaseConnection,
    lock: Arc<WriteLock>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut turn = lock.turn().await;
        let (statements, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|j| ((j.statement, j.audit_ids), j.reply))
            .unzip();
        let outcomes = match store_batch(&db, statements).await {
            Ok((outcomes, linked)) => {
                if linked.is_some() {
                    *turn = linked;
                }
                outcomes
            }
            Err(e) => {
                // Whether the chain moved is not known.
                *turn = None;
                tracing::error!(error = %e, n = replies.len(), "a batch of writes was rolled back");
                replies.iter().map(|_| Err(rolled_back(&e))).collect()
            }
        };
        drop(turn);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that has gone away no longer wants the answer; its write stands.
            let _ = reply.send(outcome);
        }
    }
}

fn rolled_back(cause: &DbErr) -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "the write was rolled back with its batch: {cause}"
    ))
}

/// Runs every statement in one transaction, each in its own savepoint, and commits. `Err`
/// means nothing was stored; `Ok` holds each statement's own outcome, all committed, and the
/// audit chain's new head if the batch stored events (those of the statements that stood).
async fn store_batch(
    db: &DatabaseConnection,
    statements: Vec<(Statement, Vec<Uuid>)>,
) -> Result<(Vec<AppResult<Vec<QueryResult>>>, Option<ChainHead>), DbErr> {
    let txn = db.begin().await?;
    let mut outcomes = Vec::with_capacity(statements.len());
    let mut stored = Vec::new();
    for (statement, audit_ids) in statements {
        let outcome = run_one(&txn, statement).await?;
        if outcome.is_ok() {
            stored.extend(audit_ids);
        }
        outcomes.push(outcome);
    }
    let linked = super::audit_chain::seal(&txn, Unlinked::These(&stored)).await?;
    txn.commit().await?;
    Ok((outcomes, linked))
}

/// One statement in its savepoint. An error in the statement is its own outcome (after undoing
/// it); an error undoing it means the transaction is unusable, and fails the batch.
async fn run_one(
    txn: &DatabaseTransaction,
    statement: Statement,
) -> Result<AppResult<Vec<QueryResult>>, DbErr> {
    match txn.query_all_raw(statement).await {
        Ok(rows) => Ok(Ok(rows)),
        Err(e) => {
            txn.execute_unprepared("ROLLBACK TO job; RELEASE job")
                .await?;
            Ok(Err(AppError::from(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

    use super::store_batch;
    use crate::error::AppError;

    /// The application's tables (a batch links the audit events it wrote), and `t`.
    async fn table() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (v TEXT NOT NULL UNIQUE)")
            .await
            .unwrap();
        db
    }

    /// One job: inserts each value in turn, returning the first. No audit event.
    fn job(values: &[&str]) -> (Statement, Vec<uuid::Uuid>) {
        let inserts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let returning = if i == 0 { " RETURNING v" } else { "" };
                format!("INSERT INTO t (v) VALUES ('{v}'){returning}")
            })
            .collect();
        let sql = format!("SAVEPOINT job; {}; RELEASE job", inserts.join("; "));
        (Statement::from_string(DbBackend::Sqlite, sql), Vec::new())
    }

    async fn stored(db: &DatabaseConnection) -> Vec<String> {
        db.query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT v FROM t ORDER BY v",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "v").unwrap())
        .collect()
    }

    #[tokio::test]
    async fn a_failed_write_is_undone_alone_and_the_rest_of_its_batch_commits() {
        let db = table().await;
        let outcomes = store_batch(
            &db,
            vec![
                job(&["a"]),
                // Fails on its second statement: its first must not survive either.
                job(&["b", "a"]),
                job(&["c", "d"]),
                job(&["c"]),
            ],
        )
        .await
        .unwrap()
        .0;
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|o| match o {
                Ok(_) => "ok",
                Err(AppError::Duplicate(_)) => "conflict",
                Err(_) => "other",
            })
            .collect();
        assert_eq!(kinds, ["ok", "conflict", "ok", "conflict"]);
        let first: String = outcomes[0].as_ref().unwrap()[0].try_get("", "v").unwrap();
        assert_eq!(first, "a", "the write's own rows come back");
        assert_eq!(stored(&db).await, ["a", "c", "d"]);
    }

    #[tokio::test]
    async fn a_batch_whose_transaction_fails_stores_nothing() {
        let db = table().await;
        // Undoing the bad job fails (no savepoint named `job` is open), so the transaction is
        // in doubt and the whole batch is given up, including the write before it.
        let broken = (
            Statement::from_string(DbBackend::Sqlite, "INSERT INTO missing VALUES (1)"),
            Vec::new(),
        );
        assert!(store_batch(&db, vec![job(&["a"]), broken]).await.is_err());
        assert_eq!(stored(&db).await, Vec::<String>::new());
        // The connection is usable afterwards.
        let (outcomes, _) = store_batch(&db, vec![job(&["b"])]).await.unwrap();
        assert!(outcomes[0].is_ok());
        assert_eq!(stored(&db).await, ["b"]);
    }
}
