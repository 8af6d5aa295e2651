use async_graphql::SimpleObject;

use crate::access::protection::Policy;
use ipnet::IpNet;

use crate::domain::network::RateLimit;

/// A request rate (GCRA): `perMinute` sustained, up to `burst` at once after a quiet spell.
#[derive(SimpleObject, Clone, Copy)]
#[graphql(name = "RateLimit")]
pub struct RateLimitView {
    /// Requests a minute, sustained.
    pub per_minute: i32,
    /// Requests that may be sent at once after a quiet spell.
    pub burst: i32,
}

impl From<RateLimit> for RateLimitView {
    fn from(rate: RateLimit) -> Self {
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        RateLimitView {
            per_minute: int(rate.per_minute),
            burst: int(rate.burst),
        }
    }
}

/// Allowed addresses (a credential's, or the server's), as ranges in canonical form; null:
/// anywhere.
pub fn allowed_ips(nets: Option<&[IpNet]>) -> Option<Vec<String>> {
    nets.map(|nets| nets.iter().map(ToString::to_string).collect())
}

/// Server-wide protection: which addresses integrations may call from, and how fast
/// credentials and anonymous addresses may send requests.
#[derive(SimpleObject)]
pub struct ProtectionSettings {
    /// Ranges every API key and partner app must call from, besides its own list; null:
    /// anywhere. Portal sessions are not held to it.
    pub allowed_ips: Option<Vec<String>>,
    /// The rate of a credential (API key, partner app, portal user) without its own.
    pub credential_rate_limit: RateLimitView,
    /// The rate of one client address for requests without a valid credential (sign-in, the
    /// token endpoint, wrong keys).
    pub address_rate_limit: RateLimitView,
    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers name the client (the
    /// `server.trusted_proxies` setting; read-only here).
    pub trusted_proxies: Vec<String>,
}

impl ProtectionSettings {
    pub fn new(policy: &Policy, trusted_proxies: Vec<String>) -> Self {
        ProtectionSettings {
            allowed_ips: allowed_ips(policy.allowed_ips.as_deref()),
            credential_rate_limit: policy.credential_rate.into(),
            address_rate_limit: policy.address_rate.into(),
            trusted_proxies,
        }
    }
}
