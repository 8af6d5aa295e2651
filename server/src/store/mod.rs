//! The only module that talks to the database. Every read of patient or test rows takes a
//! `RowScope` and applies it in SQL.

pub mod admins;
pub mod api_keys;
pub mod audit;
pub mod audit_chain;
mod audit_touches;
mod bulk;
pub mod changes;
pub mod clients;
pub mod columns;
mod conn;
mod constraints;
mod flush_group;
mod group_commit;
pub mod imports;
mod json_array_decode;
pub mod lab_code_mappings;
pub mod lab_messages;
pub mod lab_tests;
mod list_fetch;
pub mod oauth;
pub mod outside_records;
pub mod page;
pub mod partner_apps;
pub mod patients;
mod pg_decode;
pub mod scope;
pub mod sealed;
pub mod service_connections;
pub mod service_polls;
pub mod settings;
pub mod webhook_delivery;
pub mod webhook_endpoints;
pub mod webhook_events;
pub mod write;
mod write_lock;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use migration::MigratorTrait;

use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, FromQueryResult, QueryResult, Statement, TransactionTrait,
};
use tokio::sync::Notify;

use crate::error::AppResult;
use crate::keyring::Keyring;
pub use conn::Conn;
use flush_group::FlushGroup;
use group_commit::GroupWriter;
pub use write::{Effect, Effects, WriteTxn};
use write_lock::{Turn, WriteLock};

#[derive(Clone)]
pub struct Store {
    db: Conn,
    /// SQLite: this process's one writer at a time (`write_lock`).
    write_lock: Option<Arc<WriteLock>>,
    /// Statements executed since start: an operational figure, and how the tests prove
    /// that nested lists are batched rather than one query per row.
    statements: Arc<AtomicU64>,
    /// SQLite only: stores plain inserts from concurrent requests in shared transactions.
    group: Option<GroupWriter>,
    /// SQLite: the read-audit writer's store, whose pool is one connection that only the
    /// writer's task uses (`connect_for_read_audit`).
    audit_connection: bool,
    /// Rows of the audit trail's record index committed this hour (`audit_touches`).
    recent_touches: Arc<audit_touches::RecentTouches>,
    /// Told after every commit that wrote webhook events: the delivery worker waits on it,
    /// so that an event goes out without waiting for the worker's next poll.
    events_written: Arc<Notify>,
    /// Bumped by every change to webhook endpoints or their secrets, so that the delivery
    /// worker's copy of them is renewed at once rather than when it next expires.
    webhook_endpoints_changed: Arc<AtomicU64>,
    /// Told when an import's upload is complete: the import worker waits on it.
    imports_queued: Arc<Notify>,
    /// The master keys secrets at rest are sealed with (`keyring`, `sealed`).
    keyring: Arc<Keyring>,
    /// A validation-only request's store (`rehearsing`): its writes run and are rolled back.
    rehearsal: bool,
    /// PostgreSQL: a transaction that stores audit events commits without waiting for its
    /// flush (migration `m20261212_000001_audit_link_unflushed`), and the write's answer
    /// waits for it afterwards, here. None for the read-audit writer's store, whose sessions
    /// never wait for a flush, and on SQLite.
    flushes: Option<Arc<FlushGroup>>,
}

/// Pool sizes unless configured. SQLite's connections each run on a thread of their own with
/// its own memory; with statements run off the request workers (`conn`) four keep both cores
/// busy, and fewer than sixteen lowered peak memory and the writes' tail latency at the same
/// throughput, while three cost Q2 throughput (docs/benchmarks-history.md). A PostgreSQL
/// connection is a socket and a server process, and each waits out a round trip per
/// statement, so more of them pay off.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 16;
/// The PostgreSQL advisory lock migrations run under (any number no other code takes).
const MIGRATION_LOCK: i64 = 0x5357_4d49_4752; // "SWMIGR"

