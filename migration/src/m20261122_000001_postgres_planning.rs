//! PostgreSQL only: what its planner and storage need to serve lists and the audit cheaply
//! (BENCHMARKS.md, seventh pass). SQLite has nothing to change.
//!
//! - A location belongs to one client, so `client_id` and `location_id` are dependent. Without
//!   statistics saying so the planner multiplies their selectivities, estimated a client's
//!   tests at 2,014 rows instead of 10,000, and read the nested tests of a page by AND-ing the
//!   client/location index (all 10,000 entries) with the patient index: 1.7 ms instead of
//!   0.46 ms through the patient index alone.
//! - An audit row's record ids (10 KB for a page of 50 patients' 250 tests) were compressed
//!   with pglz on every insert, a tenth of PostgreSQL's CPU under Q1. They are stored out of
//!   line uncompressed instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "CREATE STATISTICS patients_scope_dependencies (dependencies) \
             ON client_id, location_id FROM patients",
            "CREATE STATISTICS lab_tests_scope_dependencies (dependencies) \
             ON client_id, location_id FROM lab_tests",
            // Statistics objects are empty until the tables are analysed; sampled, so bounded
            // at any size.
            "ANALYZE patients, lab_tests",
            "ALTER TABLE audit_events ALTER COLUMN record_ids SET STORAGE EXTERNAL",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "DROP STATISTICS IF EXISTS patients_scope_dependencies",
            "DROP STATISTICS IF EXISTS lab_tests_scope_dependencies",
            "ALTER TABLE audit_events ALTER COLUMN record_ids SET STORAGE EXTENDED",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
