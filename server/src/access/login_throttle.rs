//! Failed portal logins, per account and per client address: past a few failures the account
//! (or the address) is locked for a while, and each further failure doubles the lock.
//!
//! Why: a password is the one secret here that people choose, so guessing must be slow. The
//! address limit is higher than the account one because several staff share a clinic's
//! address; it stops one address from trying a few passwords on every account.
//! Kept in memory: a restart or another replica starts with a clean slate (see README).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest lock.
const MAX_LOCK: Duration = Duration::from_secs(3600);
/// Failures older than this (with no lock in force) are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Entries kept per map at most; past it, forgotten and expired ones are dropped first.
const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub per_account: u32,
    pub per_address: u32,
    pub first_lock: Duration,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

pub struct LoginThrottle {
    policy: Policy,
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<String, Failures>>,
}

fn lock<'a>(
    map: &'a Mutex<HashMap<String, Failures>>,
) -> std::sync::MutexGuard<'a, HashMap<String, Failures>> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

fn remaining(map: &Mutex<HashMap<String, Failures>>, key: &str, now: Instant) -> Option<Duration> {
    let until = lock(map).get(key)?.locked_until?;
    (until > now).then(|| until - now)
}

fn fail(map: &Mutex<HashMap<String, Failures>>, key: &str, free: u32, first: Duration) {
    let now = Instant::now();
    let mut map = lock(map);
    if map.len() >= MAX_TRACKED && !map.contains_key(key) {
        map.retain(|_, f| {
            f.locked_until.is_some_and(|u| u > now) || now.duration_since(f.last) < FORGET_AFTER
        });
    }
    let entry = map.entry(key.to_owned()).or_insert(Failures {
        count: 0,
        last: now,
        locked_until: None,
    });
    if now.duration_since(entry.last) >= FORGET_AFTER && entry.locked_until.is_none_or(|u| u <= now)
    {
        entry.count = 0;
    }
    entry.count += 1;
    entry.last = now;
    if entry.count >= free {
        let doublings = (entry.count - free).min(16);
        let length = first.saturating_mul(1 << doublings).min(MAX_LOCK);
        entry.locked_until = Some(now + length);
    }
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> Self {
        LoginThrottle {
            policy,
            accounts: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// How long the caller must wait before trying this account from this address, if
    /// either is locked. Checked before the password is, so a locked attempt costs nothing.
    pub fn wait(&self, account: &str, address: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let by_account = remaining(&self.accounts, account, now);
        let by_address = address.and_then(|a| remaining(&self.addresses, a, now));
        by_account.max(by_address)
    }

    pub fn failed(&self, account: &str, address: Option<&str>) {
        fail(
            &self.accounts,
            account,
            self.policy.per_account,
            self.policy.first_lock,
        );
        if let Some(address) = address {
            fail(
                &self.addresses,
                address,
                self.policy.per_address,
                self.policy.first_lock,
            );
        }
    }

    /// A successful login clears the account's failures (not the address's: one good
    /// password must not buy an address more guesses at other accounts).
    pub fn succeeded(&self, account: &str) {
        lock(&self.accounts).remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Policy {
            per_account: 3,
            per_address: 5,
            first_lock: Duration::from_secs(30),
        })
    }

    #[test]
    fn an_account_locks_after_its_failures_and_the_lock_grows() {
        let t = throttle();
        t.failed("a", Some("1.2.3.4"));
        t.failed("a", Some("1.2.3.4"));
        assert!(t.wait("a", Some("1.2.3.4")).is_none());
        t.failed("a", Some("1.2.3.4"));
        let first = t
            .wait("a", Some("9.9.9.9"))
            .expect("locked from any address");
        assert!(first <= Duration::from_secs(30) && first > Duration::from_secs(25));
        t.failed("a", None);
        let second = t.wait("a", None).unwrap();
        assert!(second > Duration::from_secs(55), "{second:?}");
        assert!(t.wait("b", Some("9.9.9.9")).is_none());
    }

    #[test]
    fn an_address_locks_across_accounts() {
        let t = throttle();
        for i in 0..5 {
            t.failed(&format!("user{i}"), Some("1.2.3.4"));
        }
        assert!(t.wait("fresh", Some("1.2.3.4")).is_some());
        assert!(t.wait("fresh", Some("5.6.7.8")).is_none());
    }

    #[test]
    fn a_lock_ends() {
        let t = LoginThrottle::new(Policy {
            per_account: 1,
            per_address: 100,
            first_lock: Duration::from_millis(20),
        });
        t.failed("a", None);
        assert!(t.wait("a", None).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.wait("a", None).is_none());
    }

    #[test]
    fn success_clears_the_account_only() {
        let t = throttle();
        t.failed("a", Some("1.2.3.4"));
        t.failed("a", Some("1.2.3.4"));
        t.succeeded("a");
        t.failed("a", Some("1.2.3.4"));
        assert!(t.wait("a", None).is_none());
    }
}
