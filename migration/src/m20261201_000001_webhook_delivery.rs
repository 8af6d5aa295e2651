//! Webhook delivery: endpoints and their signing secrets, one message per event and endpoint
//! (its `id` is the `webhook-id` receivers dedupe on, the same on every attempt), and the log
//! of every attempt. The outbox gains the mark of events already fanned out to messages and
//! the environment of events about records without a client (keys, apps, endpoints).
//!
//! Signing secrets are stored as they are: HMAC needs them, unlike client secrets, which are
//! only compared. Encryption at rest under the master key is the external-services issue's.

use sea_orm_migration::prelude::*;

use crate::columns::{
    boolean, fk, id, index, int, int_null, text, text_null, ts, ts_null, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [ts_null("dispatched_at"), text_null("environment")] {
            manager
                .alter_table(
                    Table::alter()
                        .table("webhook_events")
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("api_keys")
                    .add_column(ts_null("expiry_notified_at"))
                    .to_owned(),
            )
            .await?;
        // Only events not yet fanned out are looked up by it; both backends index a partial
        // range with this WHERE.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_webhook_events_undispatched ON webhook_events (id) WHERE dispatched_at IS NULL",
            )
            .await?;
        manager
            .create_index(index(
                "webhook_events",
                "ix_webhook_events_occurred",
                &["occurred_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .col(id())
                    .col(text("url"))
                    .col(text("description"))
                    // A JSON array of event type names; NULL: every type.
                    .col(text_null("event_types"))
                    .col(text("environment"))
                    .col(boolean("enabled"))
                    .col(text_null("disabled_reason"))
                    // The partner app that owns it; NULL: an administrator's.
                    .col(uuid_null("app_id"))
                    // Since when every attempt has failed; NULL while it succeeds.
                    .col(ts_null("failing_since"))
                    .col(uuid_null("created_by"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk("webhook_endpoints", "app_id", "partner_apps"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoint_secrets")
                    .col(id())
                    .col(uuid("endpoint_id"))
                    .col(text("secret"))
                    .col(text("prefix"))
                    .col(ts("created_at"))
                    .col(ts_null("expires_at"))
                    .foreign_key(&mut fk(
                        "webhook_endpoint_secrets",
                        "endpoint_id",
                        "webhook_endpoints",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_endpoint_secrets",
                "ix_webhook_endpoint_secrets_endpoint",
                &["endpoint_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_messages")
                    .col(id())
                    .col(uuid("endpoint_id"))
                    .col(uuid("event_id"))
                    .col(text("event_type"))
                    // The JSON body, the same on every attempt.
                    .col(text("payload"))
                    // PENDING, DELIVERED or FAILED (every attempt of the schedule failed).
                    .col(text("status"))
                    .col(int("attempts"))
                    .col(ts("next_attempt_at"))
                    // The replica sending it and until when; expired, anyone may take it.
                    .col(uuid_null("lease_owner"))
                    .col(ts_null("lease_until"))
                    .col(ts("created_at"))
                    .col(ts_null("delivered_at"))
                    .foreign_key(&mut fk(
                        "webhook_messages",
                        "endpoint_id",
                        "webhook_endpoints",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_messages",
                "ix_webhook_messages_due",
                &["endpoint_id", "status", "next_attempt_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "webhook_messages",
                "ix_webhook_messages_endpoint_created",
                &["endpoint_id", "created_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_attempts")
                    .col(id())
                    .col(uuid("message_id"))
                    .col(uuid("endpoint_id"))
                    .col(ts("attempted_at"))
                    .col(int_null("http_status"))
                    .col(int("latency_ms"))
                    // NULL on success; else TIMEOUT, CONNECTION_REFUSED, DNS_FAILURE, …
                    .col(text_null("error"))
                    .col(text("response_excerpt"))
                    .foreign_key(&mut fk(
                        "webhook_attempts",
                        "message_id",
                        "webhook_messages",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_attempts",
                "ix_webhook_attempts_message",
                &["message_id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_attempts",
            "webhook_messages",
            "webhook_endpoint_secrets",
            "webhook_endpoints",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_webhook_events_undispatched")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_webhook_events_occurred")
                    .table("webhook_events")
                    .to_owned(),
            )
            .await?;
        for col in ["dispatched_at", "environment"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("webhook_events")
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("api_keys")
                    .drop_column("expiry_notified_at")
                    .to_owned(),
            )
            .await
    }
}
