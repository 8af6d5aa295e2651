//! PostgreSQL only: what its planner and storage need to serve lists and the audit cheaply
//! (docs/benchmarks-history.md, seventh pass, has the figures). SQLite has nothing to change.
//!
//! - A location belongs to one client, so `client_id` and `location_id` are dependent. Without
//!   statistics saying so the planner multiplies their selectivities, underestimated a
//!   client's tests, and read the nested tests of a page by AND-ing the whole client/location
//!   index with the patient index, several times slower than the patient index alone.
//! - An audit row's record ids (kilobytes for a page of patients with their tests) were
//!   compressed with pglz on every insert, a visible share of PostgreSQL's CPU under Q1. They
//!   are stored out of line uncompressed instead.

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
