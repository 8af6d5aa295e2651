//! One link of the audit trail's hash chain per batch of events, where there was one per event
//! (`m20261209_000001_audit_chain`). A link (`audit_links`) holds its place (`seq`, 1, 2, 3 …
//! with no gaps), the ids of its events in order (a JSON list), the hash of the link before it,
//! and its own hash: SHA-256 over the previous hash, its place and its events' stored columns,
//! one after the other. Every read is audited before it is answered, so the trail is written in
//! many small batches; a row per event (with two indexes) was most of what the chain cost them.
//!
//! The hash of a link of one event is the old link's, so the links made so far are carried
//! over as they are, hashes included: a change made before the upgrade is still found.
//!
//! PostgreSQL: a trigger per INSERT statement makes the statement's link, under the advisory
//! lock (concurrent writers and replicas take turns at the head). SQLite: the application
//! links the events its transaction inserted just before it commits, under the one writer lock
//! (`store::audit_chain::seal`). `seq` is SQLite's rowid, so a link is one row in one B-tree.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261209_000001_audit_chain::{self as per_event, CHAIN_LOCK};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What a link's INSERT copies an event's id as, on SQLite (it stores uuids as 16 bytes).
const SQLITE_UUID_TEXT: &str = "substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || \
     substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: Vec<String> = match manager.get_database_backend() {
            DbBackend::Postgres => postgres(),
            DbBackend::Sqlite => vec![
                "CREATE TABLE audit_links (seq INTEGER PRIMARY KEY, event_ids TEXT NOT NULL, \
                 prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
                    .to_owned(),
                format!(
                    "INSERT INTO audit_links (seq, event_ids, prev_hash, hash) \
                     SELECT seq, json_array({SQLITE_UUID_TEXT}), prev_hash, hash \
                     FROM (SELECT seq, lower(hex(event_id)) AS h, prev_hash, hash \
                           FROM audit_chain) ORDER BY seq"
                ),
                "DROP TABLE audit_chain".to_owned(),
                "CREATE TRIGGER audit_links_no_update BEFORE UPDATE ON audit_links \
                 BEGIN SELECT RAISE(ABORT, 'audit_links is append-only'); END"
                    .to_owned(),
                "CREATE TRIGGER audit_links_no_delete BEFORE DELETE ON audit_links \
                 BEGIN SELECT RAISE(ABORT, 'audit_links is append-only'); END"
                    .to_owned(),
            ],
            _ => vec![],
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    /// Back to a link per event, every event linked again oldest first (what the earlier
    /// migration does to a trail without a chain).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in [
                "DROP TRIGGER audit_events_link ON audit_events",
                "DROP FUNCTION audit_links_add()",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        db.execute_unprepared("DROP TABLE audit_links").await?;
        per_event::Migration.up(manager).await
    }
}

/// The columns of an event as hashed, in order (`store::audit_chain::body`): each as
/// `<bytes>:<text>`, `~` for null, the time in microseconds since 1970.
pub(crate) fn event_body(e: &str) -> String {
    [
        format!("{e}.id::text"),
        format!("((extract(epoch FROM {e}.occurred_at) * 1000000)::bigint)::text"),
        format!("{e}.actor_kind"),
        format!("{e}.actor_id"),
        format!("{e}.actor_label"),
        format!("{e}.actor_on_behalf_of"),
        format!("{e}.actor_role"),
        format!("{e}.action"),
        format!("{e}.operation"),
        format!("{e}.operation_name"),
        format!("{e}.record_type"),
        format!("{e}.record_ids"),
        format!("{e}.fields"),
        format!("{e}.ip"),
    ]
    .iter()
    .map(|v| format!("(CASE WHEN {v} IS NULL THEN '~' ELSE octet_length({v}) || ':' || {v} END)"))
    .collect::<Vec<_>>()
    .join(" || ")
}

/// The events of a link in their order (`store::audit_chain::link_hash`).
pub(crate) const ORDER: &str = "ORDER BY e.occurred_at, e.id";

/// The trigger function that links the rows an INSERT statement stored (a transition table,
/// `new_events`) after the head, as this migration made it.
pub(crate) fn link_function() -> String {
    let body = event_body("e");
    // Two statements: the head is read by the INSERT, whose snapshot is taken after the lock
    // is held (a statement that took the lock itself could read a head already moved on). No
    // rows, no link.
    format!(
        "CREATE OR REPLACE FUNCTION audit_links_add() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           PERFORM pg_advisory_xact_lock({CHAIN_LOCK}); \
           INSERT INTO audit_links (seq, event_ids, prev_hash, hash) \
             SELECT h.seq + 1, json_agg(e.id {ORDER})::text, h.hash, \
               encode(sha256(convert_to('64:' || h.hash || octet_length((h.seq + 1)::text) \
                 || ':' || (h.seq + 1)::text || string_agg({body}, '' {ORDER}), 'UTF8')), \
                 'hex') \
             FROM new_events e, (SELECT \
                 coalesce((SELECT max(seq) FROM audit_links), 0) AS seq, \
                 coalesce((SELECT hash FROM audit_links ORDER BY seq DESC LIMIT 1), \
                   repeat('0', 64)) AS hash) h \
             GROUP BY h.seq, h.hash; \
           RETURN NULL; \
         END $$"
    )
}

fn postgres() -> Vec<String> {
    vec![
        "CREATE TABLE audit_links (seq bigint PRIMARY KEY, event_ids text NOT NULL, \
         prev_hash text NOT NULL, hash text NOT NULL)"
            .to_owned(),
        "INSERT INTO audit_links (seq, event_ids, prev_hash, hash) \
         SELECT seq, json_build_array(event_id)::text, prev_hash, hash FROM audit_chain \
         ORDER BY seq"
            .to_owned(),
        "DROP TRIGGER audit_events_chain ON audit_events".to_owned(),
        "DROP FUNCTION audit_chain_link()".to_owned(),
        "DROP FUNCTION audit_event_body(audit_events)".to_owned(),
        "DROP TABLE audit_chain".to_owned(),
        link_function(),
        "CREATE TRIGGER audit_events_link AFTER INSERT ON audit_events \
         REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT \
         EXECUTE FUNCTION audit_links_add()"
            .to_owned(),
        "CREATE TRIGGER audit_links_no_change BEFORE UPDATE OR DELETE ON audit_links \
         FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
            .to_owned(),
    ]
}
