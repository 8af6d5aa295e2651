//! PostgreSQL: the flush an audited write's answer waits for, shared by the answers waiting at
//! the same time.
//!
//! A transaction that stored audit events commits without waiting for its WAL to reach the
//! disk, so as not to hold the chain's lock through it (migration
//! `m20261212_000001_audit_link_unflushed`); its answer waits here instead, with the lock
//! released. What flushes is a transaction of its own that writes to the WAL (a logical
//! decoding message, which no table keeps) and commits synchronously: its flush covers every
//! commit before it. One such statement a write cost the database a transaction and the
//! server a round trip each; here one is under way at a time, and the answers that committed
//! while it was being sent wait for the next one, which covers them all.
//!
//! A flush that fails is tried again after a pause, twice: the change it waits for is already
//! committed, and any later flush covers it, so an answer says the write failed only when the
//! database could not be flushed for about a third of a second.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::watch;

use crate::error::AppResult;

const FLUSH: &str =
    "/* audit trail */ SELECT pg_logical_emit_message(true, 'switchboard', 'flushed')";

/// Pauses before a caller's second and third try after a flush it sent failed.
const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

pub struct FlushGroup {
    db: DatabaseConnection,
    /// Flushes started so far, and whether one is under way.
    started: Mutex<(u64, bool)>,
    /// The number of the last flush that completed: every commit made before it started is
    /// on disk.
    done: watch::Sender<u64>,
}

impl FlushGroup {
    pub fn new(db: DatabaseConnection) -> FlushGroup {
        FlushGroup {
            db,
            started: Mutex::new((0, false)),
            done: watch::Sender::new(0),
        }
    }

    /// Returns once every transaction committed before the call is on disk.
    pub async fn flushed(&self) -> AppResult<()> {
        Ok(self
            .wait_with(|| async {
                self.db.execute_unprepared(FLUSH).await?;
                Ok(())
            })
            .await?)
    }

    /// `flushed`, with `flush` as what flushes (tests count the calls).
    async fn wait_with<F, Fut>(&self, flush: F) -> Result<(), DbErr>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), DbErr>>,
    {
        let mut done = self.done.subscribe();
        // A flush under way may have been sent before this caller's commit: only one started
        // from now on is known to cover it.
        let wanted = self.started.lock().expect("flush group").0 + 1;
        let mut pauses = RETRIES.iter();
        loop {
            if *done.borrow_and_update() >= wanted {
                return Ok(());
            }
            let lead = {
                let mut started = self.started.lock().expect("flush group");
                (!started.1).then(|| {
                    *started = (started.0 + 1, true);
                    started.0
                })
            };
            let Some(number) = lead else {
                // The one under way ends (or fails) before this wakes; the sender lives as
                // long as `self`.
                let _ = done.changed().await;
                continue;
            };
            // Given back however this ends, a dropped caller's included: the others would
            // otherwise wait for it for ever.
            let turn = Turn(self);
            let flushed = flush().await;
            drop(turn);
            match flushed {
                Ok(()) => self.done.send_modify(|done| *done = (*done).max(number)),
                // The others woke and one of them tries meanwhile; a flush of theirs started
                // after this caller's commit covers it too.
                Err(error) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(error = %error, "a flush failed; trying again");
                        tokio::time::sleep(*pause).await;
                    }
                    None => {
                        tracing::error!(
                            error = %error,
                            "flushing failed three times: a committed change is answered as failed"
                        );
                        return Err(error);
                    }
                },
            }
        }
    }
}

/// The flush under way: when it ends, the group may start another, and its waiters wake.
struct Turn<'a>(&'a FlushGroup);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.started.lock().expect("flush group").1 = false;
        self.0.done.send_modify(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    fn group() -> Arc<FlushGroup> {
        Arc::new(FlushGroup::new(DatabaseConnection::default()))
    }

    /// A caller waiting in a task of its own, with `slow_flush` failing the calls `fails` names.
    fn spawn_waiter(
        group: &Arc<FlushGroup>,
        calls: &Arc<AtomicU32>,
        fails: &'static [u32],
    ) -> tokio::task::JoinHandle<Result<(), DbErr>> {
        let (group, calls) = (group.clone(), calls.clone());
        tokio::spawn(async move { group.wait_with(|| slow_flush(&calls, fails)).await })
    }

    /// A flush that takes a while and counts itself, failing the calls `fails` names.
    async fn slow_flush(calls: &AtomicU32, fails: &[u32]) -> Result<(), DbErr> {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if fails.contains(&call) {
            return Err(DbErr::Custom("the flush failed".into()));
        }
        Ok(())
    }

    #[tokio::test]
    async fn waiters_at_the_same_time_share_a_flush_started_after_they_came() {
        let group = group();
        let calls = Arc::new(AtomicU32::new(0));
        let mut waiters = Vec::new();
        for _ in 0..20 {
            waiters.push(spawn_waiter(&group, &calls, &[]));
        }
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        // The first came alone; the others came while its flush was under way, which may
        // have been sent before their commits, so they share the next one.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Later, alone: a flush of its own.
        group.wait_with(|| slow_flush(&calls, &[])).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn after_a_failed_flush_another_waiters_flush_covers_its_sender() {
        let group = group();
        let calls = Arc::new(AtomicU32::new(0));
        let first = spawn_waiter(&group, &calls, &[1]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = spawn_waiter(&group, &calls, &[1]);
        second.await.unwrap().expect("a flush of its own, after");
        first
            .await
            .unwrap()
            .expect("covered by the second's flush, started after it came");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_flush_is_tried_again_and_fails_only_when_every_try_did() {
        let group = group();
        let calls = Arc::new(AtomicU32::new(0));
        group
            .wait_with(|| slow_flush(&calls, &[1, 2]))
            .await
            .expect("the third try");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let refused = group.wait_with(|| slow_flush(&calls, &[4, 5, 6])).await;
        assert!(refused.is_err(), "three failures");
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn a_sender_dropped_mid_flush_does_not_hold_up_the_others() {
        let group = group();
        let calls = Arc::new(AtomicU32::new(0));
        let first = spawn_waiter(&group, &calls, &[]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        first.abort();
        let second = tokio::time::timeout(
            Duration::from_secs(2),
            group.wait_with(|| slow_flush(&calls, &[])),
        )
        .await
        .expect("not held up");
        second.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
