//! PostgreSQL: the chain's trigger (`m20261210_000001_audit_links`) finds the head by its
//! index whatever the size of `audit_links` when the trigger first ran in a session.
//!
//! Why: a PL/pgSQL statement without parameters is planned once per session and that plan
//! is kept. A server's read-audit writer makes its first link when the chain is empty or
//! nearly, where a sequential scan is the cheaper plan, and then scanned the whole chain at
//! every batch for as long as its session lived: a cost that grew with the trail, most of what
//! the writer's database process spent under the audited-read benchmark (BENCHMARKS.md).
//! With sequential scans off inside the function, its plans take `audit_links_pkey`, which
//! costs the same for an empty chain and a long one. SQLite plans each statement afresh and
//! reads the head by its rowid: nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(
            manager,
            "ALTER FUNCTION audit_links_add() SET enable_seqscan = off",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(
            manager,
            "ALTER FUNCTION audit_links_add() RESET enable_seqscan",
        )
        .await
    }
}

async fn on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
