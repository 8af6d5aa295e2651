//! Delivery gives way to the requests when they are short of what both need.
//!
//! Deliveries are asynchronous and a backlog drains once the load eases; a request waits for
//! its answer. So while the machine's CPU or (SQLite) the one database writer is nearly
//! always busy, the worker lowers the rate at which it starts attempts, down to a floor that it
//! always keeps (no starvation, unlike a lower scheduling priority: at the floor the worker
//! still gets the CPU it asks for). When the pressure goes, the limit grows back quickly and
//! then goes away. The figures behind the thresholds are in docs/benchmarks-history.md,
//! "Webhooks (issue 18)".

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::Store;

/// How often the pressure is looked at.
const SAMPLE: Duration = Duration::from_millis(100);
/// The share of the machine's CPU time busy, and of the one SQLite writer's time holding the
/// write lock, from which the requests are short of it.
const CPU_BUSY: f64 = 0.95;
const WRITER_BUSY: f64 = 0.80;
/// How the limit moves at each sample: down under pressure, up without it; above
/// `UNLIMITED` times the floor it is lifted.
const DOWN: f64 = 0.7;
const UP: f64 = 1.5;
const UNLIMITED: f64 = 20.0;
/// Starts allowed at once after a pause, as a share of a second's limit.
const BURST: f64 = 0.05;

pub struct Pacer {
    store: Store,
    /// Attempts a second the worker keeps starting however busy the machine is.
    floor: f64,
    state: Mutex<State>,
}

struct State {
    /// Attempts a second allowed now; `None`: no limit.
    limit: Option<f64>,
    /// When the next attempt may start: each caller takes the next slot and sleeps once until
    /// it (callers retrying on a shared clock woke together, most only to sleep again).
    next: Instant,
    sampled: Instant,
    cpu: Option<CpuTimes>,
    writer_busy: Option<Duration>,
}

impl Pacer {
    pub fn new(store: Store, floor: u32) -> Pacer {
        let now = Instant::now();
        Pacer {
            state: Mutex::new(State {
                limit: None,
                next: now,
                sampled: now,
                cpu: CpuTimes::read(),
                writer_busy: store.write_lock_busy(),
            }),
            store,
            floor: f64::from(floor.max(1)),
        }
    }

    /// Waits until another attempt may start.
    pub async fn acquire(&self) {
        let wait = {
            let (mut state, now) = self.current();
            let Some(limit) = state.limit else {
                return;
            };
            let interval = Duration::from_secs_f64(1.0 / limit);
            // Slots left unused during a pause are not all kept: a burst's worth at most.
            let burst = interval.mul_f64((limit * BURST).max(1.0));
            let slot = state.next.max(now.checked_sub(burst).unwrap_or(now));
            state.next = slot + interval;
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether attempts are being held back now (the worker's rounds then come less often).
    pub fn limited(&self) -> bool {
        self.current().0.limit.is_some()
    }

    /// How many events fan-out may take now, `since` its last run: what the limit allows in
    /// that time (at most a second's), or `None` without a limit. Under pressure the backlog
    /// waits in the outbox, already written, instead of becoming messages that cost a write
    /// now and a claim later.
    pub fn fan_out_allowance(&self, since: Duration) -> Option<u64> {
        let (state, _) = self.current();
        let seconds = since.min(Duration::from_secs(1)).as_secs_f64();
        // Rounded up, and at least one: fan-out always moves.
        state.limit.map(|l| (l * seconds).ceil().max(1.0) as u64)
    }

    /// The state, with the pressure looked at again if the last sample is old, and now.
    fn current(&self) -> (MutexGuard<'_, State>, Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(state.sampled) >= SAMPLE {
            self.sample(&mut state, now);
        }
        (state, now)
    }

    /// The limit after looking at the pressure since the last sample.
    fn sample(&self, state: &mut State, now: Instant) {
        let span = now.duration_since(state.sampled);
        state.sampled = now;
        let cpu = CpuTimes::read();
        let cpu_busy = match (&state.cpu, &cpu) {
            (Some(before), Some(after)) => after.busy_since(before),
            _ => 0.0,
        };
        state.cpu = cpu;
        let writer = self.store.write_lock_busy();
        let writer_busy = match (state.writer_busy, writer) {
            (Some(before), Some(after)) => {
                after.saturating_sub(before).as_secs_f64() / span.as_secs_f64()
            }
            _ => 0.0,
        };
        state.writer_busy = writer;
        let pressed = cpu_busy >= CPU_BUSY || writer_busy >= WRITER_BUSY;
        state.limit = next_limit(state.limit, pressed, self.floor);
    }
}

/// The limit after a sample: lowered towards the floor under pressure (the first step from no
/// limit lands just under the level at which a limit is lifted), raised without it until it
/// is lifted.
fn next_limit(limit: Option<f64>, pressed: bool, floor: f64) -> Option<f64> {
    match (limit, pressed) {
        (None, false) => None,
        (None, true) => Some(floor * UNLIMITED * DOWN),
        (Some(l), true) => Some((l * DOWN).max(floor)),
        (Some(l), false) => Some(l * UP).filter(|l| *l < floor * UNLIMITED),
    }
}

/// The machine's CPU time so far, from `/proc/stat` (Linux; elsewhere there is no CPU
/// pressure and only the writer's counts).
struct CpuTimes {
    idle: u64,
    total: u64,
}

impl CpuTimes {
    fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is within user).
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        let total = fields.iter().take(8).sum();
        Some(CpuTimes { idle, total })
    }

    fn busy_since(&self, before: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        1.0 - self.idle.saturating_sub(before.idle) as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuTimes, next_limit};

    #[test]
    fn the_limit_falls_to_the_floor_under_pressure_and_is_lifted_after_it() {
        let floor = 100.0;
        let mut limit = None;
        for _ in 0..50 {
            limit = next_limit(limit, true, floor);
            assert!(limit.is_some_and(|l| l >= floor));
        }
        assert_eq!(limit, Some(floor), "it settles on the floor, never below");
        let mut samples = 0;
        while limit.is_some() {
            limit = next_limit(limit, false, floor);
            samples += 1;
        }
        assert!(
            samples <= 10,
            "lifted within a second, took {samples} samples"
        );
        assert_eq!(next_limit(None, false, floor), None);
    }

    #[test]
    fn the_machine_is_busy_by_what_was_not_idle() {
        let before = CpuTimes {
            idle: 100,
            total: 1000,
        };
        let after = CpuTimes {
            idle: 110,
            total: 1100,
        };
        assert!((after.busy_since(&before) - 0.9).abs() < 1e-9);
        assert!(after.busy_since(&after).abs() < 1e-9);
        if std::path::Path::new("/proc/stat").exists() {
            let now = CpuTimes::read().expect("/proc/stat read");
            assert!(now.total >= now.idle && now.total > 0);
        }
    }
}
