//! Trying again after a retryable failure: exponential backoff with jitter, so that many
//! callers failing together do not come back together. A failure that is not retryable ends
//! the tries at once.

use std::time::Duration;

use super::Failure;

/// How many tries, and how long between them.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The pause after the first failure, before jitter; it doubles after each.
    pub base: Duration,
    /// The longest pause.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 3,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The pause after failed try `n` (1 for the first): between half and all of
    /// `base · 2ⁿ⁻¹`, capped.
    pub fn pause(&self, n: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(16))
            .min(self.cap);
        let half = full / 2;
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("operating system random number generator failed");
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_micros(u64::from_le_bytes(bytes) % spread)
    }

    /// After failed try `n` (1 for the first): how long to pause before the next, or `None`
    /// when the failure is not retryable or the tries are spent.
    pub fn after(&self, failure: &Failure, n: u32) -> Option<Duration> {
        (failure.retryable() && n < self.attempts).then(|| self.pause(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::IntegrationErrorCode as Code;

    #[test]
    fn pauses_grow_with_jitter_and_stop_at_the_cap() {
        let b = Backoff {
            attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        for _ in 0..200 {
            let first = b.pause(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let third = b.pause(3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400));
            assert!(b.pause(30) < Duration::from_millis(1000));
        }
        let distinct: std::collections::BTreeSet<_> = (0..50).map(|_| b.pause(2)).collect();
        assert!(distinct.len() > 10, "no jitter: {distinct:?}");
    }

    #[test]
    fn retryable_failures_are_tried_again_until_the_tries_run_out_and_others_are_not() {
        let b = Backoff::default();
        let timeout = Failure::new(Code::Timeout, "slow", "");
        assert!(b.after(&timeout, 1).is_some());
        assert!(b.after(&timeout, 2).is_some());
        assert_eq!(b.after(&timeout, 3), None);
        let rejected = Failure::new(Code::Rejected, "no", "");
        assert_eq!(b.after(&rejected, 1), None);
    }
}
