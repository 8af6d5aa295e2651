//! Allowed addresses and request rates: server-wide, and per API key or partner app
//! (settings administrators). Enforced per request in `access::protection`.

use async_graphql::{Context, ID, InputObject, Object};

use super::ContextExt;
use super::ids::parse_id;
use super::types::admin::ApiKey;
use super::types::partner_app::PartnerApp;
use super::types::protection::ProtectionSettings;
use crate::access::protection::Policy;
use crate::domain::network::{Limits, RateLimit, parse_allowed_ips};
use crate::error::AppError;

type R<T> = async_graphql::Result<T>;

/// A request rate: `perMinute` sustained (1 to 1000000), up to `burst` at once (1 to 100000).
#[derive(InputObject, Clone, Copy)]
pub struct RateLimitInput {
    /// Requests a minute, sustained.
    pub per_minute: i32,
    /// Requests that may be sent at once after a quiet spell.
    pub burst: i32,
}

impl RateLimitInput {
    pub fn parse(self, field: &str) -> Result<RateLimit, AppError> {
        RateLimit::new(field, i64::from(self.per_minute), i64::from(self.burst))
            .map_err(AppError::Validation)
    }
}

/// What one credential is held to besides its grants.
#[derive(InputObject, Default)]
pub struct CredentialLimitsInput {
    /// CIDR ranges or addresses (IPv4 or IPv6, at most 100) it may be used from; null or
    /// omitted: anywhere. An empty list: nowhere.
    pub allowed_ips: Option<Vec<String>>,
    /// Its own rate; null or omitted: the server-wide default.
    pub rate_limit: Option<RateLimitInput>,
}

impl CredentialLimitsInput {
    pub fn parse(self, field: &str) -> Result<Limits, AppError> {
        Ok(Limits {
            allowed_ips: self
                .allowed_ips
                .map(|list| parse_allowed_ips(&format!("{field}.allowedIps"), &list))
                .transpose()
                .map_err(AppError::Validation)?,
            rate: self
                .rate_limit
                .map(|r| r.parse(&format!("{field}.rateLimit")))
                .transpose()?,
        })
    }
}

/// The server-wide protection settings.
#[derive(InputObject)]
pub struct ProtectionSettingsInput {
    /// Ranges every API key and partner app must call from (at most 100); null: anywhere.
    pub allowed_ips: Option<Vec<String>>,
    /// The rate of a credential without its own.
    pub credential_rate_limit: RateLimitInput,
    /// The rate of one client address for requests without a valid credential.
    pub address_rate_limit: RateLimitInput,
}

fn settings_view(ctx: &Context<'_>, policy: &Policy) -> R<ProtectionSettings> {
    let trusted = ctx
        .access()?
        .protection()
        .trusted_proxies()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(ProtectionSettings::new(policy, trusted))
}

#[derive(Default)]
pub struct ProtectionQuery;

#[Object]
impl ProtectionQuery {
    /// The server-wide allowed addresses and request rates.
    async fn protection_settings(&self, ctx: &Context<'_>) -> R<Option<ProtectionSettings>> {
        let policy = ctx.access()?.admin().protection().await?;
        Ok(Some(settings_view(ctx, &policy)?))
    }
}

#[derive(Default)]
pub struct ProtectionMutation;

#[Object]
impl ProtectionMutation {
    /// Replaces the server-wide allowed addresses and request rates. Applies to the next
    /// request on this server, within a second on the others. Audited.
    async fn set_protection_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new settings, whole.")] input: ProtectionSettingsInput,
    ) -> R<Option<ProtectionSettings>> {
        let policy = Policy {
            allowed_ips: input
                .allowed_ips
                .map(|list| parse_allowed_ips("input.allowedIps", &list))
                .transpose()
                .map_err(AppError::Validation)?,
            credential_rate: input
                .credential_rate_limit
                .parse("input.credentialRateLimit")?,
            address_rate: input.address_rate_limit.parse("input.addressRateLimit")?,
        };
        let policy = ctx.access()?.admin().set_protection(policy).await?;
        Ok(Some(settings_view(ctx, &policy)?))
    }

    /// Holds an API key (every secret of its rotation) to these addresses and this rate,
    /// replacing what it had. Applies to its next request. Audited.
    async fn set_api_key_limits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key (any key of its rotation).")] id: ID,
        #[graphql(desc = "Its allowed addresses and rate.")] input: CredentialLimitsInput,
    ) -> R<Option<ApiKey>> {
        let id = parse_id("id", &id)?;
        let limits = input.parse("input")?;
        let key = ctx.access()?.admin().set_key_limits(id, limits).await?;
        Ok(Some(ApiKey::from(key)))
    }

    /// Holds a partner app (every grant and token of it) to these addresses and this rate,
    /// replacing what it had. Applies to its tokens' next requests. Audited.
    async fn set_partner_app_limits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
        #[graphql(desc = "Its allowed addresses and rate.")] input: CredentialLimitsInput,
    ) -> R<Option<PartnerApp>> {
        let id = parse_id("id", &id)?;
        let limits = input.parse("input")?;
        let app = ctx.access()?.directory().set_limits(id, limits).await?;
        Ok(Some(PartnerApp(app)))
    }
}
