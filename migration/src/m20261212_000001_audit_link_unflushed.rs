//! PostgreSQL: the chain's trigger function (`m20261210_000001_audit_links`) lets its
//! transaction commit without waiting for the WAL to reach the disk (`synchronous_commit =
//! off`, for that transaction), and the application waits for the flush itself, with the
//! chain's lock released (`store::flush_group`). It also reads the head in one index probe
//! rather than two.
//!
//! Why: the trigger holds an advisory lock from the events' INSERT to the end of the commit,
//! and a synchronous commit ends after its flush, so every audited write waited for the disk
//! one at a time: PostgreSQL's group commit, which flushes many transactions' WAL at once,
//! never had two to group. That halved the write benchmark's throughput (BENCHMARKS.md). Now
//! the lock is held until the commit's WAL is written, and the flushes that follow, one per
//! answer, are grouped by PostgreSQL.
//!
//! What a client is told is unchanged: an answer to a write waits for its flush, so an
//! acknowledged write survives a crash of the database server. What changes is what other
//! sessions see: a commit is visible before it is on disk, for the time of one flush. If the
//! database server crashes in that time, a change that no client was told of is lost, with
//! everything committed after it (the WAL is replayed in order, so never a hole in the chain).
//! SQLite commits in WAL mode without a flush (`synchronous = NORMAL`): nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261209_000001_audit_chain::CHAIN_LOCK;
use crate::m20261210_000001_audit_links::{ORDER, event_body, link_function};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What `m20261211_000001_audit_link_plan` set on the function, which a CREATE OR REPLACE
/// without it clears.
const PLAN: &str = "ALTER FUNCTION audit_links_add() SET enable_seqscan = off";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, [unflushed_link_function(), PLAN.to_owned()]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, [link_function(), PLAN.to_owned()]).await
    }
}

/// The link as before, hashed alike. The head is read by a statement of its own after the
/// lock is held (each statement of the function takes a new snapshot), in one probe of
/// `audit_links_pkey`; none is the genesis. No rows, no link.
fn unflushed_link_function() -> String {
    let body = event_body("e");
    format!(
        "CREATE OR REPLACE FUNCTION audit_links_add() RETURNS trigger LANGUAGE plpgsql AS $$ \
         DECLARE head_seq bigint; head_hash text; \
         BEGIN \
           PERFORM pg_advisory_xact_lock({CHAIN_LOCK}); \
           PERFORM set_config('synchronous_commit', 'off', true); \
           SELECT seq, hash INTO head_seq, head_hash FROM audit_links \
             ORDER BY seq DESC LIMIT 1; \
           IF NOT FOUND THEN head_seq := 0; head_hash := repeat('0', 64); END IF; \
           INSERT INTO audit_links (seq, event_ids, prev_hash, hash) \
             SELECT head_seq + 1, json_agg(e.id {ORDER})::text, head_hash, \
               encode(sha256(convert_to('64:' || head_hash \
                 || octet_length((head_seq + 1)::text) || ':' || (head_seq + 1)::text \
                 || string_agg({body}, '' {ORDER}), 'UTF8')), 'hex') \
             FROM new_events e HAVING count(*) > 0; \
           RETURN NULL; \
         END $$"
    )
}

async fn on_postgres<const N: usize>(
    manager: &SchemaManager<'_>,
    statements: [String; N],
) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::Postgres {
        for sql in statements {
            manager.get_connection().execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}
