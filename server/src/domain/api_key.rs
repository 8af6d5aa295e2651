//! Secrets handed to integrations: API keys and portal session tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::environment::Environment;

/// Characters of a secret kept in clear as its display prefix ("sb_live_" plus 6).
const PREFIX_LEN: usize = 14;

/// A freshly generated secret: the text shown once, and what is stored.
pub struct NewSecret {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // 256 bits from the OS; failure here means the OS cannot give randomness at all, and
    // continuing would mint guessable keys.
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn new_api_key(env: Environment) -> NewSecret {
    let tag = match env {
        Environment::Production => "sb_live_",
        Environment::Sandbox => "sb_test_",
    };
    let secret = format!("{tag}{}", random_token());
    NewSecret {
        prefix: secret[..PREFIX_LEN].to_owned(),
        hash: hash_secret(&secret),
        secret,
    }
}

pub fn new_session_token() -> NewSecret {
    let secret = format!("sb_sess_{}", random_token());
    NewSecret {
        prefix: secret[..PREFIX_LEN].to_owned(),
        hash: hash_secret(&secret),
        secret,
    }
}

/// The lookup key of a secret. Secrets carry 256 random bits, so a plain SHA-256 cannot be
/// brute-forced and lets the database find the row by an index instead of comparing secrets.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What kind of credential a presented token claims to be, judged by its shape alone.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenKind {
    ApiKey,
    Session,
    /// A partner app's OAuth access token: a JWT (three base64url parts).
    AccessToken,
    Unknown,
}

pub fn token_kind(token: &str) -> TokenKind {
    if token.starts_with("sb_live_") || token.starts_with("sb_test_") {
        TokenKind::ApiKey
    } else if token.starts_with("sb_sess_") {
        TokenKind::Session
    } else if token.starts_with("eyJ") && token.split('.').count() == 3 {
        TokenKind::AccessToken
    } else {
        TokenKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_environment_and_enough_randomness() {
        let live = new_api_key(Environment::Production);
        assert!(live.secret.starts_with("sb_live_"));
        // 32 random bytes → 43 base64url characters after the tag.
        assert_eq!(live.secret.len(), "sb_live_".len() + 43);
        assert!(
            new_api_key(Environment::Sandbox)
                .secret
                .starts_with("sb_test_")
        );
        assert_ne!(live.secret, new_api_key(Environment::Production).secret);
        assert_eq!(live.hash, hash_secret(&live.secret));
        assert!(live.secret.starts_with(&live.prefix));
        assert_eq!(token_kind(&live.secret), TokenKind::ApiKey);
        assert_eq!(token_kind(&new_session_token().secret), TokenKind::Session);
        assert_eq!(token_kind("nope"), TokenKind::Unknown);
    }
}
