//! "Every change to settings this month", "every key revoked": the rare actions and record
//! types get partial indexes that hold only their own events. The events of the hot path
//! (reads, searches, creates and updates of patients and tests) are outside both, so they
//! pay nothing for them (full indexes on action and record type cost a quarter of SQLite's
//! create throughput, BENCHMARKS.md). A query uses an index only when it repeats the index's
//! condition, which `switchboard::store::audit` does from the same constants.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Actions of the hot path; every other action is in `ix_audit_events_rare_action`.
pub const FREQUENT_ACTIONS: [&str; 4] = ["READ", "SEARCH", "CREATE", "UPDATE"];
/// Record types of the hot path; every other type is in `ix_audit_events_rare_record_type`.
pub const FREQUENT_RECORD_TYPES: [&str; 2] = ["patient", "test"];

/// `column NOT IN ('a', 'b')`, the condition of a partial index and of the queries using it.
pub fn not_in(column: &str, values: &[&str]) -> String {
    let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    format!("{column} NOT IN ({})", list.join(", "))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_audit_events_rare_action ON audit_events (action, id) WHERE {}",
            not_in("action", &FREQUENT_ACTIONS)
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_audit_events_rare_record_type ON audit_events (record_type, id) WHERE {}",
            not_in("record_type", &FREQUENT_RECORD_TYPES)
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_audit_events_rare_action")
            .await?;
        db.execute_unprepared("DROP INDEX ix_audit_events_rare_record_type")
            .await?;
        Ok(())
    }
}
