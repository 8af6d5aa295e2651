//! A short-lived cache of API-key principals, so that a request does not have to look its key
//! up in the database. Revoking or rotating a key clears this replica's cache at once; other
//! replicas see the change within `TTL` (a documented bound, not a race).

use std::collections::HashMap;
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

#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<String, CachedKey>>>);

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedKey>> {
        // A poisoned cache is only a cache: keep using it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for a secret's hash, if it is fresh.
    pub fn get(&self, hash: &str) -> Option<CachedKey> {
        let entries = self.lock();
        entries
            .get(hash)
            .filter(|e| e.fetched.elapsed() < TTL)
            .cloned()
    }

    pub fn put(&self, hash: String, entry: CachedKey) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, entry);
    }

    /// Records a use written to the database, so the next requests do not write it again.
    pub fn used(&self, hash: &str, at: DateTime<Utc>) {
        if let Some(entry) = self.lock().get_mut(hash) {
            entry.last_used_at = Some(at);
        }
    }

    /// Forgets everything: called when any key is revoked or rotated.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
