//! Connections to external services, with their credentials sealed (`key_id` beside them),
//! and the integration log: one row per exchange with a service (Test Connection first).

use sea_orm_migration::prelude::*;

use crate::columns::{boolean, id, index, int, text, text_null, ts, ts_null, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_connections")
                    .col(id())
                    .col(text("name"))
                    .col(text("description"))
                    .col(text("service_type"))
                    .col(text("protocol"))
                    .col(text("address"))
                    .col(text("health_path"))
                    .col(text("identifiers"))
                    .col(text("environment"))
                    .col(boolean("enabled"))
                    .col(int("timeout_ms"))
                    .col(text_null("ca_pem"))
                    .col(text("auth_kind"))
                    .col(text("credentials"))
                    .col(text_null("key_id"))
                    .col(ts("credentials_changed_at"))
                    .col(text("health_status"))
                    .col(ts_null("debug_capture_until"))
                    .col(uuid_null("created_by"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("integration_log")
                    .col(id())
                    .col(uuid_null("connection_id"))
                    .col(text("direction"))
                    .col(text("operation"))
                    .col(text("outcome"))
                    .col(text_null("error_code"))
                    .col(text("message"))
                    .col(ColumnDef::new("latency_ms").big_integer().not_null())
                    .col(text("correlation_id"))
                    .col(text("environment"))
                    .col(text("detail"))
                    .col(text_null("capture"))
                    .col(ts("occurred_at"))
                    .to_owned(),
            )
            .await?;
        // A connection's entries, newest first (ids are time-ordered).
        manager
            .create_index(index(
                "integration_log",
                "ix_integration_log_connection",
                &["connection_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "integration_log",
                "ix_integration_log_occurred",
                &["occurred_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["integration_log", "service_connections"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
