//! Writes read-audit events off the request path: batched, flushed at least every
//! `flush_interval`, on demand, and on shutdown. Write events do not come through here: they
//! are inserted in the same transaction as the change they record.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::audit::{NewAuditEvent, insert_many};

enum Command {
    Record(Vec<NewAuditEvent>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Command>,
}

/// Events kept in memory at most while the database refuses writes; beyond it, the oldest
/// are reported in the log and dropped so that an outage cannot exhaust memory.
const MAX_BUFFERED: usize = 100_000;
const BATCH: usize = 500;

impl AuditSink {
    pub fn spawn(store: Store, flush_interval: Duration) -> (AuditSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(store, rx, flush_interval));
        (AuditSink { tx }, handle)
    }

    pub fn record(&self, events: Vec<NewAuditEvent>) {
        if events.is_empty() {
            return;
        }
        if self.tx.send(Command::Record(events)).is_err() {
            tracing::error!("audit writer has stopped; read audit events were not recorded");
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

async fn write(store: &Store, buffer: &mut Vec<NewAuditEvent>) {
    while !buffer.is_empty() {
        let take = buffer.len().min(BATCH);
        match insert_many(store.conn(), &buffer[..take]).await {
            Ok(()) => {
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
                    buffer.drain(..excess);
                }
                return;
            }
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Command>, every: Duration) {
    let mut buffer = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Record(events)) => {
                    buffer.extend(events);
                    if buffer.len() >= BATCH {
                        write(&store, &mut buffer).await;
                    }
                }
                Some(Command::Flush(done)) => {
                    write(&store, &mut buffer).await;
                    let _ = done.send(());
                }
                Some(Command::Shutdown(done)) => {
                    // Take whatever raced in before the shutdown request as well.
                    while let Ok(Command::Record(events)) = rx.try_recv() {
                        buffer.extend(events);
                    }
                    write(&store, &mut buffer).await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    write(&store, &mut buffer).await;
                    return;
                }
            },
            _ = tick.tick() => write(&store, &mut buffer).await,
        }
    }
}
