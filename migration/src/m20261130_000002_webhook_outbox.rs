//! The webhook outbox: one row per system event, written in the same transaction as the change
//! that caused it (`store::write::Effect::Webhook`), so that a committed change always has its
//! event and a rolled-back one never does. Rows are thin: what happened to which record, where
//! it belongs, and the names of the fields that changed; never patient data. Delivery reads
//! them in id order (UUIDv7: commit order within a writer).

use sea_orm_migration::prelude::*;

use crate::columns::{id, text, ts, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_events")
                    .col(id())
                    .col(text("event_type"))
                    .col(text("record_type"))
                    .col(uuid_null("record_id"))
                    .col(uuid_null("client_id"))
                    .col(uuid_null("location_id"))
                    .col(text("fields"))
                    .col(ts("occurred_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("webhook_events").to_owned())
            .await
    }
}