/// Connections opened at once at start-up on PostgreSQL (see `Store::connect`).
const STARTUP_CONNECTIONS: usize = 3;

/// The file of a SQLite URL (`sqlite://path?mode=rwc`); none for an in-memory database
/// (`sqlite::memory:`, or `mode=memory`).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || options.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

impl Store {
    pub async fn connect(url: &str, max_connections: Option<u32>) -> anyhow::Result<Store> {
        Store::connect_with(url, max_connections, &[]).await
    }

    /// A store for the webhook worker, whose statements find their rows in queue tables (the
    /// outbox, the messages) by index. Those tables start empty and grow by thousands of rows
    /// a second, and a generic plan (see below) made while one was empty scans it whole, for
    /// every call, until autovacuum next analyses it, a minute or more later. With sequential
    /// scans off in these sessions the planner takes the index however small it thinks the
    /// table is. Tables without a fitting index are still scanned.
    pub async fn connect_for_queues(
        url: &str,
        max_connections: Option<u32>,
    ) -> anyhow::Result<Store> {
        Store::connect_with(url, max_connections, &[("enable_seqscan", "off")]).await
    }

    /// The read-audit writer's store. On PostgreSQL its commits do not wait for their WAL
    /// flush (`synchronous_commit = off`, in its own sessions only): a committed event survives
    /// Switchboard's crash, as every SQLite commit does (WAL, `synchronous = NORMAL`), and
    /// only a crash of the database server can lose the last moments of reads' events, never
    /// a hole in the chain (a later flush covers every earlier commit). Each answer waits for
    /// its reads' commit; waiting for a disk flush as well cost PostgreSQL's Q2 half its
    /// throughput (docs/benchmarks-history.md). Writes and their events stay synchronous.
    ///
    /// A connection of its own on PostgreSQL for a second reason: a connection belongs to the
    /// runtime that opened it, and pooled connections opened while serving requests belong to
    /// the HTTP workers' runtimes, which are gone by the time the last events are written at
    /// shutdown; those writes failed ("A Tokio 1.x context was found, but it is being
    /// shutdown") and the events were lost. This one is opened on the caller's (main) runtime.
    ///
    /// On SQLite it shares `main`'s writer lock and has one connection of its own: the reads'
    /// own connections are all busy under load, and a batch that waited for one held up every
    /// request in it; with its connection to itself the writer sends a batch's whole
    /// transaction in one call (`link_and_commit`). An in-memory database is one
    /// connection's alone: there it is `main`.
    pub async fn connect_for_read_audit(url: &str, main: &Store) -> anyhow::Result<Store> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(main.clone());
        }
        if main.backend() == DbBackend::Postgres {
            let own = Store::connect_with(url, Some(1), &[("synchronous_commit", "off")]).await?;
            return Ok(Store {
                flushes: None,
                ..own.with_keyring(main.keyring.clone())
            });
        }
        // Not counted in `statements_executed`: its statements are the trail's alone.
        let pool = open_pool(url, Some(1), &[], &Arc::default()).await?;
        Ok(Store {
            db: Conn::new(pool, Some(tokio::runtime::Handle::current())),
            audit_connection: true,
            ..main.clone()
        })
    }

    /// `session`: PostgreSQL settings of every session of the pool.
    async fn connect_with(
        url: &str,
        max_connections: Option<u32>,
        session: &'static [(&'static str, &'static str)],
    ) -> anyhow::Result<Store> {
        let statements = Arc::new(AtomicU64::new(0));
        let pool = open_pool(url, max_connections, session, &statements).await?;
        let postgres = pool.get_database_backend() == DbBackend::Postgres;
        let write_lock = (!postgres).then(|| Arc::new(WriteLock::default()));
        let group = write_lock
            .as_ref()
            .map(|lock| GroupWriter::start(pool.clone(), lock.clone()));
        let runtime = (!postgres).then(tokio::runtime::Handle::current);
        let flushes = postgres.then(|| Arc::new(FlushGroup::new(pool.clone())));
        let db = Conn::new(pool, runtime);
        Ok(Store {
            db,
            write_lock,
            statements,
            group,
            audit_connection: false,
            recent_touches: Arc::default(),
            events_written: Arc::default(),
            webhook_endpoints_changed: Arc::default(),
            imports_queued: Arc::default(),
            keyring: Arc::new(Keyring::empty()),
            rehearsal: false,
            flushes,
        })
    }

    /// This store for a validation-only request: every change made through `insert`,
    /// `write_together` or `begin_write` runs in full, with every check the database makes
    /// (uniqueness, references), in a transaction of its own that is then rolled back. So
    /// nothing is stored and no webhook event leaves.
    pub fn rehearsing(&self) -> Store {
        Store {
            rehearsal: true,
            ..self.clone()
        }
    }

    pub fn is_rehearsal(&self) -> bool {
        self.rehearsal
    }

    /// This store with `keyring` to seal and open secrets at rest.
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> Store {
        self.keyring = keyring;
        self
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// Applies the pending migrations. On PostgreSQL they run in one transaction that first
    /// takes an advisory lock: replicas starting together take turns, the first applies them
    /// and the others then find nothing pending (and a failed migration leaves nothing half
    /// applied). SQLite is one process's file.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let pool = self.db.pool();
        if self.backend() != DbBackend::Postgres {
            let pending = migration::Migrator::get_pending_migrations_read_only(pool).await?;
            let chain_is_new = pending
                .iter()
                .any(|m| migration::builds_the_chain(m.name()));
            if !pending.is_empty() {
                migration::Migrator::up(pool, None)
                    .await
                    .context("running database migrations")?;
            }
            if !chain_is_new {
                // Every event stored since the chain began was linked when stored, so an
                // unlinked one was inserted around the application: left for `switchboard
                // audit verify` to find, not linked by the next upgrade as if it were ours.
                return Ok(());
            }
            // Events stored before the chain existed are linked now rather than by the first
            // write, which would wait for it.
            let txn = self.begin_write().await?;
            audit_chain::seal(&txn.txn, audit_chain::Unlinked::All)
                .await
                .context("linking the audit trail")?;
            return txn
                .commit(Effects::none())
                .await
                .map_err(|e| anyhow::anyhow!(e.message()));
        }
        let txn = pool.begin().await.context("starting the migrations")?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await
            .context("waiting for other replicas' migrations")?;
        migration::Migrator::up(&txn, None)
            .await
            .context("running database migrations")?;
        txn.commit().await.context("committing the migrations")
    }

    /// How many migrations this build knows that the database has not applied (readiness: a
    /// replica of a newer build is not ready until they are).
    pub async fn pending_migrations(&self) -> AppResult<usize> {
        Ok(
            migration::Migrator::get_pending_migrations_read_only(self.db.pool())
                .await?
                .len(),
        )
    }

    /// Statements executed through this store (and its clones) so far, other than the
    /// read-audit writer's (`audit_trail_only`).
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// SQLite: how long this process's one writer has held the write lock since it started
    /// (for what gives way to the requests when it is the bottleneck). PostgreSQL: `None`.
    pub fn write_lock_busy(&self) -> Option<std::time::Duration> {
        self.write_lock.as_ref().map(|lock| lock.busy())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn conn(&self) -> &Conn {
        &self.db
    }

    /// SQLite: waits for this process's turn to write (`write_lock`); PostgreSQL: nothing.
    async fn writer_turn(&self) -> Option<Turn<'_>> {
        match &self.write_lock {
            Some(lock) => Some(lock.turn().await),
            None => None,
        }
    }

    pub async fn begin_write(&self) -> AppResult<WriteTxn<'_>> {
        let guard = self.writer_turn().await;
        let txn = self.db.pool().begin().await?;
        Ok(WriteTxn {
            txn,
            guard,
            events_written: &self.events_written,
            rehearsal: self.rehearsal,
            flushes: self.flushes.as_deref(),
        })
    }

    /// A rehearsal's statements, run in a transaction that is rolled back: their rows.
    async fn rehearse(&self, statements: Vec<Statement>) -> AppResult<Vec<QueryResult>> {
        let txn = self.begin_write().await?;
        let mut rows = Vec::new();
        for statement in statements {
            rows.extend(txn.txn.query_all_raw(statement).await?);
        }
        txn.txn.rollback().await?;
        Ok(rows)
    }

    /// What the delivery worker waits on: signalled by commits that wrote webhook events and
    /// by requests that queued messages.
    pub fn events_written(&self) -> Arc<Notify> {
        self.events_written.clone()
    }

    /// What the import worker waits on (`imports::queue`).
    pub fn imports_queued(&self) -> Arc<Notify> {
        self.imports_queued.clone()
    }

    /// The count of changes to webhook endpoints (`webhook_endpoints_changed`).
    pub fn webhook_endpoints_version(&self) -> Arc<AtomicU64> {
        self.webhook_endpoints_changed.clone()
    }

    /// Says that webhook endpoints changed, and wakes the delivery worker.
    pub fn webhook_endpoints_changed(&self) {
        self.webhook_endpoints_changed
            .fetch_add(1, Ordering::Relaxed);
        self.events_written.notify_one();
    }

    /// Takes due webhook messages of one endpoint for `owner` (`webhook_delivery::claim`).
    pub async fn claim_webhook_messages(
        &self,
        endpoint_id: uuid::Uuid,
        owner: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> AppResult<Vec<entity::webhook_message::Model>> {
        let claim =
            webhook_delivery::claim(self.backend(), endpoint_id, owner, now, lease_until, limit);
        webhook_delivery::claimed(self.write_together(vec![claim]).await?)
    }

    /// Gives back the webhook leases `owner` holds (`webhook_delivery::release`).
    pub async fn release_webhook_leases(&self, owner: uuid::Uuid) -> AppResult<u64> {
        let _guard = self.writer_turn().await;
        webhook_delivery::release(self.db.pool(), owner).await
    }

    /// Audit events written on their own (the read-audit writer's batches, failed logins).
    /// On SQLite they hold the writer lock like every other write: a write transaction
    /// (`begin_write`) that read before another connection committed could not upgrade to
    /// writing (SQLITE_BUSY_SNAPSHOT) and failed.
    pub async fn insert_audit_events(&self, events: &[audit::NewAuditEvent]) -> AppResult<()> {
        self.insert_audit_rows(&audit::rows(events.to_vec())).await
    }

    /// Stores events whose ids are taken (`audit::rows`): `insert_audit_events`' work, for the
    /// read-audit writer, whose journal holds the rows as they will be stored.
    pub async fn insert_audit_rows(&self, events: &[audit::Row]) -> AppResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        // One call (`audit::batch`): an event is never stored without its rows of the record
        // index. PostgreSQL's trigger links the events; on SQLite their link is computed
        // from the rows in memory, after the head the writer lock knows (read when it does
        // not), and written in the same call. Every SQLite transaction that stores events
        // links them before it commits, so the events of this one are the only ones not
        // linked yet.
        let audit::Batch {
            statements,
            touches,
            models,
        } = audit::batch(self.backend(), events, &self.recent_touches);
        match self.writer_turn().await {
            None => {
                for statement in statements {
                    self.db.pool().execute_raw(statement).await?;
                }
                if let Some(flushes) = &self.flushes {
                    flushes.flushed().await?;
                }
            }
            Some(mut turn) => {
                // The head this process knows is stale only if another process wrote to the
                // file since: the link's INSERT then fails on its primary key, and one try
                // that reads the head inside the transaction follows.
                let known = turn.take();
                let retry = known.is_some();
                *turn = Some(
                    match self.link_and_commit(&statements, &models, known).await {
                        Err(_) if retry => self.link_and_commit(&statements, &models, None).await?,
                        stored => stored?,
                    },
                );
            }
        }
        self.recent_touches.committed(&touches);
        Ok(())
    }

    /// SQLite: `statements` (a batch of events, `audit::batch`) and the link of their rows
    /// `models` after `head` (read in the transaction when not known), in one transaction;
    /// the new head once committed.
    async fn link_and_commit(
        &self,
        statements: &[Statement],
        models: &[entity::audit_event::Model],
        head: Option<audit_chain::ChainHead>,
    ) -> AppResult<audit_chain::ChainHead> {
        let pool = self.db.pool();
        if !self.audit_connection {
            let txn = pool.begin().await?;
            let head = match head {
                Some(head) => head,
                None => audit_chain::last_link(&txn).await?,
            };
            let (link, head) = audit_chain::link_after(&head, models);
            let parts = statements.iter().cloned().chain([link]).collect();
            txn.execute_raw(write::joined(DbBackend::Sqlite, parts))
                .await?;
            txn.commit().await?;
            return Ok(head);
        }
        // The pool's one connection is this task's (`connect_for_read_audit`), so BEGIN,
        // COMMIT and a ROLLBACK after a failure all reach it, and the transaction can be sent
        // whole in one call: one hand-over to the connection's thread, not three, when the
        // head is known.
        let begin = Statement::from_string(
            DbBackend::Sqlite,
            format!("{} BEGIN IMMEDIATE", audit_chain::AUDIT_TRAIL),
        );
        let stored = async {
            let (mut parts, head) = match head {
                Some(head) => (vec![begin], head),
                None => {
                    pool.execute_raw(begin).await?;
                    (Vec::new(), audit_chain::last_link(pool).await?)
                }
            };
            let (link, head) = audit_chain::link_after(&head, models);
            parts.extend(statements.iter().cloned());
            parts.push(link);
            parts.push(Statement::from_string(DbBackend::Sqlite, "COMMIT"));
            pool.execute_raw(write::joined(DbBackend::Sqlite, parts))
                .await?;
            Ok::<_, sea_orm::DbErr>(head)
        };
        match stored.await {
            Ok(head) => Ok(head),
            Err(err) => {
                // A failed statement leaves the transaction open (an error if there is none).
                let _ = pool.execute_unprepared("ROLLBACK").await;
                Err(err.into())
            }
        }
    }

    /// Inserts `row` and its `effects`, committed together, and returns the stored row.
    /// On SQLite it joins concurrent inserts in one transaction (`group_commit`); on
    /// PostgreSQL, whose writers do not wait for each other, it is one statement of its own
    /// (no BEGIN and COMMIT round trips).
    pub async fn insert<A>(
        &self,
        row: A,
        effects: Effects,
    ) -> AppResult<<A::Entity as EntityTrait>::Model>
    where
        A: ActiveModelTrait + Send,
        <A::Entity as EntityTrait>::Model: FromQueryResult,
    {
        let (statement, audit_ids) = write::insert_statement(self.backend(), row, &effects);
        if self.rehearsal {
            return write::first_row::<A::Entity>(self.rehearse(vec![statement]).await?);
        }
        let rows = match &self.group {
            Some(group) => group.write(statement, audit_ids).await?,
            None => self.db.query_all_raw(statement).await?,
        };
        if let Some(flushes) = self.flushes.as_ref().filter(|_| effects.has_audit()) {
            flushes.flushed().await?;
        }
        if effects.has_events() {
            self.events_written.notify_one();
        }
        write::first_row::<A::Entity>(rows)
    }

    /// Runs `statements` in order, committed together or not at all, and returns the rows
    /// they gave back. They store no audit event (those come with their change's `Effects`,
    /// which say what the transaction links). On SQLite they are one job of the group
    /// commit: a transaction of their own would hold the write lock across a hand-over per
    /// statement, each waiting for a busy runtime to poll it again, while the requests' writes
    /// queue behind it. On PostgreSQL, a transaction (none for a single statement).
    pub async fn write_together(&self, statements: Vec<Statement>) -> AppResult<Vec<QueryResult>> {
        if self.rehearsal {
            return self.rehearse(statements).await;
        }
        if let Some(group) = &self.group {
            let statement = write::joined(self.backend(), statements);
            return group.write(statement, Vec::new()).await;
        }
        if statements.len() == 1 {
            let statement = statements.into_iter().next().expect("one statement");
            return Ok(self.db.query_all_raw(statement).await?);
        }
        let txn = self.db.pool().begin().await?;
        let mut rows = Vec::new();
        for statement in statements {
            rows.extend(txn.query_all_raw(statement).await?);
        }
        txn.commit().await?;
        Ok(rows)
    }

    /// Refreshes the query planner's statistics. Without them SQLite guesses, and for
    /// `lab_tests WHERE patient_id IN (…) AND client_id … AND location_id …` it guesses the
    /// client/location index and scans every test of the client, an order of magnitude
    /// slower than the patient index. On SQLite `PRAGMA optimize` only analyses tables whose statistics are
    /// missing or stale, with a bounded sample, so it is cheap to call at start-up and
    /// periodically; PostgreSQL's autovacuum keeps its own, and gets an explicit ANALYZE only
    /// after bulk loads.
    pub async fn optimize(&self, after_bulk_load: bool) -> AppResult<()> {
        match self.backend() {
            DbBackend::Sqlite => {
                self.db
                    .execute_unprepared("PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002;")
                    .await?;
            }
            _ if after_bulk_load => {
                self.db.execute_unprepared("ANALYZE").await?;
            }
            _ => {}
        }
        Ok(())
    }

    pub async fn ping(&self) -> AppResult<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.db.into_pool().close().await;
    }
}

