//! Writes read-audit events before the answers they cover are sent (group commit). Write
//! events do not come through here: they are inserted in the same transaction as the change
//! they record.
//!
//! Why: a read whose audit event is still in memory when the process dies has left the server
//! without a trace. Reads used to be batched and written after their answers; a `kill -9`
//! after a burst of reads lost every one of them. Now each request hands its events to one
//! writer task and waits until the transaction that holds them has committed. The writer
//! takes everything that arrived while it was writing into its next transaction, so under
//! load one commit covers many requests: the cost is a commit's latency per request, not a
//! commit per request of throughput.
//!
//! On SQLite with a database file the read appends its events to a journal instead and is
//! answered without waiting; the writer stores them a few milliseconds later (`journal`).

pub mod export;
pub mod journal;
pub mod security;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use self::journal::Journal;
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::audit::{self, NewAuditEvent, Row};

enum Command {
    /// Events whose reads wait for their commit (no journal: PostgreSQL, in-memory SQLite).
    Record {
        rows: Vec<Row>,
        stored: oneshot::Sender<bool>,
    },
    /// Events in the journal's segment `seq`, whose reads have been answered.
    Journaled {
        rows: Vec<Row>,
        seq: u64,
    },
    /// Answered once everything handed over before it is in the trail, with what any
    /// process that is gone left in its journal.
    Settle(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Command>,
    /// Events handed over and not yet committed (or given up on): `/metrics`' audit queue.
    queued: Arc<AtomicUsize>,
    /// SQLite with a database file: reads are answered once their events are in the journal.
    journal: Option<Arc<Journal>>,
    /// The journaled events' last batch could not be stored: reads are refused until it is.
    failing: Arc<AtomicBool>,
    /// Journaled events unstored past which a read waits for the writer (`MOST_UNSTORED`).
    most_unstored: usize,
    /// Told each time the writer stores a batch or finds it refused: reads waiting for it
    /// look again.
    progress: Arc<Notify>,
}

/// Events stored by one transaction at most (then the next takes the rest): large enough for
/// every request in flight under load, small enough that one commit never holds the writer
/// lock for long.
const MAX_BATCH: usize = 2_000;

/// Pauses before the second and third attempt at a batch the database refused. Past them the
/// requests waiting for it are refused instead of answered unaudited.
const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

/// Journaled events are already safe: the writer lets them gather this long before a commit,
/// so that it commits a few times a second rather than once per handful of reads.
const PACE: Duration = Duration::from_millis(20);

/// Reads that wait for their commit (no journal) while the writer is busy wait this much longer
/// for others to join their batch. Why: under load each request used to find the writer free
/// and commit with one or two others, and the batch's fixed cost (a statement, the chain's
/// link, a round trip) was most of what auditing a read cost the database. A lone read, with
/// the writer idle, does not wait. Tokio's timer rounds the wait up to its next millisecond.
const GATHER: Duration = Duration::from_micros(500);

/// The writer counts as busy when its last batch ended this recently: reads are arriving
/// faster than a few hundred a second.
const BUSY: Duration = Duration::from_millis(5);

/// Journaled events handed over and not yet stored, past which a read waits for the writer to
/// store enough of them before it is answered. Why: when the database is slow without failing,
/// reads answered at once would pile events up in the writer's memory (and the journal) without
/// end; waiting slows reads to what the database stores instead. A few MB of rows, and dozens
/// of the writer's batches under the heaviest read load measured.
const MOST_UNSTORED: usize = 10_000;

/// How long a reader of the trail waits for the journal's events to be stored at most.
const SETTLE_AT_MOST: Duration = Duration::from_secs(3);

/// A journaled batch the database keeps refusing is tried again this often, with every read
/// refused meanwhile (`AuditSink::failing`).
const RETRY_FAILING: Duration = Duration::from_secs(1);

impl AuditSink {
    /// A writer whose reads each wait for the commit of their events.
    pub fn spawn(store: Store) -> (AuditSink, JoinHandle<()>) {
        Self::start(store, None, MOST_UNSTORED)
    }

