//! The OAuth 2.0 vocabulary: the RFC error codes, PKCE, scope strings and the single-use
//! secrets the authorization server hands out. No I/O.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::api_key::{hash_secret, random_token};
use super::scope::{ScopeSet, UnknownScope};

/// An OAuth error, named as the RFCs name it (RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1).
/// `Display` is the wire code, so a variant cannot be sent under another name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error with the human description sent as `error_description`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
}

macro_rules! oauth_error_fns {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl OAuthError {
            $(pub fn $name(description: impl Into<String>) -> Self {
                OAuthError::new(OAuthErrorCode::$code, description)
            })*
        }
    };
}

oauth_error_fns! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unauthorized_client => UnauthorizedClient,
    invalid_scope => InvalidScope,
    access_denied => AccessDenied,
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// A PKCE code challenge (RFC 7636), `S256` only: `plain` would hand the verifier to anyone
/// who sees the authorization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> OAuthResult<Self> {
        let challenge = challenge.ok_or_else(|| {
            OAuthError::invalid_request("code_challenge is required (PKCE with S256)")
        })?;
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256; plain is not accepted",
                ));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "unsupported code_challenge_method; use S256",
                ));
            }
        }
        // BASE64URL(SHA-256(verifier)) without padding is always 43 characters.
        if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
            return Err(OAuthError::invalid_request(
                "code_challenge is not a base64url SHA-256 digest",
            ));
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    pub fn from_stored(raw: String) -> Self {
        CodeChallenge(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from (RFC 7636 §4.6).
    pub fn verifies(&self, verifier: &str) -> bool {
        // RFC 7636 §4.1: 43 to 128 unreserved characters.
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// Parses a `scope` parameter (space-separated names, RFC 6749 §3.3).
pub fn parse_scope(raw: &str) -> Result<ScopeSet, UnknownScope> {
    ScopeSet::parse(raw.split(' ').filter(|s| !s.is_empty()))
}

/// A `scope` parameter's text for a set.
pub fn scope_text(scopes: &ScopeSet) -> String {
    scopes.names().join(" ")
}

/// An authorization code or refresh token: shown to the client once, stored as a hash.
pub struct OneTimeSecret {
    pub secret: String,
    pub hash: String,
}

fn one_time(tag: &str) -> OneTimeSecret {
    let secret = format!("{tag}{}", random_token());
    OneTimeSecret {
        hash: hash_secret(&secret),
        secret,
    }
}

pub fn new_authorization_code() -> OneTimeSecret {
    one_time("sb_code_")
}

pub fn new_refresh_token() -> OneTimeSecret {
    one_time("sb_rt_")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The challenge computed independently (Python's hashlib and base64).
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ0kKRBtsfUlX-lRF4MvbzpCgK_dKM";
    const CHALLENGE: &str = "cPO8jAS0GduvtNkesuPz8e3UOFjRjjoxdOHaxuSxuOs";

    #[test]
    fn pkce_s256_matches_an_independent_computation_and_refuses_plain() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(c.verifies(VERIFIER));
        assert!(!c.verifies(&VERIFIER.replace('d', "e")));
        assert!(
            !c.verifies(CHALLENGE),
            "the challenge is not its own verifier"
        );
        assert_eq!(
            CodeChallenge::parse(Some(CHALLENGE), Some("plain"))
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidRequest
        );
        assert!(CodeChallenge::parse(Some(CHALLENGE), None).is_err());
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some("short"), Some("S256")).is_err());
    }

    #[test]
    fn scopes_are_space_separated_known_names() {
        let set = parse_scope("patients:read  patients.billing:read").unwrap();
        assert_eq!(scope_text(&set), "patients:read patients.billing:read");
        assert!(parse_scope("patients:read admin").is_err());
        assert!(parse_scope("").unwrap().is_empty());
    }
}
