//! The connection directory's types: partner apps, their secrets and grants, and connections.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::admin::ApiKey;
use crate::access::directory::{AppView, Connection as DirectoryEntry, GrantView};
use crate::domain::environment::Environment;
use crate::domain::partner_app::{
    AppCategory, AppStatus, ClientType, ConnectionKind, ConnectionStatus, GrantKind,
};
use crate::graphql::ids::to_id;

fn uuid_list(raw: &str) -> Option<Vec<ID>> {
    serde_json::from_str::<Option<Vec<uuid::Uuid>>>(raw)
        .ok()
        .flatten()
        .map(|ids| ids.into_iter().map(to_id).collect())
}

fn names(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// A partner application in the connection directory.
pub struct PartnerApp(pub AppView);

/// A partner application in the connection directory.
#[Object]
impl PartnerApp {
    async fn id(&self) -> ID {
        to_id(self.0.app.id)
    }
    async fn name(&self) -> &str {
        &self.0.app.name
    }
    async fn category(&self) -> Option<AppCategory> {
        self.0.app.category.parse().ok()
    }
    async fn description(&self) -> &str {
        &self.0.app.description
    }
    async fn homepage(&self) -> Option<&str> {
        self.0.app.homepage.as_deref()
    }
    /// Where the app may be sent back after authorization (exact match).
    async fn redirect_uris(&self) -> Vec<String> {
        names(&self.0.app.redirect_uris)
    }
    /// The OAuth `client_id` (not secret).
    async fn client_id(&self) -> &str {
        &self.0.app.client_id
    }
    async fn client_type(&self) -> Option<ClientType> {
        self.0.app.client_type.parse().ok()
    }
    /// The most the app can ever be granted.
    async fn scopes(&self) -> Vec<String> {
        names(&self.0.app.scopes)
    }
    /// Clients the app is limited to; null means all clients of its environment.
    async fn client_ids(&self) -> Option<Vec<ID>> {
        uuid_list(&self.0.app.client_ids)
    }
    /// Locations the app is limited to; null means all locations.
    async fn location_ids(&self) -> Option<Vec<ID>> {
        uuid_list(&self.0.app.location_ids)
    }
    async fn environment(&self) -> Environment {
        Environment::from_stored(&self.0.app.environment)
    }
    /// Ranges the app's tokens may be used from (besides the server-wide list); null:
    /// anywhere.
    async fn allowed_ips(&self) -> Option<Vec<String>> {
        super::protection::allowed_ips(
            crate::store::partner_apps::limits(&self.0.app)
                .allowed_ips
                .as_deref(),
        )
    }
    /// The app's own request rate (all its tokens together); null: the server-wide default.
    async fn rate_limit(&self) -> Option<super::protection::RateLimitView> {
        crate::store::partner_apps::limits(&self.0.app)
            .rate
            .map(Into::into)
    }
    async fn status(&self) -> Option<AppStatus> {
        self.0.app.status.parse().ok()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.app.created_at
    }
    /// The portal user who registered the app (their email).
    async fn created_by(&self) -> Option<&str> {
        self.0.created_by.as_deref()
    }
    /// When a token of the app was last used (recorded to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.app.last_used_at
    }
    /// Its client secrets, newest first: only their prefixes and lifetimes.
    async fn secrets(&self) -> Vec<ClientSecret> {
        let now = Utc::now();
        self.0
            .secrets
            .iter()
            .map(|s| ClientSecret {
                prefix: s.prefix.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
                active: s.expires_at.is_none_or(|at| at > now),
            })
            .collect()
    }
    /// Every authorization given to the app, newest first.
    async fn grants(&self) -> Vec<PartnerAppGrant> {
        self.0.grants.iter().cloned().map(PartnerAppGrant).collect()
    }
}

/// A client secret, as the directory shows it (never the secret).
#[derive(SimpleObject)]
pub struct ClientSecret {
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// The end of a rotation's overlap; null for the current secret.
    pub expires_at: Option<DateTime<Utc>>,
    pub active: bool,
}

/// An authorization given to a partner app.
pub struct PartnerAppGrant(pub GrantView);

/// An authorization given to a partner app: by a user's consent, or to its own backend.
#[Object]
impl PartnerAppGrant {
    async fn id(&self) -> ID {
        to_id(self.0.grant.id)
    }
    async fn kind(&self) -> Option<GrantKind> {
        self.0.grant.kind.parse().ok()
    }
    async fn scopes(&self) -> Vec<String> {
        names(&self.0.grant.scopes)
    }
    /// The portal user who consented (their email); null for the app's own backend.
    async fn granted_by(&self) -> Option<&str> {
        self.0.user_email.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.grant.created_at
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.grant.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.grant.revoked_at
    }
}

/// A newly registered app, or one with a new secret. Store the secret now: it cannot be
/// shown again. Public apps have none.
#[derive(SimpleObject)]
pub struct PartnerAppSecretPayload {
    pub partner_app: PartnerApp,
    pub client_secret: Option<String>,
}

/// Something that can reach patient data: a partner app or an API key.
pub struct Connection(pub DirectoryEntry);

/// Something that can reach patient data: a partner app or an API key.
#[Object]
impl Connection {
    async fn kind(&self) -> ConnectionKind {
        self.0.kind()
    }
    async fn id(&self) -> ID {
        match &self.0 {
            DirectoryEntry::App(a) => to_id(a.app.id),
            DirectoryEntry::Key(k, _) => to_id(k.id),
        }
    }
    async fn name(&self) -> &str {
        match &self.0 {
            DirectoryEntry::App(a) => &a.app.name,
            DirectoryEntry::Key(k, _) => &k.name,
        }
    }
    /// A partner app's category; null for API keys.
    async fn category(&self) -> Option<AppCategory> {
        self.0.category()
    }
    async fn environment(&self) -> Environment {
        self.0.environment()
    }
    async fn status(&self) -> ConnectionStatus {
        self.0.status(Utc::now())
    }
    async fn scopes(&self) -> Vec<String> {
        match &self.0 {
            DirectoryEntry::App(a) => names(&a.app.scopes),
            DirectoryEntry::Key(k, _) => names(&k.scopes),
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        match &self.0 {
            DirectoryEntry::App(a) => a.app.created_at,
            DirectoryEntry::Key(k, _) => k.created_at,
        }
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        match &self.0 {
            DirectoryEntry::App(a) => a.app.last_used_at,
            DirectoryEntry::Key(k, _) => k.last_used_at,
        }
    }
    /// A partner app's unrevoked grants; null for API keys.
    async fn active_grants(&self) -> Option<i32> {
        match &self.0 {
            DirectoryEntry::App(a) => Some(
                a.grants
                    .iter()
                    .filter(|g| g.grant.revoked_at.is_none())
                    .count() as i32,
            ),
            DirectoryEntry::Key(..) => None,
        }
    }
    /// The partner app, when this is one.
    async fn partner_app(&self) -> Option<PartnerApp> {
        match &self.0 {
            DirectoryEntry::App(a) => Some(PartnerApp(a.clone())),
            DirectoryEntry::Key(..) => None,
        }
    }
    /// The API key, when this is one.
    async fn api_key(&self) -> Option<ApiKey> {
        match &self.0 {
            DirectoryEntry::Key(k, by) => Some(ApiKey::listed((k.clone(), by.clone()))),
            DirectoryEntry::App(_) => None,
        }
    }
}
