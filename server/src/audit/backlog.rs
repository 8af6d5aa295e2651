//! How much read-audit work is queued but not yet written, and waiting for it to shrink.
//!
//! Why: reads are recorded faster than the writer stores them whenever the database is
//! slower than the load (before the `TCP_NODELAY` fix PostgreSQL's writer fell behind Q2 and
//! its queue grew without bound; docs/benchmarks-history.md). Dropping
//! audit records is not an answer, so a read whose records find the queue over its limit
//! waits for the writer before it is answered: under overload reads slow down to the rate
//! at which their audit can be stored, and memory stays bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::audit::NewAuditEvent;

#[derive(Default)]
pub struct Backlog {
    /// Queued weight (`weight`): the bytes the queued events hold.
    queued: AtomicUsize,
    written: Notify,
}

/// What a batch of events costs the queue, in bytes held: each event's fixed part, its
/// texts and its record ids. Bytes, not events, because what a caller controls (the length of
/// a label, the number of ids a page reads) is what fills memory.
pub fn weight(events: &[NewAuditEvent]) -> usize {
    events.iter().map(NewAuditEvent::approx_bytes).sum()
}

impl Backlog {
    pub fn add(&self, weight: usize) {
        self.queued.fetch_add(weight, Ordering::Relaxed);
    }

    /// Called by the writer for what it stored (or, in an outage, dropped).
    pub fn done(&self, weight: usize) {
        self.queued.fetch_sub(weight, Ordering::Relaxed);
        self.written.notify_waiters();
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Waits until at most `limit` is queued, for no longer than `max_wait`; false if it
    /// gave up. The bound keeps an outage (when nothing is written at all) from holding
    /// every read forever: the writer then bounds its buffer by dropping the oldest events.
    pub async fn room(&self, limit: usize, max_wait: Duration) -> bool {
        // The usual case, on every read: one atomic load, no waiter or timer set up.
        if self.queued() <= limit {
            return true;
        }
        let wait = async {
            loop {
                // Registered before the check, so a write finishing in between still wakes us.
                let written = self.written.notified();
                tokio::pin!(written);
                written.as_mut().enable();
                if self.queued() <= limit {
                    return;
                }
                written.await;
            }
        };
        tokio::time::timeout(max_wait, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::Backlog;

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn under_the_limit_there_is_room_at_once() {
        let backlog = Backlog::default();
        backlog.add(10);
        let started = Instant::now();
        assert!(backlog.room(10, LONG).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn over_the_limit_a_read_waits_until_the_writer_catches_up() {
        let backlog = Arc::new(Backlog::default());
        backlog.add(100);
        let writer = backlog.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.done(40); // still over the limit: must not release the reader
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.done(40);
        });
        assert!(backlog.room(30, LONG).await);
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(backlog.queued(), 20);
    }

    #[tokio::test]
    async fn when_nothing_is_written_the_wait_gives_up() {
        let backlog = Backlog::default();
        backlog.add(100);
        let started = Instant::now();
        assert!(!backlog.room(30, Duration::from_millis(50)).await);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
