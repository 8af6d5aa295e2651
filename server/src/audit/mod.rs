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

pub mod export;
pub mod security;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::audit::NewAuditEvent;

enum Command {
    Record {
        events: Vec<NewAuditEvent>,
        stored: oneshot::Sender<bool>,
    },
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Command>,
    /// Events handed over and not yet committed (or given up on): `/metrics`' audit queue.
    queued: Arc<AtomicUsize>,
}

/// Events stored by one transaction at most (then the next takes the rest): large enough for
/// every request in flight under load, small enough that one commit never holds the writer
/// lock for long.
const MAX_BATCH: usize = 2_000;

/// Pauses before the second and third attempt at a batch the database refused. Past them the
/// requests waiting for it are refused instead of answered unaudited.
const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

impl AuditSink {
    pub fn spawn(store: Store) -> (AuditSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let handle = tokio::spawn(run(store, rx, queued.clone()));
        (AuditSink { tx, queued }, handle)
    }

    /// Events waiting for their commit.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Stores `events` and returns once they are committed. An error means they are not in
    /// the trail, so the read they record must not be answered.
    pub async fn store(&self, events: Vec<NewAuditEvent>) -> AppResult<()> {
        self.submit(events)?.committed().await
    }

    /// Hands `events` to the writer without waiting: the caller does what it can meanwhile
    /// (the answer is serialized while the batch commits) and sends nothing before
    /// `Pending::committed`.
    pub fn submit(&self, events: Vec<NewAuditEvent>) -> AppResult<Pending> {
        if events.is_empty() {
            return Ok(Pending(None));
        }
        let (stored, wait) = oneshot::channel();
        let n = events.len();
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(Command::Record { events, stored }).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return Err(unstored());
        }
        Ok(Pending(Some(wait)))
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
pub struct Pending(Option<oneshot::Receiver<bool>>);

impl Pending {
    /// Nothing to wait for.
    pub fn none() -> Self {
        Pending(None)
    }

    /// Returns once the events are committed; an error means they are not in the trail.
    pub async fn committed(self) -> AppResult<()> {
        match self.0 {
            None => Ok(()),
            Some(wait) => match wait.await {
                Ok(true) => Ok(()),
                _ => Err(unstored()),
            },
        }
    }
}

fn unstored() -> AppError {
    AppError::Internal(anyhow::anyhow!("the read could not be audited"))
}

/// What one turn of the writer takes: every request waiting, and a shutdown request.
#[derive(Default)]
struct Batch {
    events: Vec<NewAuditEvent>,
    waiting: Vec<oneshot::Sender<bool>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Batch {
    fn take(&mut self, command: Command) {
        match command {
            Command::Record { events, stored } => {
                self.events.extend(events);
                self.waiting.push(stored);
            }
            Command::Shutdown(done) => self.shutdown = Some(done),
        }
    }

    fn full(&self) -> bool {
        self.events.len() >= MAX_BATCH
    }

    /// Commits the events, then answers everyone waiting: `true` only after the commit.
    async fn write(self, store: &Store, queued: &AtomicUsize) -> Option<oneshot::Sender<()>> {
        let stored = self.events.is_empty() || commit(store, &self.events).await;
        queued.fetch_sub(self.events.len(), Ordering::Relaxed);
        for waiting in self.waiting {
            let _ = waiting.send(stored);
        }
        self.shutdown
    }
}

async fn commit(store: &Store, events: &[NewAuditEvent]) -> bool {
    let mut pauses = RETRIES.iter();
    loop {
        match store.insert_audit_events(events).await {
            Ok(()) => return true,
            Err(err) => match pauses.next() {
                Some(pause) => {
                    tracing::warn!(error = ?err, events = events.len(), "writing audit events failed; trying again");
                    tokio::time::sleep(*pause).await;
                }
                None => {
                    tracing::error!(
                        error = ?err,
                        events = events.len(),
                        "writing audit events failed; the reads they record are refused"
                    );
                    return false;
                }
            },
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Command>, queued: Arc<AtomicUsize>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        batch.take(first);
        // Everything that queued while the last batch was being written joins this one.
        while !batch.full() && batch.shutdown.is_none() {
            match rx.try_recv() {
                Ok(command) => batch.take(command),
                Err(_) => break,
            }
        }
        if let Some(done) = batch.write(&store, &queued).await {
            // Take whatever raced in before the shutdown request as well.
            let mut rest = Batch::default();
            while let Ok(command) = rx.try_recv() {
                rest.take(command);
            }
            rest.write(&store, &queued).await;
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
}
