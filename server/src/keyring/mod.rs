//! Secrets kept at rest (webhook signing secrets, the access-token signing keys, and service
//! credentials) are sealed with AES-256-GCM under a master key that never enters the database.
//! Each sealed value records the id of the key that sealed it, so that the key can be changed:
//! the current key seals, the previous ones still open what they sealed until
//! `switchboard keys rotate` has sealed it again under the current one (`store::sealed`).
//!
//! A sealed value is bound to where it is kept (its table, column and row) as associated data,
//! so a value copied into another row, or another column, does not open.

mod load;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

pub use load::{KEY_FILE, Loaded, generate_key, load, make_file};

/// Bytes of a master key.
pub const KEY_LEN: usize = 32;

/// One master key: its id (derived from it, so the same key has the same id on every replica)
/// and the cipher.
struct MasterKey {
    id: String,
    cipher: LessSafeKey,
}

impl MasterKey {
    fn new(bytes: &[u8; KEY_LEN]) -> MasterKey {
        let digest = Sha256::new()
            .chain_update(b"switchboard master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).expect("a 256-bit key is a valid AES-256 key"),
        );
        MasterKey { id, cipher }
    }
}

/// A value sealed under one master key: `nonce ‖ ciphertext ‖ tag`, base64.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub text: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key {})", self.key_id)
    }
}

/// Where a sealed value is kept: what it is bound to.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: uuid::Uuid,
}

impl Place<'_> {
    fn aad(&self) -> String {
        format!("{}.{}:{}", self.table, self.column, self.row)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "no master key is configured to seal secrets with (secrets.master_key or secrets.master_key_file)"
    )]
    NoKey,
    #[error(
        "a secret is sealed under master key {0}, which is not configured (secrets.master_key or secrets.previous_master_keys)"
    )]
    UnknownKey(String),
    #[error("a secret sealed under master key {0} does not open: it was altered or moved")]
    Corrupt(String),
}

/// The master keys this process knows: the current one seals; all open.
pub struct Keyring {
    current: Option<MasterKey>,
    previous: Vec<MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id())
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    pub fn new(current: Option<[u8; KEY_LEN]>, previous: &[[u8; KEY_LEN]]) -> Keyring {
        let current = current.map(|k| MasterKey::new(&k));
        let previous = previous
            .iter()
            .map(MasterKey::new)
            .filter(|k| current.as_ref().is_none_or(|c| c.id != k.id))
            .collect();
        Keyring { current, previous }
    }

    /// A keyring with no key: seals nothing, opens nothing (the commands that never touch a
    /// secret).
    pub fn empty() -> Keyring {
        Keyring::new(None, &[])
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// Whether a value sealed under `id` opens here.
    pub fn knows(&self, id: &str) -> bool {
        self.key(id).is_some()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        self.current
            .iter()
            .chain(self.previous.iter())
            .find(|k| k.id == id)
    }

    /// Seals `plain` under the current key, bound to `place`.
    pub fn seal(&self, plain: &[u8], place: Place<'_>) -> Result<Sealed, KeyringError> {
        let key = self.current.as_ref().ok_or(KeyringError::NoKey)?;
        // A random 96-bit nonce: safe for far more values than this will ever seal under one
        // key (NIST SP 800-38D allows 2^32).
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("operating system random number generator failed");
        let mut out = plain.to_vec();
        key.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.aad().as_bytes()),
                &mut out,
            )
            .expect("sealing a value that fits in memory");
        let mut text = nonce.to_vec();
        text.extend_from_slice(&out);
        Ok(Sealed {
            key_id: key.id.clone(),
            text: STANDARD.encode(text),
        })
    }

    /// Opens a value sealed at `place`.
    pub fn open(&self, sealed: &Sealed, place: Place<'_>) -> Result<Vec<u8>, KeyringError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| KeyringError::UnknownKey(sealed.key_id.clone()))?;
        let corrupt = || KeyringError::Corrupt(sealed.key_id.clone());
        let bytes = STANDARD.decode(&sealed.text).map_err(|_| corrupt())?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut rest = rest.to_vec();
        let plain = key
            .cipher
            .open_in_place(nonce, Aad::from(place.aad().as_bytes()), &mut rest)
            .map_err(|_| corrupt())?;
        Ok(plain.to_vec())
    }

    /// Opens a sealed text value (a UTF-8 secret).
    pub fn open_text(&self, sealed: &Sealed, place: Place<'_>) -> Result<String, KeyringError> {
        String::from_utf8(self.open(sealed, place)?)
            .map_err(|_| KeyringError::Corrupt(sealed.key_id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; KEY_LEN] = [7; KEY_LEN];
    const B: [u8; KEY_LEN] = [9; KEY_LEN];

    fn place(row: u128) -> Place<'static> {
        Place {
            table: "t",
            column: "c",
            row: uuid::Uuid::from_u128(row),
        }
    }

    #[test]
    fn a_sealed_value_opens_where_it_was_sealed_and_nowhere_else() {
        let ring = Keyring::new(Some(A), &[]);
        let sealed = ring.seal(b"whsec_abc", place(1)).unwrap();
        assert!(!sealed.text.contains("whsec"));
        assert_eq!(ring.open(&sealed, place(1)).unwrap(), b"whsec_abc");
        // Moved to another row: refused.
        assert!(matches!(
            ring.open(&sealed, place(2)),
            Err(KeyringError::Corrupt(_))
        ));
        // One bit changed: refused.
        let mut bytes = STANDARD.decode(&sealed.text).unwrap();
        bytes[NONCE_LEN] ^= 1;
        let altered = Sealed {
            text: STANDARD.encode(bytes),
            ..sealed.clone()
        };
        assert!(matches!(
            ring.open(&altered, place(1)),
            Err(KeyringError::Corrupt(_))
        ));
        // The same value twice seals differently (a fresh nonce each time).
        assert_ne!(ring.seal(b"whsec_abc", place(1)).unwrap().text, sealed.text);
    }

    #[test]
    fn previous_keys_open_and_only_the_current_one_seals() {
        let old = Keyring::new(Some(A), &[]);
        let sealed = old.seal(b"secret", place(1)).unwrap();
        let rotated = Keyring::new(Some(B), &[A]);
        assert_eq!(rotated.open(&sealed, place(1)).unwrap(), b"secret");
        let resealed = rotated.seal(b"secret", place(1)).unwrap();
        assert_eq!(Some(resealed.key_id.as_str()), rotated.current_id());
        assert_ne!(resealed.key_id, sealed.key_id);
        let only_new = Keyring::new(Some(B), &[]);
        assert!(matches!(
            only_new.open(&sealed, place(1)),
            Err(KeyringError::UnknownKey(id)) if id == sealed.key_id
        ));
        assert!(matches!(
            Keyring::empty().seal(b"x", place(1)),
            Err(KeyringError::NoKey)
        ));
    }

    #[test]
    fn a_keys_id_is_the_same_wherever_it_is_loaded_and_reveals_nothing_of_it() {
        let one = Keyring::new(Some(A), &[]);
        let two = Keyring::new(None, &[A]);
        assert!(two.knows(one.current_id().unwrap()));
        let id = one.current_id().unwrap();
        assert_eq!(id.len(), 16);
        assert!(!STANDARD.encode(A).contains(id));
    }
}
