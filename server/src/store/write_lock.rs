//! SQLite's one writer at a time, in this process, and how busy that writer is.
//!
//! SQLite allows one writer at a time and reports contention as SQLITE_BUSY on lock upgrades,
//! which its busy timeout cannot retry. Serialising writers in-process avoids that without
//! slowing anything down (the database would serialise them anyway). Every write takes its
//! turn here (the group commit's batches, write transactions, the audit writer), so the time
//! turns are held is how busy the writer is: background work reads it to give way
//! (`webhooks::pacer`).
//!
//! The turn also carries what the last writer knows of the audit chain's head (`ChainHead`),
//! so that the read-audit writer can link its batch without reading the head first: a read
//! is a hand-over to the connection's thread, each of which the requests waiting for that
//! commit wait out under load. Whoever writes a link under the turn leaves the new head there
//! once it is committed, or nothing when it does not know.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};

use super::audit_chain::ChainHead;

#[derive(Default)]
pub(super) struct WriteLock {
    /// The head as committed by this process's last link, when known.
    turn: Mutex<Option<ChainHead>>,
    /// Nanoseconds turns have been held since start.
    busy: AtomicU64,
}

/// A turn to write; the writer is free again when it is dropped.
pub struct Turn<'a> {
    guard: MutexGuard<'a, Option<ChainHead>>,
    busy: &'a AtomicU64,
    since: Instant,
}

impl WriteLock {
    /// Waits for this process's turn to write.
    pub(super) async fn turn(&self) -> Turn<'_> {
        let guard = self.turn.lock().await;
        Turn {
            guard,
            busy: &self.busy,
            since: Instant::now(),
        }
    }

    /// How long turns have been held since start.
    pub(super) fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy.load(Ordering::Relaxed))
    }
}

impl Deref for Turn<'_> {
    type Target = Option<ChainHead>;

    fn deref(&self) -> &Option<ChainHead> {
        &self.guard
    }
}

impl DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut Option<ChainHead> {
        &mut self.guard
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let held = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::WriteLock;

    #[tokio::test]
    async fn the_time_turns_are_held_is_counted_and_waiting_is_not() {
        let lock = WriteLock::default();
        let first = lock.turn().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        let after_first = lock.busy();
        assert!(after_first >= Duration::from_millis(20), "{after_first:?}");
        // A turn taken and given back at once adds next to nothing.
        drop(lock.turn().await);
        assert!(lock.busy() - after_first < Duration::from_millis(20));
    }
}
