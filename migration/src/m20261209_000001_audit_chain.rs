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
//!
//! Since `m20261210_000001_audit_links`, a link holds a batch of events; this one's links are
//! carried over there.

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
                "DROP FUNCTION audit_event_body(audit_events)",
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
/// stored (oldest first). The trigger runs once per statement, over the rows it inserted
/// (a transition table): one lock, one read of the head and one INSERT of links per batch,
/// where a trigger per row paid all three (and the function calls) for every event.
fn postgres() -> Vec<String> {
    // The encoding of one value (`store::audit_chain::field`).
    const FIELD: &str = "CASE WHEN v IS NULL THEN '~' ELSE octet_length(v) || ':' || v END";
    // The hash of the link after `prev` at place `last` (`store::audit_chain::link_hash`).
    const HASH: &str = "encode(sha256(convert_to('64:' || prev || octet_length(last::text) \
                        || ':' || last::text || audit_event_body(e), 'UTF8')), 'hex')";
    vec![
        // Keep in step with store::audit_chain::body.
        format!(
            "CREATE FUNCTION audit_event_body(e audit_events) RETURNS text IMMUTABLE \
             LANGUAGE plpgsql AS $$ DECLARE v text; body text := ''; BEGIN \
               FOREACH v IN ARRAY ARRAY[e.id::text, \
                 ((extract(epoch FROM e.occurred_at) * 1000000)::bigint)::text, \
                 e.actor_kind, e.actor_id, e.actor_label, e.actor_on_behalf_of, e.actor_role, \
                 e.action, e.operation, e.operation_name, e.record_type, e.record_ids, \
                 e.fields, e.ip] LOOP \
                 body := body || {FIELD}; \
               END LOOP; \
               RETURN body; \
             END $$"
        ),
        format!(
            "CREATE FUNCTION audit_chain_link() RETURNS trigger LANGUAGE plpgsql AS $$ \
             DECLARE prev text := repeat('0', 64); last bigint := 0; e audit_events; h text; \
               seqs bigint[] := '{{}}'; ids uuid[] := '{{}}'; prevs text[] := '{{}}'; \
               hashes text[] := '{{}}'; \
             BEGIN \
               PERFORM pg_advisory_xact_lock({CHAIN_LOCK}); \
               SELECT seq, hash INTO last, prev FROM audit_chain ORDER BY seq DESC LIMIT 1; \
               IF NOT FOUND THEN last := 0; prev := repeat('0', 64); END IF; \
               FOR e IN SELECT * FROM new_events ORDER BY occurred_at, id LOOP \
                 last := last + 1; \
                 h := {HASH}; \
                 seqs := seqs || last; ids := ids || e.id; prevs := prevs || prev; \
                 hashes := hashes || h; \
                 prev := h; \
               END LOOP; \
               INSERT INTO audit_chain (seq, event_id, prev_hash, hash) \
                 SELECT * FROM unnest(seqs, ids, prevs, hashes); \
               RETURN NULL; \
             END $$"
        ),
        format!(
            "DO $$ DECLARE prev text := repeat('0', 64); last bigint := 0; e audit_events; \
               h text; BEGIN \
               FOR e IN SELECT * FROM audit_events ORDER BY occurred_at, id LOOP \
                 last := last + 1; \
                 h := {HASH}; \
                 INSERT INTO audit_chain (seq, event_id, prev_hash, hash) \
                   VALUES (last, e.id, prev, h); \
                 prev := h; \
               END LOOP; \
             END $$"
        ),
        "CREATE TRIGGER audit_events_chain AFTER INSERT ON audit_events \
         REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT \
         EXECUTE FUNCTION audit_chain_link()"
            .to_owned(),
        "CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain \
         FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
            .to_owned(),
    ]
}