    /// A writer whose reads are answered once their events are in `journal` (SQLite with a
    /// database file); it first takes in what processes that are gone left in theirs.
    pub fn spawn_journaled(store: Store, journal: Journal) -> (AuditSink, JoinHandle<()>) {
        Self::start(store, Some(Arc::new(journal)), MOST_UNSTORED)
    }

    fn start(
        store: Store,
        journal: Option<Arc<Journal>>,
        most_unstored: usize,
    ) -> (AuditSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = AuditSink {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            journal,
            failing: Arc::new(AtomicBool::new(false)),
            most_unstored,
            progress: Arc::default(),
        };
        let handle = tokio::spawn(run(store, rx, sink.clone()));
        (sink, handle)
    }

    /// Events waiting for their commit.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Stores `events` and returns once they are committed (or, journaled, safe in the
    /// journal). An error means they are not in the trail, so the read they record must not
    /// be answered.
    pub async fn store(&self, events: Vec<NewAuditEvent>) -> AppResult<()> {
        self.submit(events)?.committed().await
    }

    /// Hands `events` to the writer: the caller does what it can meanwhile (the answer is
    /// serialized while the batch commits) and sends nothing before `Pending::committed`.
    /// Journaled, they are in the journal when this returns, and there is nothing to wait for
    /// unless the writer is `MOST_UNSTORED` behind.
    pub fn submit(&self, events: Vec<NewAuditEvent>) -> AppResult<Pending> {
        if events.is_empty() {
            return Ok(Pending(Wait::Nothing));
        }
        let rows = audit::rows(events);
        let n = rows.len();
        if let Some(journal) = &self.journal {
            if self.failing.load(Ordering::Relaxed) {
                return Err(unstored());
            }
            let record = journal::encode(&rows.iter().map(|r| &r.model).collect::<Vec<_>>());
            let behind = self.queued.fetch_add(n, Ordering::Relaxed) + n > self.most_unstored;
            return match journal.append(&record, |seq| {
                self.tx.send(Command::Journaled { rows, seq }).is_ok()
            }) {
                Ok(true) if behind => Ok(Pending(Wait::Backlog(self.clone()))),
                Ok(true) => Ok(Pending(Wait::Nothing)),
                // The writer has stopped: the events are in the journal, which the next
                // process takes in, but this one is shutting down.
                Ok(false) => Err(unstored()),
                Err(err) => {
                    self.queued.fetch_sub(n, Ordering::Relaxed);
                    tracing::error!(
                        error = %err,
                        "appending to the read journal failed; the read is refused"
                    );
                    Err(unstored())
                }
            };
        }
        let (stored, wait) = oneshot::channel();
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(Command::Record { rows, stored }).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return Err(unstored());
        }
        Ok(Pending(Wait::Commit(wait)))
    }

    /// Returns once every event handed over before the call is in the trail's tables, with
    /// what processes that are gone left in their journals: before the trail is read. While
    /// the database refuses the writer's batch, it gives up after `SETTLE_AT_MOST`: the trail
    /// is then shown without the newest reads rather than not at all.
    pub async fn settled(&self) {
        if self.journal.is_none() {
            return;
        }
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Settle(done)).is_ok()
            && tokio::time::timeout(SETTLE_AT_MOST, wait).await.is_err()
        {
            tracing::warn!("the trail is read before the read journal's newest events are stored");
        }
    }

    /// Returns once the writer is no more than `most_unstored` events behind; an error while
    /// the database refuses its batch.
    async fn caught_up(&self) -> AppResult<()> {
        loop {
            // Listening before looking: progress made in between is not missed.
            let progress = self.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.failing.load(Ordering::Relaxed) {
                return Err(unstored());
            }
            if self.queued() <= self.most_unstored {
                return Ok(());
            }
            progress.await;
        }
    }

    /// Writes what is pending and stops the writer.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Events handed to the writer (`AuditSink::submit`), until their commit.
