//! Request rates (GCRA) per credential and per client address, in this process with
//! `governor`. One keyed limiter per distinct rate: a key's rate is whatever its credential
//! (or the server-wide default) says now, so a changed rate starts from a full allowance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::domain::network::{RateLimit, canonical};

/// What a rate is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// An API key, a partner app (all its grants together) or a portal user.
    Credential(Uuid),
    /// A client address, for requests without a credential. IPv6 addresses count by their
    /// /64: one machine commonly holds a whole /64, and counting each address would let it
    /// pick a fresh allowance per request.
    Address(IpAddr),
}

impl LimitKey {
    pub fn address(ip: IpAddr) -> Self {
        LimitKey::Address(match canonical(ip) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
            v4 => v4,
        })
    }
}

/// The outcome of one request against its rate, with what the `RateLimit-*` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The burst: requests that may be made at once after a quiet spell.
    pub limit: u32,
    /// Requests that may be made now without waiting.
    pub remaining: u32,
    /// Seconds until the whole burst is available again.
    pub reset_secs: u64,
    /// Refused: seconds until the next request is let through (at least 1).
    pub retry_after_secs: u64,
}

type Keyed = RateLimiter<
    LimitKey,
    DefaultKeyedStateStore<LimitKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Read on every request by every worker, written only when a rate is first used: a
/// read-write lock, so that the workers do not queue for it.
#[derive(Default)]
pub struct LocalLimiter {
    by_rate: RwLock<HashMap<RateLimit, Arc<Keyed>>>,
}

fn quota(rate: RateLimit) -> Quota {
    let one = NonZeroU32::MIN;
    let per_minute = NonZeroU32::new(rate.per_minute).unwrap_or(one);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(one);
    Quota::per_minute(per_minute).allow_burst(burst)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl LocalLimiter {
    fn limiter(&self, rate: RateLimit) -> Arc<Keyed> {
        if let Some(limiter) = self
            .by_rate
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rate)
        {
            return limiter.clone();
        }
        let mut map = self.by_rate.write().unwrap_or_else(|e| e.into_inner());
        map.entry(rate)
            .or_insert_with(|| {
                Arc::new(
                    RateLimiter::keyed(quota(rate)).with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    pub fn check(&self, key: &LimitKey, rate: RateLimit) -> Verdict {
        let limiter = self.limiter(rate);
        let interval = quota(rate).replenish_interval();
        match limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Verdict {
                    allowed: true,
                    limit: rate.burst,
                    remaining,
                    reset_secs: ceil_secs(interval * rate.burst.saturating_sub(remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                Verdict {
                    allowed: false,
                    limit: rate.burst,
                    remaining: 0,
                    reset_secs: ceil_secs(interval * rate.burst),
                    retry_after_secs: ceil_secs(wait).max(1),
                }
            }
        }
    }

    /// Forgets keys whose allowance is whole again (they are as good as new), so that the
    /// addresses and credentials seen once do not accumulate. Run now and then.
    pub fn forget_idle(&self) {
        let mut map = self.by_rate.write().unwrap_or_else(|e| e.into_inner());
        for limiter in map.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        // A rate no credential uses any more (it was changed) goes with its last key.
        map.retain(|_, limiter| !limiter.is_empty());
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        let map = self.by_rate.read().unwrap();
        map.values().map(|l| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_let_through_then_refused_with_when_to_retry() {
        let local = LocalLimiter::default();
        let rate = RateLimit {
            per_minute: 60,
            burst: 3,
        };
        let key = LimitKey::Credential(Uuid::nil());
        let seen: Vec<Verdict> = (0..4).map(|_| local.check(&key, rate)).collect();
        assert_eq!(
            seen.iter()
                .map(|v| (v.allowed, v.remaining))
                .collect::<Vec<_>>(),
            [(true, 2), (true, 1), (true, 0), (false, 0)]
        );
        assert_eq!(seen[3].retry_after_secs, 1, "one request a second");
        assert_eq!(seen[2].reset_secs, 3);
        // Another key, or the same key at another rate, has its own allowance.
        assert!(
            local
                .check(&LimitKey::Credential(Uuid::max()), rate)
                .allowed
        );
        assert!(
            local
                .check(
                    &key,
                    RateLimit {
                        per_minute: 60,
                        burst: 5
                    }
                )
                .allowed
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a = LimitKey::address("2001:db8:1:2::1".parse().unwrap());
        let b = LimitKey::address("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = LimitKey::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            LimitKey::address("::ffff:192.0.2.1".parse().unwrap()),
            LimitKey::address("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let local = LocalLimiter::default();
        let rate = RateLimit {
            per_minute: 6_000_000 / 100,
            burst: 1,
        };
        local.check(&LimitKey::Credential(Uuid::nil()), rate);
        assert_eq!(local.keys(), 1);
        std::thread::sleep(Duration::from_millis(5));
        local.forget_idle();
        assert_eq!(local.keys(), 0);
    }
}
