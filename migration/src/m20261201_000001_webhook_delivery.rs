//! Webhook delivery: endpoints and their signing secrets, one message per event and endpoint
//! (its `id` is the `webhook-id` receivers dedupe on, the same on every attempt), and the log
//! of every attempt. The outbox gains the environment of events about records without a
//! client (keys, apps, endpoints), and a position: how far fan-out has read it.
//!
//! The position is a cursor in commit order, so that fan-out writes one row per batch rather
//! than marking each event. On SQLite, whose writers take turns, an event's rowid is that
//! order. On PostgreSQL, whose transactions commit in any order, an event carries the id of
//! the transaction that wrote it (`txid`, with `seq` within it), and fan-out reads only events
//! of transactions older than every one still running (`pg_snapshot_xmin`): none can commit
//! behind the cursor.
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
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_events")
                    .add_column(text_null("environment"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("api_keys")
                    .add_column(ts_null("expiry_notified_at"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            db.execute_unprepared(
                "ALTER TABLE webhook_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id(), \
                 ADD COLUMN seq BIGSERIAL NOT NULL",
            )
            .await?;
            db.execute_unprepared(
                "CREATE INDEX ix_webhook_events_position ON webhook_events (txid, seq)",
            )
            .await?;
        }
        // One row: where fan-out has read to. Events from before webhooks existed had nowhere
        // to go; it starts after them.
        db.execute_unprepared(
            "CREATE TABLE webhook_dispatch (id INTEGER NOT NULL PRIMARY KEY, txid TEXT NOT NULL, seq BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared(match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "INSERT INTO webhook_dispatch (id, txid, seq) SELECT 1, COALESCE(MAX(txid), '0')::text, COALESCE(MAX(seq), 0) FROM webhook_events"
            }
            _ => {
                "INSERT INTO webhook_dispatch (id, txid, seq) SELECT 1, '0', COALESCE(MAX(rowid), 0) FROM webhook_events"
            }
        })
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
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE webhook_dispatch").await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE webhook_events DROP COLUMN txid, DROP COLUMN seq")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("webhook_events")
                    .drop_column("environment")
                    .to_owned(),
            )
            .await?;
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
