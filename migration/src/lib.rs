//! Schema migrations, run at start-up by the server and by `switchboard migrate`.

pub use sea_orm_migration::prelude::*;

mod columns;

mod m20261121_000001_foundation;
mod m20261122_000001_postgres_planning;
mod m20261129_000001_audit_operation_name;
mod m20261129_000002_audit_actor;
mod m20261129_000002_audit_on_behalf_of;
mod m20261129_000003_audit_filters;
pub mod m20261129_000004_audit_rare_filters;
pub mod m20261129_000005_audit_record_touches;
mod m20261130_000001_partner_apps;
mod m20261130_000002_webhook_outbox;
mod m20261201_000001_webhook_delivery;
mod m20261202_000001_webhook_message_fillfactor;
mod m20261203_000001_sealed_secrets;
mod m20261203_000002_service_connections;
mod m20261204_000001_records_exchange;
mod m20261205_000001_lab_intake;
mod m20261206_000001_patient_imports;
mod m20261207_000001_service_polls;
mod m20261207_000002_import_tests;
mod m20261208_000001_credential_limits;
mod m20261209_000001_audit_chain;
mod m20261210_000001_audit_links;
mod m20261211_000001_audit_link_plan;
mod m20261212_000001_audit_link_unflushed;

pub struct Migrator;

/// Whether the migration named `name` builds the audit trail's hash chain as it is: the one
/// that began it, or the one that made it a link per batch (whose downgrade on SQLite leaves
/// the events to be linked again). An upgrade that applies either links the events no link
/// holds (`Store::migrate`); no other upgrade links anything.
pub fn builds_the_chain(name: &str) -> bool {
    [
        m20261209_000001_audit_chain::Migration.name(),
        m20261210_000001_audit_links::Migration.name(),
    ]
    .contains(&name)
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_foundation::Migration),
            Box::new(m20261122_000001_postgres_planning::Migration),
            Box::new(m20261129_000001_audit_operation_name::Migration),
            // Both: databases applied one or the other (see each file).
            Box::new(m20261129_000002_audit_on_behalf_of::Migration),
            Box::new(m20261129_000002_audit_actor::Migration),
            Box::new(m20261129_000003_audit_filters::Migration),
            Box::new(m20261129_000004_audit_rare_filters::Migration),
            Box::new(m20261129_000005_audit_record_touches::Migration),
            Box::new(m20261130_000001_partner_apps::Migration),
            Box::new(m20261130_000002_webhook_outbox::Migration),
            Box::new(m20261201_000001_webhook_delivery::Migration),
            Box::new(m20261202_000001_webhook_message_fillfactor::Migration),
            Box::new(m20261203_000001_sealed_secrets::Migration),
            Box::new(m20261203_000002_service_connections::Migration),
            Box::new(m20261204_000001_records_exchange::Migration),
            Box::new(m20261205_000001_lab_intake::Migration),
            Box::new(m20261206_000001_patient_imports::Migration),
            Box::new(m20261207_000001_service_polls::Migration),
            Box::new(m20261207_000002_import_tests::Migration),
            Box::new(m20261208_000001_credential_limits::Migration),
            Box::new(m20261209_000001_audit_chain::Migration),
            Box::new(m20261210_000001_audit_links::Migration),
            Box::new(m20261211_000001_audit_link_plan::Migration),
            Box::new(m20261212_000001_audit_link_unflushed::Migration),
        ]
    }
}