/// Why PostgreSQL could not be reached. The pool reports only that it timed out waiting for a
/// connection; one connection opened directly says what went wrong (refused, unknown host,
/// authentication, no such database).
async fn why_postgres_refused(url: &str, pool_error: sea_orm::DbErr) -> anyhow::Error {
    use sea_orm::sqlx::Connection;
    match sea_orm::sqlx::PgConnection::connect(url).await {
        Err(cause) => anyhow::Error::new(cause),
        Ok(conn) => {
            let _ = conn.close().await;
            anyhow::Error::new(pool_error)
        }
    }
}

/// Whether `sql` is only the audit trail's: the read-audit writer's batches and the chain's
/// links (marked `audit_chain::AUDIT_TRAIL`). Every request that reads is audited before it
/// is answered, on SQLite through this same pool; the statement count is what a request cost
/// to answer, so that a test can say "refused before any query ran" or "one query per page".
fn audit_trail_only(sql: &str) -> bool {
    sql.starts_with(audit_chain::AUDIT_TRAIL)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A pool of connections to `url` (`session`: PostgreSQL settings of each), counting the
/// statements it runs in `statements`.
async fn open_pool(
    url: &str,
    max_connections: Option<u32>,
    session: &'static [(&'static str, &'static str)],
    statements: &Arc<AtomicU64>,
) -> anyhow::Result<DatabaseConnection> {
    let postgres = url.starts_with("postgres");
    let max_connections = max_connections.unwrap_or(if postgres {
        POSTGRES_CONNECTIONS
    } else {
        SQLITE_CONNECTIONS
    });
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_lazy(postgres)
        .max_connections(max_connections)
        .min_connections(1)
        // sqlx pings every pooled connection before handing it out: one more round trip
        // per statement (on SQLite one more hand-over to the connection's thread; Q2 was
        // faster on both backends without it, docs/benchmarks-history.md). Under load
        // connections are never idle for long, so only those idle for a while are
        // checked, which still catches a database that restarted.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL lets readers proceed during a write; NORMAL sync is durable at each
            // checkpoint and is the recommended pairing with WAL.
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // The driver runs each connection on its own thread and hands rows over
                // a bounded channel; at the default of 50 a nested page (300 rows) made
                // the thread stop and be woken several times per query.
                .row_buffer_size(512)
        })
        // Generic plans: every statement here is prepared and reused, and with custom
        // plans PostgreSQL planned each execution again, an eighth of its CPU under Q1
        // (docs/benchmarks-history.md, seventh pass). Our queries' best plans do not depend on the
        // values bound (keys, scopes, pages), so one plan per statement serves all.
        .map_sqlx_postgres_opts(move |o| {
            o.options([("plan_cache_mode", "force_generic_plan")])
                .options(session.iter().copied())
        });
    let mut pool = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the database ({})", redact(url)))?;
    if postgres {
        // Start-up runs its statements back to back, and sqlx returns a connection to the
        // pool asynchronously, so each found none idle and opened another: three
        // connections one after the other, each a full handshake (with TLS, and before the
        // vendored TCP_NODELAY fix stalled on delayed ACKs; strace). Opened together they
        // cost one handshake's time (start-up figures: docs/benchmarks-history.md).
        // No more than the pool holds (the audit writer's pool holds one).
        let opened = STARTUP_CONNECTIONS.min(max_connections as usize);
        if let Err(err) = futures_util::future::try_join_all((0..opened).map(|_| pool.ping())).await
        {
            return Err(why_postgres_refused(url, err).await)
                .with_context(|| format!("connecting to the database ({})", redact(url)));
        }
    }
    let counter = statements.clone();
    pool.set_metric_callback(move |info| {
        if !audit_trail_only(&info.statement.sql) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(pool)
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            super::redact("postgres://sb:secret@db:5432/x"),
            "postgres://sb:***@db:5432/x"
        );
        assert_eq!(
            super::redact("sqlite://data/x.db?mode=rwc"),
            "sqlite://data/x.db?mode=rwc"
        );
    }
}

