//! Room in `webhook_messages` pages for the lease a claim writes (PostgreSQL).
//!
//! A claim changes only the lease columns, which no index covers, so PostgreSQL can keep the
//! new row version on the same page without touching the three indexes (a HOT update), but
//! only where the page has room: fan-out fills pages completely by default, and every claim
//! then wrote a new entry in each index. SQLite updates rows in place and has no such setting.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Percent of each page that inserts fill: the rest is for the claim's new row version.
const FILLFACTOR: u8 = 70;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE webhook_messages SET (fillfactor = {FILLFACTOR})"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE webhook_messages RESET (fillfactor)")
                .await?;
        }
        Ok(())
    }
}