#[must_use = "the read may be answered only once its events are committed"]
pub struct Pending(Wait);

enum Wait {
    Nothing,
    /// For the commit of the events (no journal).
    Commit(oneshot::Receiver<bool>),
    /// For the writer to be no more than `most_unstored` journaled events behind.
    Backlog(AuditSink),
}

impl Pending {
    /// Nothing to wait for.
    pub fn none() -> Self {
        Pending(Wait::Nothing)
    }

    /// Returns once the events are committed; an error means they are not in the trail.
    pub async fn committed(self) -> AppResult<()> {
        match self.0 {
            Wait::Nothing => Ok(()),
            Wait::Commit(wait) => match wait.await {
                Ok(true) => Ok(()),
                _ => Err(unstored()),
            },
            Wait::Backlog(sink) => sink.caught_up().await,
        }
    }
}

fn unstored() -> AppError {
    AppError::Internal(anyhow::anyhow!("the read could not be audited"))
}

/// What one turn of the writer takes: every request waiting, and a shutdown request.
#[derive(Default)]
struct Batch {
    rows: Vec<Row>,
    waiting: Vec<oneshot::Sender<bool>>,
    /// The journal's newest segment among the rows: those before it are all in this batch
    /// or stored already.
    segment: Option<u64>,
    settled: Vec<oneshot::Sender<()>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Batch {
    fn take(&mut self, command: Command) {
        match command {
            Command::Record { rows, stored } => {
                self.rows.extend(rows);
                self.waiting.push(stored);
            }
            Command::Journaled { rows, seq } => {
                self.rows.extend(rows);
                self.segment = Some(seq);
            }
            Command::Settle(done) => self.settled.push(done),
            Command::Shutdown(done) => self.shutdown = Some(done),
        }
    }

    fn full(&self) -> bool {
        self.rows.len() >= MAX_BATCH
    }

    /// Commits the events, then answers everyone waiting: `true` only after the commit.
    async fn write(self, store: &Store, sink: &AuditSink) -> Option<oneshot::Sender<()>> {
        let stored = match (&sink.journal, self.segment) {
            _ if self.rows.is_empty() => true,
            (Some(journal), Some(segment)) => {
                commit_journaled(store, &self.rows, sink).await;
                journal.stored_before(segment);
                true
            }
            _ => commit(store, &self.rows).await,
        };
        sink.queued.fetch_sub(self.rows.len(), Ordering::Relaxed);
        sink.progress.notify_waiters();
        for waiting in self.waiting {
            let _ = waiting.send(stored);
        }
        if !self.settled.is_empty() {
            if let Some(journal) = &sink.journal {
                take_in_orphans(store, journal.dir()).await;
            }
            for done in self.settled {
                let _ = done.send(());
            }
        }
        self.shutdown
    }
}

async fn commit(store: &Store, rows: &[Row]) -> bool {
    let mut pauses = RETRIES.iter();
    loop {
        match store.insert_audit_rows(rows).await {
            Ok(()) => return true,
            Err(err) => match pauses.next() {
                Some(pause) => {
                    tracing::warn!(error = ?err, events = rows.len(), "writing audit events failed; trying again");
                    tokio::time::sleep(*pause).await;
                }
                None => {
                    tracing::error!(
                        error = ?err,
                        events = rows.len(),
                        "writing audit events failed; the reads they record are refused"
                    );
                    return false;
                }
            },
        }
    }
}

/// Journaled events were answered: they are stored whatever it takes. Until they are, every
/// new read is refused (`failing`), so that the journal does not grow behind a trail that
/// cannot be written, and so are the reads waiting for the writer to catch up.
async fn commit_journaled(store: &Store, rows: &[Row], sink: &AuditSink) {
    while !commit(store, rows).await {
        sink.failing.store(true, Ordering::Relaxed);
        sink.progress.notify_waiters();
        tokio::time::sleep(RETRY_FAILING).await;
    }
    sink.failing.store(false, Ordering::Relaxed);
}

/// Stores what processes that are gone left in their journals beside the database (`dir`),
/// skipping events they stored themselves before they ended, and removes those journals.
/// Failures are logged and the journals kept, for the next attempt.
pub async fn take_in_orphans(store: &Store, dir: &Path) {
    let orphans = match journal::orphans(dir) {
        Ok(orphans) => orphans,
        Err(err) => {
            tracing::error!(error = %err, dir = %dir.display(), "listing read journals failed");
            return;
        }
    };
    for orphan in orphans {
        let taken: anyhow::Result<usize> = async {
            let models = orphan.rows()?;
            let ids: Vec<uuid::Uuid> = models.iter().map(|m| m.id).collect();
            let stored = audit::stored_ids(store.conn(), &ids).await?;
            let rows: Vec<Row> = models
                .into_iter()
                .filter(|m| !stored.contains(&m.id))
                .map(Row::of_model)
                .collect();
            for chunk in rows.chunks(MAX_BATCH) {
                store.insert_audit_rows(chunk).await?;
            }
            Ok(rows.len())
        }
        .await;
        match taken.and_then(|n| Ok((n, orphan.remove()?))) {
            Ok((n, ())) => tracing::info!(
                events = n,
                "stored the read journal a process left when it ended"
            ),
            Err(err) => {
                tracing::error!(error = %err, "storing a read journal left by a process failed")
            }
        }
    }
}

/// Whether the writer's last batch ended less than `BUSY` ago.
fn busy_since(last_write: Option<Instant>) -> bool {
    last_write.is_some_and(|at| at.elapsed() < BUSY)
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Command>, sink: AuditSink) {
    if let Some(journal) = &sink.journal {
        take_in_orphans(&store, journal.dir()).await;
    }
    let mut last_write = None;
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        if matches!(first, Command::Journaled { .. }) {
            // Its reads are answered; it waits a little for others to join it.
            tokio::time::sleep(PACE).await;
        } else if busy_since(last_write) {
            // Reads are arriving back to back: a moment's wait lets more of them share the
            // commit, whose statement, link and round trip cost as much as several reads.
            tokio::time::sleep(GATHER).await;
        }
        batch.take(first);
        // Everything that queued while the last batch was being written joins this one.
        while !batch.full() && batch.shutdown.is_none() {
            match rx.try_recv() {
                Ok(command) => batch.take(command),
                Err(_) => break,
            }
        }
        let done = batch.write(&store, &sink).await;
        last_write = Some(Instant::now());
        if let Some(done) = done {
            // Take whatever raced in before the shutdown request as well.
            let mut rest = Batch::default();
            while let Ok(command) = rx.try_recv() {
                rest.take(command);
            }
            rest.write(&store, &sink).await;
            if let Some(journal) = &sink.journal {
                journal.close();
            }
            let _ = done.send(());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::AuditSink;
    use crate::store::Store;
    use crate::store::audit::{AuditFilter, NewAuditEvent, list};
    use crate::store::page::PageRequest;

    fn read_of(id: uuid::Uuid) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at: Utc::now(),
            who: crate::domain::actor::Who::new(
                crate::domain::actor::ActorKind::ApiKey,
                Some(uuid::Uuid::nil()),
                "key",
            ),
            action: "READ".into(),
            operation: "test".into(),
            record_type: "patient".into(),
            record_ids: vec![id].into(),
            fields: Vec::new(),
            ip: None,
            operation_name: None,
        }
    }

