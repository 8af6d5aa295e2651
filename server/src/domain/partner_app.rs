//! Partner applications: their kinds, states and the values registered for them.

use super::api_key::{NewSecret, hash_secret, random_token};
use super::environment::Environment;
use super::stored_enum::stored_enum;

stored_enum! {
    /// What a partner application does for the clinic, as the directory groups it.
    pub enum AppCategory {
        Accounting = "ACCOUNTING",
        Crm = "CRM",
        Diagnostics = "DIAGNOSTICS",
        Other = "OTHER",
    }
}

stored_enum! {
    /// Whether an app can keep a secret (RFC 6749 §2.1).
    pub enum ClientType {
        /// A server-side app: authenticates with its client secret.
        Confidential = "CONFIDENTIAL",
        /// A browser or mobile app: no secret; must use PKCE, and cannot use client
        /// credentials.
        Public = "PUBLIC",
    }
}

stored_enum! {
    /// Whether an app's tokens are accepted.
    pub enum AppStatus {
        Active = "ACTIVE",
        /// Temporarily refused (every token, at once); can be reactivated.
        Suspended = "SUSPENDED",
        /// Ended for good, with all its grants.
        Revoked = "REVOKED",
    }
}

stored_enum! {
    /// How a grant was given.
    pub enum GrantKind {
        /// A portal user consented (authorization code flow).
        AuthorizationCode = "AUTHORIZATION_CODE",
        /// The app's own backend, by its client secret, within the app's ceiling.
        ClientCredentials = "CLIENT_CREDENTIALS",
    }
}

stored_enum! {
    /// What kind of credential a connection of the directory is.
    pub enum ConnectionKind {
        PartnerApp = "PARTNER_APP",
        ApiKey = "API_KEY",
    }
}

stored_enum! {
    /// Whether a connection can reach data now, the same words for apps and keys.
    pub enum ConnectionStatus {
        /// Accepted (a key in rotation too).
        Active = "ACTIVE",
        /// An app suspended for now.
        Suspended = "SUSPENDED",
        /// A key past its expiry.
        Expired = "EXPIRED",
        /// Ended for good.
        Revoked = "REVOKED",
    }
}

/// A public client identifier: not secret, but unguessable so that the directory cannot be
/// enumerated through the authorization endpoint.
pub fn new_client_id() -> String {
    format!("sbapp_{}", &random_token()[..22])
}

/// A client secret, typed like the API keys' (`sb_cs_live_…` / `sb_cs_test_…`).
pub fn new_client_secret(env: Environment) -> NewSecret {
    let tag = match env {
        Environment::Production => "sb_cs_live_",
        Environment::Sandbox => "sb_cs_test_",
    };
    let secret = format!("{tag}{}", random_token());
    NewSecret {
        prefix: secret[..tag.len() + 6].to_owned(),
        hash: hash_secret(&secret),
        secret,
    }
}

/// A redirect URI an app may be sent back to: absolute, without a fragment (RFC 6749
/// §3.1.2), and `https` unless it is a loopback address (RFC 8252 §7.3), which only sandbox
/// apps and public (native) apps may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str, env: Environment, client_type: ClientType) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
        if url.fragment().is_some() {
            return Err("must not contain a fragment (#…)".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {
                if env == Environment::Production && client_type == ClientType::Confidential {
                    return Err(
                        "a production server-side app must use an https redirect URI".into(),
                    );
                }
            }
            "http" => return Err("must use https (http only for loopback addresses)".into()),
            other => return Err(format!("scheme `{other}` is not allowed; use https")),
        }
        if raw.len() > 2000 {
            return Err("longer than 2000 characters".into());
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_exact_https_or_loopback() {
        let ok = |raw, env, kind| RedirectUri::parse(raw, env, kind).is_ok();
        use ClientType::*;
        use Environment::*;
        assert!(ok("https://app.example.com/cb", Production, Confidential));
        assert!(ok("http://127.0.0.1:9000/cb", Sandbox, Confidential));
        assert!(ok("http://[::1]/cb", Production, Public));
        assert!(!ok("http://127.0.0.1/cb", Production, Confidential));
        assert!(!ok("http://app.example.com/cb", Sandbox, Confidential));
        assert!(!ok("https://app.example.com/cb#x", Sandbox, Confidential));
        assert!(!ok("https://u:p@app.example.com/cb", Sandbox, Confidential));
        assert!(!ok("javascript:alert(1)", Sandbox, Public));
        assert!(!ok("/relative", Sandbox, Public));
    }

    #[test]
    fn client_secrets_are_typed_by_environment() {
        let live = new_client_secret(Environment::Production);
        assert!(live.secret.starts_with("sb_cs_live_"));
        assert!(live.secret.starts_with(&live.prefix));
        assert_eq!(live.hash, hash_secret(&live.secret));
        assert!(
            new_client_secret(Environment::Sandbox)
                .secret
                .starts_with("sb_cs_test_")
        );
        assert_ne!(new_client_id(), new_client_id());
    }
}
