//! PostgreSQL: a transaction that inserts audit events commits without waiting for its WAL
//! to reach the disk (`synchronous_commit = off` for that transaction, set by a trigger on
//! the events' INSERT), and the application then waits for the flush itself, with the chain's
//! lock released (`store::write::flushed`).
//!
//! Why: the chain's trigger (`m20261210_000001_audit_links`) holds an advisory lock from the
//! events' INSERT to the end of the commit, and a synchronous commit ends after its flush, so
//! every audited write waited for the disk one at a time: PostgreSQL's group commit, which
//! flushes many transactions' WAL at once, never had two to group. That halved the write
//! benchmark's throughput (BENCHMARKS.md). Now the lock is held until the commit's WAL is
//! written, and the flushes that follow, one per write, are grouped by PostgreSQL.
//!
//! What a client is told is unchanged: an answer to a write waits for its flush, so an
//! acknowledged write survives a crash of the database server. What changes is what other
//! sessions see: a commit is visible before it is on disk, for the time of one flush. If the
//! database server crashes in that time, a change that no client was told of is lost, with
//! everything committed after it (the WAL is replayed in order, so never a hole in the chain).
//! SQLite commits in WAL mode without a flush (`synchronous = NORMAL`): nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(
            manager,
            &[
                "CREATE FUNCTION audit_events_commit_unflushed() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ \
                 BEGIN \
                   PERFORM set_config('synchronous_commit', 'off', true); \
                   RETURN NULL; \
                 END $$",
                "CREATE TRIGGER audit_events_unflushed AFTER INSERT ON audit_events \
                 FOR EACH STATEMENT EXECUTE FUNCTION audit_events_commit_unflushed()",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(
            manager,
            &[
                "DROP TRIGGER audit_events_unflushed ON audit_events",
                "DROP FUNCTION audit_events_commit_unflushed()",
            ],
        )
        .await
    }
}

async fn on_postgres(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Postgres {
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
    }
    Ok(())
}
