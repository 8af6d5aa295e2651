//! The OAuth 2.0 authorization server for partner apps (RFC 6749 with PKCE, RFC 7636; JWT
//! access tokens, RFC 9068; revocation, RFC 7009; introspection, RFC 7662; metadata, RFC 8414).
//! No HTTP here: `http::oauth` parses requests into the types below and writes the answers.
//!
//! Every token belongs to a grant (`oauth_grants`), and every request with an access token
//! reads its grant and app (`access::credentials`), so revoking a grant, suspending or revoking
//! an app, or ending the secret a backend's grant was given under, refuses the very next
//! request on every replica, even with an unexpired token.

pub mod authorize;
pub mod clients;
pub mod introspection;
pub mod signing;
pub mod token;
pub mod verified;

use chrono::Duration;
use entity::{oauth_grant, partner_app};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::actor::{ActorKind, Who};
use crate::domain::oauth::OAuthError;
use crate::error::AppError;
use crate::store::audit::NewAuditEvent;
use signing::SigningKeys;

/// The JWT type of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The authorization server's settings and keys, shared by every request.
pub struct OAuth {
    /// This server's issuer identifier: the base URL its endpoints hang off.
    pub issuer: String,
    pub access_ttl: Duration,
    pub code_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a consent page may be left open before its form is refused.
    pub consent_ttl: Duration,
    pub keys: SigningKeys,
    /// Access tokens whose signature was checked here already.
    pub verified: verified::VerifiedTokens,
}

impl OAuth {
    pub fn new(
        settings: &crate::config::OAuthSettings,
        issuer: &str,
        store: crate::store::Store,
    ) -> Self {
        OAuth {
            issuer: issuer.trim_end_matches('/').to_owned(),
            access_ttl: Duration::seconds(settings.access_token_ttl_seconds),
            code_ttl: Duration::seconds(settings.code_ttl_seconds),
            refresh_ttl: Duration::days(settings.refresh_token_ttl_days),
            consent_ttl: Duration::seconds(settings.consent_ttl_seconds),
            keys: SigningKeys::new(store),
            verified: Default::default(),
        }
    }

    /// The audience of access tokens: the GraphQL API.
    pub fn audience(&self) -> String {
        format!("{}/graphql", self.issuer)
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The `sub` of a grant's tokens: the consenting user, or the client itself for a backend's
/// own grant (RFC 9068 §2.2).
pub fn subject(grant: &oauth_grant::Model, client_id: &str) -> String {
    grant
        .user_id
        .map_or_else(|| client_id.to_owned(), |u| u.to_string())
}

/// An audit event by an app, on behalf of its grant's user, about the grant: what the token,
/// revocation and introspection endpoints record.
pub fn app_event(
    app: &partner_app::Model,
    grant: &oauth_grant::Model,
    action: &str,
    operation: &str,
    ip: Option<String>,
) -> NewAuditEvent {
    let mut who = Who::new(ActorKind::PartnerApp, Some(app.id), &app.name);
    who.on_behalf_of = grant.user_id;
    NewAuditEvent {
        occurred_at: chrono::Utc::now(),
        who,
        action: action.into(),
        operation: operation.into(),
        operation_name: None,
        record_type: "oauth_grant".into(),
        record_ids: vec![grant.id].into(),
        fields: vec![],
        ip,
    }
}

/// The claims of an access token (RFC 9068 §2.2), plus the grant it belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The consenting user's id, or the client id for a backend's own grant.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The grant; read on every request, so that its revocation applies at once.
    pub sb_grant: Uuid,
}

/// Why an OAuth request failed: an RFC error the client is told, or an internal one (a
/// `server_error` with a correlation id).
#[derive(Debug)]
pub enum Failure {
    OAuth(OAuthError),
    App(AppError),
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::OAuth(e)
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::App(e)
    }
}

pub type Outcome<T> = Result<T, Failure>;
