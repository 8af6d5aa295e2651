//! The audit trail as a hash chain: every event gets a link (`audit_chain`) holding its place
//! (`seq`, 1, 2, 3 … with no gaps), the hash of the link before it, and its own hash: SHA-256
//! over the previous hash, its place and the event's stored columns. Changing, deleting or
//! reordering an event, or a link, breaks the chain from there on (`switchboard audit verify`).
//!
//! The link is made in the transaction that inserts the event. On PostgreSQL a trigger makes
//! it, under a transaction-scoped advisory lock, so concurrent writers and replicas take turns
//! at the chain's head. SQLite cannot hash in SQL: there the application links the events its
//! transaction inserted just before it commits (`store::audit_chain::seal`), under the one
//! writer lock every SQLite write holds. Both compute the same hash over the same encoding:
//! each value as `<bytes>:<text>`, `~` for null (`store::audit_chain::body`).
//!
//! Events already stored are linked here, oldest first (on SQLite by the first seal).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::text;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The advisory lock that orders the chain on PostgreSQL (any constant of this project's own).
pub const CHAIN_LOCK: i64 = 0x0053_5743_4841_494e; // "SWCHAIN"

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_chain")
                    .col(
                        ColumnDef::new("seq")
                            .big_integer()
                            .not_null()
                            .primary_key()
                            .to_owned(),
                    )
                    .col(
                        ColumnDef::new("event_id")
                            .uuid()
                            .not_null()
                            .unique_key()
                            .to_owned(),
                    )
                    .col(text("prev_hash"))
                    .col(text("hash"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in postgres() {
                    db.execute_unprepared(&sql).await?;
                }
            }
            DbBackend::Sqlite => {
                for sql in [
                    "CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain \
                     BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END",
                    "CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain \
                     BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END",
                ] {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for sql in [
                "DROP TRIGGER audit_events_chain ON audit_events",
                "DROP FUNCTION audit_chain_link()",
                "DROP FUNCTION audit_chain_append(audit_events)",
                "DROP FUNCTION audit_event_body(audit_events)",
                "DROP FUNCTION audit_field(text)",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        manager
            .drop_table(Table::drop().table("audit_chain").to_owned())
            .await
    }
}

/// The functions and trigger that link each new event, and the linking of the events already
/// stored (oldest first).
fn postgres() -> Vec<String> {
    vec![
        "CREATE FUNCTION audit_field(v text) RETURNS text IMMUTABLE LANGUAGE sql AS \
         $$ SELECT CASE WHEN v IS NULL THEN '~' ELSE octet_length(v) || ':' || v END $$"
            .to_owned(),
        // Keep in step with store::audit_chain::body.
        "CREATE FUNCTION audit_event_body(e audit_events) RETURNS text STABLE LANGUAGE sql AS $$ \
         SELECT audit_field(e.id::text) \
         || audit_field(((extract(epoch FROM e.occurred_at) * 1000000)::bigint)::text) \
         || audit_field(e.actor_kind) || audit_field(e.actor_id) || audit_field(e.actor_label) \
         || audit_field(e.actor_on_behalf_of) || audit_field(e.actor_role) \
         || audit_field(e.action) || audit_field(e.operation) || audit_field(e.operation_name) \
         || audit_field(e.record_type) || audit_field(e.record_ids) || audit_field(e.fields) \
         || audit_field(e.ip) $$"
            .to_owned(),
        format!(
            "CREATE FUNCTION audit_chain_append(e audit_events) RETURNS void LANGUAGE plpgsql AS $$ \
             DECLARE prev text := repeat('0', 64); next_seq bigint := 1; head audit_chain%ROWTYPE; \
             BEGIN \
               PERFORM pg_advisory_xact_lock({CHAIN_LOCK}); \
               SELECT * INTO head FROM audit_chain ORDER BY seq DESC LIMIT 1; \
               IF FOUND THEN prev := head.hash; next_seq := head.seq + 1; END IF; \
               INSERT INTO audit_chain (seq, event_id, prev_hash, hash) VALUES (next_seq, e.id, prev, \
                 encode(sha256(convert_to(audit_field(prev) || audit_field(next_seq::text) \
                   || audit_event_body(e), 'UTF8')), 'hex')); \
             END $$"
        ),
        "DO $$ DECLARE e audit_events; BEGIN \
           FOR e IN SELECT * FROM audit_events ORDER BY occurred_at, id LOOP \
             PERFORM audit_chain_append(e); \
           END LOOP; \
         END $$"
            .to_owned(),
        "CREATE FUNCTION audit_chain_link() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM audit_chain_append(NEW); RETURN NULL; END $$"
            .to_owned(),
        "CREATE TRIGGER audit_events_chain AFTER INSERT ON audit_events \
         FOR EACH ROW EXECUTE FUNCTION audit_chain_link()"
            .to_owned(),
        "CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain \
         FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
            .to_owned(),
    ]
}
