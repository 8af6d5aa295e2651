//! The keys access tokens (and consent forms) are signed with: Ed25519, kept in the database so
//! that every replica signs and verifies with the same keys, rotated by `switchboard
//! signing-key rotate`. The newest key signs; it and the one before it are published
//! (`/.well-known/jwks.json`) and accepted, so tokens signed before a rotation stay valid until
//! they expire.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use entity::oauth_signing_key;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::keyring::Keyring;
use crate::store::{Store, oauth, sealed};

const ALGORITHM: &str = "EdDSA";
/// Keys published and accepted: the signing key and the one it replaced.
const PUBLISHED: usize = 2;
/// How long a replica trusts its copy of the key list before reading it again (a rotation on
/// another replica reaches it within this).
const REFRESH: Duration = Duration::from_secs(30);

struct Loaded {
    id: Uuid,
    /// The public key, base64url (a JWK's `x`).
    x: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

struct Keys {
    keys: Vec<Loaded>,
    loaded: Instant,
}

/// Whether a verification refuses an expired token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Checked,
    Ignored,
}

/// Why a token did not verify: every case is answered the same way to the caller.
#[derive(Debug)]
pub struct Rejected;

pub struct SigningKeys {
    store: Store,
    keys: RwLock<Option<Keys>>,
}

/// A new key, its private half sealed (`keyring`).
fn generate(keyring: &Keyring) -> AppResult<oauth_signing_key::Model> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness for a key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let id = Uuid::now_v7();
    let private = sealed::seal(
        keyring,
        sealed::TOKEN_SIGNING_KEY,
        id,
        &STANDARD.encode(seed),
    )?;
    Ok(oauth_signing_key::Model {
        id,
        algorithm: ALGORITHM.into(),
        private_key: private.text,
        key_id: Some(private.key_id),
        public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        created_at: Utc::now(),
        retired_at: None,
    })
}

fn load(keyring: &Keyring, row: &oauth_signing_key::Model) -> AppResult<Loaded> {
    let bad = |what: &str| AppError::Internal(anyhow::anyhow!("signing key {}: {what}", row.id));
    let private = sealed::open(
        keyring,
        sealed::TOKEN_SIGNING_KEY,
        row.id,
        &row.private_key,
        row.key_id.as_deref(),
    )?;
    let seed: [u8; 32] = STANDARD
        .decode(private)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the private key is not 32 base64 bytes"))?;
    let der = SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .map_err(|_| bad("cannot encode the private key"))?;
    Ok(Loaded {
        id: row.id,
        x: row.public_key.clone(),
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        decoding: DecodingKey::from_ed_components(&row.public_key)
            .map_err(|_| bad("the public key is not base64url"))?,
    })
}

/// Makes a new signing key and retires the others (they stay published until the next
/// rotation): what `switchboard signing-key rotate` does.
pub async fn rotate(store: &Store) -> AppResult<Uuid> {
    let txn = store.begin_write().await?;
    let key = oauth::insert_signing_key(&txn.txn, generate(store.keyring())?).await?;
    oauth::retire_signing_keys(&txn.txn, key.id, Utc::now()).await?;
    txn.commit(crate::store::Effects::none()).await?;
    Ok(key.id)
}

impl SigningKeys {
    pub fn new(store: Store) -> Self {
        SigningKeys {
            store,
            keys: RwLock::new(None),
        }
    }

    /// Loads the keys, making the first if there is none (a new installation).
    pub async fn ensure(&self) -> AppResult<()> {
        self.reload().await?;
        if self.with_keys(<[Loaded]>::is_empty) {
            rotate(&self.store).await?;
            self.reload().await?;
        }
        Ok(())
    }

    async fn reload(&self) -> AppResult<()> {
        let rows = oauth::signing_keys(self.store.conn()).await?;
        let keys = rows
            .iter()
            .take(PUBLISHED)
            .map(|row| load(self.store.keyring(), row))
            .collect::<AppResult<Vec<_>>>()?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Keys {
            keys,
            loaded: Instant::now(),
        });
        Ok(())
    }

    async fn fresh(&self) -> AppResult<()> {
        let stale = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|k| k.loaded.elapsed() > REFRESH);
        if stale {
            self.reload().await?;
        }
        Ok(())
    }

    fn with_keys<T>(&self, f: impl FnOnce(&[Loaded]) -> T) -> T {
        let guard = self.keys.read().unwrap_or_else(|e| e.into_inner());
        f(guard.as_ref().map_or(&[][..], |k| &k.keys[..]))
    }

    /// Signs `claims` with the current key, as a JWT of type `typ`.
    pub async fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> AppResult<String> {
        self.fresh().await?;
        self.with_keys(|keys| {
            let key = keys
                .first()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("there is no signing key")))?;
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = Some(typ.to_owned());
            header.kid = Some(key.id.to_string());
            jsonwebtoken::encode(&header, claims, &key.encoding)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))
        })
    }

    /// Verifies a JWT of type `typ` signed by a published key, for `audience`, and decodes its
    /// claims. Only EdDSA is accepted: a token claiming `none`, or HS256 "signed" with the
    /// public key, is refused before any key is used.
    pub async fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: &str,
    ) -> AppResult<Result<C, Rejected>> {
        self.verify_with(token, typ, issuer, audience, Expiry::Checked)
            .await
    }

    /// `verify`, with the expiry checked or not: revoking an expired token is harmless and
    /// must not fail.
    pub async fn verify_with<C: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: &str,
        expiry: Expiry,
    ) -> AppResult<Result<C, Rejected>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err(Rejected));
        };
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(typ) {
            return Ok(Err(Rejected));
        }
        let Some(kid) = header.kid.and_then(|k| k.parse::<Uuid>().ok()) else {
            return Ok(Err(Rejected));
        };
        self.fresh().await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 0;
        validation.validate_exp = expiry == Expiry::Checked;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A key made moments ago by another replica's rotation: read the list again, at most
        // once a second however many unknown ids are presented.
        let known = self.with_keys(|keys| keys.iter().any(|k| k.id == kid));
        let recent = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|k| k.loaded.elapsed() < Duration::from_secs(1));
        if !known && !recent {
            self.reload().await?;
        }
        Ok(self.with_keys(|keys| {
            let key = keys.iter().find(|k| k.id == kid).ok_or(Rejected)?;
            jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
                .map(|data| data.claims)
                .map_err(|_| Rejected)
        }))
    }

    /// The published public keys, as a JWK set (RFC 7517).
    pub async fn jwks(&self) -> AppResult<serde_json::Value> {
        self.fresh().await?;
        Ok(self.with_keys(|keys| {
            let keys: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "x": k.x,
                        "kid": k.id.to_string(),
                        "alg": ALGORITHM,
                        "use": "sig",
                    })
                })
                .collect();
            serde_json::json!({ "keys": keys })
        }))
    }
}
