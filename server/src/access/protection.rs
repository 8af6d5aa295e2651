//! Who may send requests from where, and how fast: the server-wide policy an administrator
//! sets in Settings, each credential's own allowed addresses and rate, and the limiter. Checked
//! once per request, right after authentication (`http::auth`), before any handler runs.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::principal::{Actor, Principal};
use super::rate_limit::{LimitKey, LocalLimiter, Verdict};
use super::shared_limits::SharedLimits;
use crate::domain::network::{RateLimit, client_ip, contains, parse_allowed_ips};
use crate::error::{AppError, AppResult};
use crate::store::{self, Store};

/// The settings row the policy is kept in (JSON).
pub const POLICY_SETTING: &str = "protection";

/// How long this process uses the policy it read before reading it again: a change made on
/// this replica applies at once, one made on another within this.
const POLICY_TTL: Duration = Duration::from_secs(1);

/// The server-wide protection settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Addresses API keys and partner apps may be used from, besides their own lists; `None`:
    /// anywhere. Portal sessions are not held to it, so an administrator cannot lock
    /// everyone out of the screen that changes it.
    pub allowed_ips: Option<Vec<IpNet>>,
    /// The rate of a credential without its own.
    pub credential_rate: RateLimit,
    /// The rate of one client address for requests without a valid credential (sign-in,
    /// `/oauth/token`, wrong or unknown keys).
    pub address_rate: RateLimit,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_ips: None,
            // 100 a second sustained, 600 at once: well above what an integration that is
            // not misbehaving sends, and far below what would starve the others.
            credential_rate: RateLimit {
                per_minute: 6_000,
                burst: 600,
            },
            // Sign-in and token requests are a handful per person; 10 a second from one
            // address leaves room for a clinic behind one NAT.
            address_rate: RateLimit {
                per_minute: 600,
                burst: 100,
            },
        }
    }
}

/// Why a request was not let in, with the rate's state when a rate refused it.
pub struct Refusal {
    pub error: AppError,
    pub verdict: Option<Verdict>,
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Refusal {
            error,
            verdict: None,
        }
    }
}

#[derive(Default)]
pub struct Protection {
    limiter: LocalLimiter,
    policy: RwLock<Option<(Instant, Arc<Policy>)>>,
    /// The proxies whose forwarding headers are believed (`server.trusted_proxies`).
    trusted_proxies: Vec<IpNet>,
    /// With `redis.url`: the rates every replica shares, while Redis answers.
    shared: Option<Arc<SharedLimits>>,
}

impl Protection {
    pub fn new(trusted_proxies: &[String], redis_url: Option<&str>) -> anyhow::Result<Self> {
        let trusted_proxies = parse_allowed_ips("server.trusted_proxies", trusted_proxies)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let shared = redis_url.map(SharedLimits::new).transpose()?.map(Arc::new);
        Ok(Protection {
            trusted_proxies,
            shared,
            ..Protection::default()
        })
    }

    /// The shared rates, when Redis is configured (for its watcher and `/readyz`).
    pub fn shared(&self) -> Option<&Arc<SharedLimits>> {
        self.shared.as_ref()
    }

    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// The client's address: the peer, or what the trusted proxies in front of it say
    /// (`domain::network::client_ip`).
    pub fn client_ip(
        &self,
        peer: IpAddr,
        forwarded: Option<&str>,
        x_forwarded_for: Option<&str>,
    ) -> IpAddr {
        client_ip(peer, forwarded, x_forwarded_for, &self.trusted_proxies)
    }

    /// The policy in force: read from the database at most once per `POLICY_TTL`.
    pub async fn policy(&self, store: &Store) -> AppResult<Arc<Policy>> {
        if let Some((read, policy)) = &*self.policy.read().unwrap_or_else(|e| e.into_inner())
            && read.elapsed() < POLICY_TTL
        {
            return Ok(policy.clone());
        }
        let policy = Arc::new(read_policy(store.conn()).await?);
        self.remember(policy.clone());
        Ok(policy)
    }

    /// The policy changed on another replica: read it again at the next request.
    pub fn forget(&self) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A policy just written on this replica applies to the next request.
    pub fn remember(&self, policy: Arc<Policy>) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy));
    }

    /// Lets a request of `principal` from `ip` in, or says why not: an address outside the
    /// server's or the credential's allowed list (`IP_NOT_ALLOWED`), or a spent rate
    /// (`RATE_LIMITED`). The verdict is the rate's state, for the `RateLimit-*` headers.
    pub async fn admit(
        &self,
        store: &Store,
        principal: &Principal,
        ip: Option<IpAddr>,
    ) -> Result<Option<Verdict>, Refusal> {
        let policy = self.policy(store).await?;
        let (key, rate) = match &principal.actor {
            Actor::Anonymous => return self.address(&policy, ip).await,
            Actor::Admin { id, .. } => (LimitKey::Credential(*id), policy.credential_rate),
            Actor::ApiKey { id, .. } | Actor::PartnerApp { app_id: id, .. } => {
                let global = policy
                    .allowed_ips
                    .as_ref()
                    .is_none_or(|nets| ip.is_some_and(|ip| contains(nets, ip)));
                if !global || !principal.grant.admits(ip) {
                    return Err(AppError::IpNotAllowed.into());
                }
                (
                    LimitKey::Credential(*id),
                    principal.grant.rate_limit.unwrap_or(policy.credential_rate),
                )
            }
        };
        self.count(&key, rate).await.map(Some)
    }

    /// A request that presented no valid credential counts against its address's rate; past
    /// it, the request is refused as limited rather than told whether its credential was
    /// good (guessing keys is slowed like guessing passwords).
    pub async fn admit_address(
        &self,
        store: &Store,
        ip: Option<IpAddr>,
    ) -> Result<Option<Verdict>, Refusal> {
        let policy = self.policy(store).await?;
        self.address(&policy, ip).await
    }

    async fn address(
        &self,
        policy: &Policy,
        ip: Option<IpAddr>,
    ) -> Result<Option<Verdict>, Refusal> {
        match ip {
            // No address: a test harness or a Unix socket, nothing to count against.
            None => Ok(None),
            Some(ip) => self
                .count(&LimitKey::address(ip), policy.address_rate)
                .await
                .map(Some),
        }
    }

    async fn count(&self, key: &LimitKey, rate: RateLimit) -> Result<Verdict, Refusal> {
        let shared = match &self.shared {
            Some(shared) => shared.check(key, rate).await,
            None => None,
        };
        let verdict = match shared {
            Some(verdict) => verdict,
            None => self.limiter.check(key, rate),
        };
        if verdict.allowed {
            return Ok(verdict);
        }
        Err(Refusal {
            error: AppError::RateLimited {
                retry_after_secs: verdict.retry_after_secs,
                message: format!(
                    "too many requests: at most {} a minute ({} at once); retry in {} s",
                    rate.per_minute, rate.burst, verdict.retry_after_secs
                ),
            },
            verdict: Some(verdict),
        })
    }

    /// Forgets what idle keys used; run every minute or so.
    pub fn tidy(&self) {
        self.limiter.forget_idle();
    }
}

pub async fn read_policy(db: &impl sea_orm::ConnectionTrait) -> AppResult<Policy> {
    match store::settings::get(db, POLICY_SETTING).await? {
        None => Ok(Policy::default()),
        Some(raw) => serde_json::from_str(&raw).map_err(|e| {
            AppError::Internal(anyhow::anyhow!(
                "the stored protection settings are unreadable: {e}"
            ))
        }),
    }
}
