//! How many security events (refused attempts) one credential may add to the audit trail.
//!
//! Why: a refusal is recorded so that an administrator sees who tried what, but every
//! refusal is also something an attacker can cause at will. Past the budget, refusals are
//! counted in the log instead of written, so a hostile client cannot flood the table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Security events per credential per window.
const PER_WINDOW: usize = 60;
const WINDOW: Duration = Duration::from_secs(60);
/// Credentials tracked at most; a full map is emptied (each then gets a fresh budget, which
/// bounds memory without ever allowing more than `PER_WINDOW` per credential at once).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    windows: Mutex<HashMap<String, (Instant, usize)>>,
}

impl Throttle {
    /// How many of `wanted` events `actor` may write now.
    pub fn admit(&self, actor: &str, wanted: usize) -> usize {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED && !windows.contains_key(actor) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let (start, used) = windows.entry(actor.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *used = 0;
        }
        let allowed = wanted.min(PER_WINDOW - *used);
        *used += allowed;
        if allowed < wanted {
            tracing::warn!(
                actor,
                dropped = wanted - allowed,
                "security events over the per-credential budget were not written"
            );
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_gets_its_budget_and_no_more() {
        let t = Throttle::default();
        assert_eq!(t.admit("k", 50), 50);
        assert_eq!(t.admit("k", 50), 10);
        assert_eq!(t.admit("k", 1), 0);
        assert_eq!(t.admit("other", 5), 5, "budgets are per credential");
    }
}
