//! PostgreSQL: the read-audit writer links its own batches (`store::audit_chain::linked_pg`),
//! and the chain's trigger (`m20261210_000001_audit_links`) leaves the INSERTs of a session
//! that says so (`switchboard.links_own_events = on`) alone.
//!
//! Why: every read is stored before it is answered, so the writer stores a batch of a few
//! reads some thousands of times a second, and the trigger's work per batch (its function, the
//! head's read, each event's columns made into text and hashed in SQL) was a third to a half
//! of what auditing cost a read (BENCHMARKS.md). The writer hashes the events in memory, as
//! SQLite's writers do, after the head it knows, and inserts the link in the events' own
//! statement under the chain's advisory lock; a head that moved on since makes the link's
//! INSERT fail on its primary key, and the writer then reads the head under the lock.
//!
//! Every other session is linked by the trigger as before. A session that says it links its
//! own events and does not leaves them in no link, which `audit verify` reports: the setting
//! opens nothing that disabling the trigger did not.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The session setting that tells the trigger the session links its own events.
pub const LINKS_OWN_EVENTS: &str = "switchboard.links_own_events";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        trigger(
            manager,
            &format!("WHEN (current_setting('{LINKS_OWN_EVENTS}', true) IS DISTINCT FROM 'on') "),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        trigger(manager, "").await
    }
}

/// The chain's trigger again, with `when` (a WHEN clause, or nothing).
async fn trigger(manager: &SchemaManager<'_>, when: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for sql in [
        "DROP TRIGGER audit_events_link ON audit_events".to_owned(),
        format!(
            "CREATE TRIGGER audit_events_link AFTER INSERT ON audit_events \
             REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT {when}\
             EXECUTE FUNCTION audit_links_add()"
        ),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}