/// A database keeps starting across releases whichever migrations it went through.
#[cfg(test)]
mod upgrade_tests {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;

    use super::Store;

    async fn audit_columns(store: &Store) -> Vec<String> {
        let rows = store
            .db
            .pool()
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT name FROM pragma_table_info('audit_events') WHERE name LIKE 'actor_%'",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect()
    }

    #[tokio::test]
    async fn either_history_of_the_audit_actor_migration_upgrades() {
        const BOTH: [&str; 2] = ["actor_on_behalf_of", "actor_role"];
        // Before the role: the first four migrations, the fourth adding only on-behalf-of.
        let old = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        migration::Migrator::up(old.db.pool(), Some(4))
            .await
            .unwrap();
        let before = audit_columns(&old).await;
        assert!(before.contains(&BOTH[0].to_owned()) && !before.contains(&BOTH[1].to_owned()));
        old.migrate()
            .await
            .expect("a database from before the role starts");
        let mut columns = audit_columns(&old).await;
        columns.retain(|c| BOTH.contains(&c.as_str()));
        columns.sort();
        assert_eq!(columns, BOTH);

        // After it, without the restored name applied: the restored migration finds its
        // column there and adds nothing.
        let newer = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        newer.migrate().await.unwrap();
        newer
            .db
            .pool()
            .execute_unprepared(
                "DELETE FROM seaql_migrations WHERE version = 'm20261129_000002_audit_on_behalf_of'",
            )
            .await
            .unwrap();
        newer
            .migrate()
            .await
            .expect("a database from after the role starts");
        assert_eq!(
            migration::Migrator::get_pending_migrations(newer.db.pool())
                .await
                .unwrap()
                .len(),
            0
        );
    }
}
