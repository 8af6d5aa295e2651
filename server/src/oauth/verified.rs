//! Access tokens whose signature this replica has checked, so that a partner's next request
//! with the same token skips the signature check and the decoding. Only what the token itself
//! says is kept: its grant, app and secret are still read on every request (`access::
//! credentials`), so nothing a revocation changes is cached. An entry is used only until the
//! token's own expiry.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::AccessClaims;

/// Entries kept at most; beyond it the cache starts over rather than grow without bound.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct VerifiedTokens(Mutex<HashMap<[u8; 32], AccessClaims>>);

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The claims of `token`, if its signature was checked here and it has not expired.
    pub fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&key(token)).filter(|c| c.exp > now).cloned()
    }

    pub fn put(&self, token: &str, claims: AccessClaims) {
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key(token), claims);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            client_id: "c".into(),
            scope: "patients:read".into(),
            jti: "j".into(),
            iat: 0,
            exp,
            sb_grant: uuid::Uuid::now_v7(),
        }
    }

    #[test]
    fn only_the_same_token_and_only_until_it_expires() {
        let cache = VerifiedTokens::default();
        cache.put("token-a", claims(100));
        assert!(cache.get("token-a", 99).is_some());
        assert!(cache.get("token-a", 100).is_none(), "expired at exp");
        assert!(cache.get("token-a.", 99).is_none(), "another token");
    }
}
