//! Writes read-audit events off the request path: batched, flushed at least every
//! `flush_interval`, on demand, and on shutdown. Write events do not come through here: they
//! are inserted in the same transaction as the change they record.

mod backlog;
pub mod security;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::audit::NewAuditEvent;
use backlog::{Backlog, weight};

enum Command {
    Record(Vec<NewAuditEvent>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Command>,
    backlog: Arc<Backlog>,
}

/// Events kept in memory at most while the database refuses writes; beyond it, the oldest
/// are reported in the log and dropped so that an outage cannot exhaust memory.
const MAX_BUFFERED: usize = 100_000;
const BATCH: usize = 500;

/// Bytes of queued audit events above which a read waits for the writer before it is
/// answered (`backlog`).
const BACKLOG_LIMIT: usize = 12 * 1024 * 1024;
/// The longest one read waits for that: past it the database is down rather than slow.
const BACKLOG_WAIT: Duration = Duration::from_secs(5);

impl AuditSink {
    pub fn spawn(store: Store, flush_interval: Duration) -> (AuditSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let handle = tokio::spawn(run(store, rx, flush_interval, backlog.clone()));
        (AuditSink { tx, backlog }, handle)
    }

    pub fn record(&self, events: Vec<NewAuditEvent>) {
        if events.is_empty() {
            return;
        }
        let queued = weight(&events);
        self.backlog.add(queued);
        if self.tx.send(Command::Record(events)).is_err() {
            self.backlog.done(queued);
            tracing::error!("audit writer has stopped; read audit events were not recorded");
        }
    }

    /// Waits while more read-audit work is queued than the writer should have to catch up
    /// with (`BACKLOG_LIMIT`), at most `BACKLOG_WAIT`. Called before a read is answered.
    pub async fn room(&self) {
        if !self.backlog.room(BACKLOG_LIMIT, BACKLOG_WAIT).await {
            tracing::warn!(
                queued = self.backlog.queued(),
                "read-audit writer is not catching up; answering without waiting longer"
            );
        }
    }

    /// Waits until everything recorded before this call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = wait.await;
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

async fn write(store: &Store, buffer: &mut Vec<NewAuditEvent>, backlog: &Backlog) {
    while !buffer.is_empty() {
        let take = buffer.len().min(BATCH);
        match store.insert_audit_events(&buffer[..take]).await {
            Ok(()) => {
                backlog.done(weight(&buffer[..take]));
                buffer.drain(..take);
            }
            Err(err) => {
                tracing::error!(error = ?err, pending = buffer.len(), "writing audit events failed; will retry");
                if buffer.len() > MAX_BUFFERED {
                    let excess = buffer.len() - MAX_BUFFERED;
                    tracing::error!(
                        dropped = excess,
                        "audit buffer full; dropping oldest events"
                    );
                    backlog.done(weight(&buffer[..excess]));
                    buffer.drain(..excess);
                }
                return;
            }
        }
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Command>,
    every: Duration,
    backlog: Arc<Backlog>,
) {
    let mut buffer = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Record(events)) => {
                    buffer.extend(events);
                    if buffer.len() >= BATCH {
                        write(&store, &mut buffer, &backlog).await;
                    }
                }
                Some(Command::Flush(done)) => {
                    write(&store, &mut buffer, &backlog).await;
                    let _ = done.send(());
                }
                Some(Command::Shutdown(done)) => {
                    // Take whatever raced in before the shutdown request as well.
                    while let Ok(Command::Record(events)) = rx.try_recv() {
                        buffer.extend(events);
                    }
                    write(&store, &mut buffer, &backlog).await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    write(&store, &mut buffer, &backlog).await;
                    return;
                }
            },
            _ = tick.tick() => write(&store, &mut buffer, &backlog).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::AuditSink;
    use crate::store::Store;
    use crate::store::audit::NewAuditEvent;

    fn read_of(ids: usize) -> NewAuditEvent {
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
            record_ids: (0..ids as u128)
                .map(uuid::Uuid::from_u128)
                .collect::<Vec<_>>()
                .into(),
            fields: Vec::new(),
            ip: None,
            operation_name: None,
        }
    }

    #[tokio::test]
    async fn the_backlog_holds_what_is_queued_until_it_is_written() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let (sink, _task) = AuditSink::spawn(store, Duration::from_secs(3600));
        let events = vec![read_of(3), read_of(0)];
        let bytes = events[0].approx_bytes() + events[1].approx_bytes();
        assert!(
            events[0].approx_bytes() >= events[1].approx_bytes() + 3 * 16,
            "record ids count"
        );
        sink.record(events);
        assert_eq!(sink.backlog.queued(), bytes, "what the two events hold");
        sink.flush().await;
        assert_eq!(sink.backlog.queued(), 0, "written, so no longer queued");
        tokio::time::timeout(Duration::from_secs(1), sink.room())
            .await
            .expect("an empty queue has room at once");
        sink.shutdown().await;
    }
}