    async fn stored(store: &Store, id: uuid::Uuid) -> usize {
        let filter = AuditFilter {
            record_ids: Some(vec![id.to_string()]),
            ..Default::default()
        };
        let page = PageRequest {
            first: 10,
            after: None,
        };
        list(store.conn(), &filter, page).await.unwrap().items.len()
    }

    #[tokio::test]
    async fn an_event_is_committed_when_store_returns_and_concurrent_ones_share_a_batch() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let (sink, _task) = AuditSink::spawn(store.clone());
        let ids: Vec<uuid::Uuid> = (0..50).map(|_| uuid::Uuid::now_v7()).collect();
        let writes = ids.iter().map(|id| sink.store(vec![read_of(*id)]));
        for written in futures_util::future::join_all(writes).await {
            written.unwrap();
        }
        for id in &ids {
            assert_eq!(
                stored(&store, *id).await,
                1,
                "stored before store() returned"
            );
        }
        sink.shutdown().await;
        let late = sink.store(vec![read_of(uuid::Uuid::now_v7())]).await;
        assert_eq!(
            late.unwrap_err().code(),
            "INTERNAL",
            "after shutdown nothing can be audited, so nothing may be read"
        );
    }

    /// While the database is slow (another process holds its write lock) reads are answered
    /// from the journal at once, until `most_unstored` events wait: the next read then waits
    /// for the writer, and is answered once the database takes the backlog. While the database
    /// refuses the batch, the waiting read is refused instead of held.
    #[tokio::test]
    async fn past_the_most_unstored_a_journaled_read_waits_for_the_writer() {
        use std::sync::Arc;
        use std::time::Duration;

        use sea_orm::{ConnectionTrait, TransactionTrait};

        let dir = crate::scratch::Scratch::new();
        let url = dir.sqlite_url();
        let store = Store::connect(&url, Some(2)).await.unwrap();
        store.migrate().await.unwrap();
        let writer = Store::connect_for_read_audit(&url, &store).await.unwrap();
        let journal = super::Journal::open(&dir.path().join("journal")).unwrap();
        let (sink, _task) = AuditSink::start(writer, Some(Arc::new(journal)), 10);

        let other = sea_orm::Database::connect(&url).await.unwrap();
        let held = other.begin().await.unwrap();
        held.execute_unprepared("CREATE TABLE hold_the_write_lock (x INTEGER)")
            .await
            .unwrap();

        let soon = Duration::from_millis(300);
        let reads = |ids: &[uuid::Uuid]| {
            let mut pending = ids
                .iter()
                .map(|id| sink.submit(vec![read_of(*id)]).unwrap());
            (
                pending.by_ref().take(10).collect::<Vec<_>>(),
                pending.next().unwrap(),
            )
        };
        let ids: Vec<uuid::Uuid> = (0..11).map(|_| uuid::Uuid::now_v7()).collect();
        let (first, last) = reads(&ids);
        for pending in first {
            let answered = tokio::time::timeout(soon, pending.committed()).await;
            assert!(answered.unwrap().is_ok(), "answered from the journal");
        }
        assert_eq!(sink.queued(), 11, "none stored while the lock is held");
        let last = tokio::spawn(last.committed());
        tokio::time::sleep(soon).await;
        assert!(!last.is_finished(), "the eleventh waits for the database");
        held.rollback().await.unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(5), last).await;
        answered.unwrap().unwrap().unwrap();
        sink.settled().await;

        store
            .conn()
            .execute_unprepared(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .await
            .unwrap();
        let more: Vec<uuid::Uuid> = (0..11).map(|_| uuid::Uuid::now_v7()).collect();
        let (first, last) = reads(&more);
        let refused = tokio::time::timeout(Duration::from_secs(3), last.committed()).await;
        assert_eq!(refused.unwrap().unwrap_err().code(), "INTERNAL");
        for pending in first {
            pending.committed().await.unwrap();
        }
        store
            .conn()
            .execute_unprepared("DROP TRIGGER refuse_audit")
            .await
            .unwrap();
        sink.settled().await;
        for id in ids.iter().chain(&more) {
            assert_eq!(stored(&store, *id).await, 1, "every read's event stored");
        }
        assert_eq!(sink.queued(), 0);
        sink.shutdown().await;
    }
}
