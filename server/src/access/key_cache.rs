//! A short-lived cache of API-key principals, so that a request does not have to look its key
//! up in the database. Any change to a key (revoked, rotated, renamed, its limits) clears this
//! replica's cache at once and, on PostgreSQL, every other replica's through a notification
//! (`access::replicas`); while a replica is not sure to hear those (its listening connection is
//! down), it does not use its cache at all. `TTL` bounds an entry's life besides.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::principal::Principal;

pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; beyond it the cache starts over rather than grow without bound.
const CAPACITY: usize = 10_000;

#[derive(Clone)]
pub struct CachedKey {
    pub principal: Principal,
    pub key_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    fetched: Instant,
}

impl CachedKey {
    pub fn new(
        principal: Principal,
        key_id: Uuid,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
    ) -> Self {
        CachedKey {
            principal,
            key_id,
            expires_at,
            last_used_at,
            fetched: Instant::now(),
        }
    }
}

#[derive(Clone)]
pub struct KeyCache(Arc<Inner>);

struct Inner {
    entries: Mutex<HashMap<String, CachedKey>>,
    /// Bumped by every `clear`: an entry read from the database before a clear is not put in
    /// after it (it may be what the clear was about).
    generation: AtomicU64,
    /// Whether changes made elsewhere reach this cache; while not, it is not used.
    trusted: AtomicBool,
}

impl Default for KeyCache {
    /// A cache that only this process changes (SQLite: one server per database).
    fn default() -> Self {
        KeyCache::new(true)
    }
}

impl KeyCache {
    pub fn new(trusted: bool) -> Self {
        KeyCache(Arc::new(Inner {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedKey>> {
        // A poisoned cache is only a cache: keep using it.
        self.0.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for a secret's hash, if it is fresh and the cache is trusted.
    pub fn get(&self, hash: &str) -> Option<CachedKey> {
        if !self.0.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.lock();
        entries
            .get(hash)
            .filter(|e| e.fetched.elapsed() < TTL)
            .cloned()
    }

    /// Where the cache stands before a lookup in the database: `put` it back with what was
    /// read.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// Keeps an entry read from the database when the cache was at `generation`, unless it has
    /// been cleared since.
    pub fn put(&self, generation: u64, hash: String, entry: CachedKey) {
        let mut entries = self.lock();
        if self.generation() != generation || !self.0.trusted.load(Ordering::Acquire) {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, entry);
    }

    /// Whether changes made by other replicas reach this cache (`access::replicas`).
    pub fn set_trusted(&self, trusted: bool) {
        self.clear();
        self.0.trusted.store(trusted, Ordering::Release);
    }

    /// Records a use written to the database, so the next requests do not write it again.
    pub fn used(&self, hash: &str, at: DateTime<Utc>) {
        if let Some(entry) = self.lock().get_mut(hash) {
            entry.last_used_at = Some(at);
        }
    }

    /// Forgets everything: called when any key changes, here or (notified) on another replica.
    pub fn clear(&self) {
        let mut entries = self.lock();
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Principal;

    fn entry() -> CachedKey {
        CachedKey::new(Principal::anonymous(), Uuid::nil(), None, None)
    }

    #[test]
    fn what_was_read_before_a_clear_is_not_kept_after_it() {
        let cache = KeyCache::default();
        let before = cache.generation();
        cache.clear();
        cache.put(before, "h".into(), entry());
        assert!(cache.get("h").is_none());
        cache.put(cache.generation(), "h".into(), entry());
        assert!(cache.get("h").is_some());
    }

    #[test]
    fn an_untrusted_cache_is_not_used() {
        let cache = KeyCache::new(false);
        cache.put(cache.generation(), "h".into(), entry());
        assert!(cache.get("h").is_none());
        cache.set_trusted(true);
        cache.put(cache.generation(), "h".into(), entry());
        assert!(cache.get("h").is_some());
        cache.set_trusted(false);
        assert!(cache.get("h").is_none());
    }
}
