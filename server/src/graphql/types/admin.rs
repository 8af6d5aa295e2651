use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{admin_user, api_key, audit_event, client, location};
use uuid::Uuid;

use super::page::PageInfo;
use crate::access::Principal;
use crate::domain::environment::Environment;
use crate::domain::role::Role;
use crate::graphql::ContextExt;
use crate::graphql::ids::{cursor, to_id};
use crate::store::page::Page;

/// Whether a key is accepted now.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyStatus {
    Active,
    /// Rotated: still accepted until `expiresAt`, then expired.
    Rotating,
    Expired,
    Revoked,
}

/// An API key of a private integration. The secret is never shown again after creation.
pub struct ApiKey {
    key: api_key::Model,
    /// Its creator's email when the key was listed (all creators read in one query); `None`
    /// when not loaded, for a single key answering a mutation.
    creator: Option<Option<String>>,
}

impl ApiKey {
    /// A listed key with its creator's email.
    pub fn listed((key, creator): (api_key::Model, Option<String>)) -> Self {
        ApiKey {
            key,
            creator: Some(creator),
        }
    }
}

impl From<api_key::Model> for ApiKey {
    fn from(key: api_key::Model) -> Self {
        ApiKey { key, creator: None }
    }
}

fn uuid_list(raw: &str) -> Option<Vec<ID>> {
    serde_json::from_str::<Option<Vec<Uuid>>>(raw)
        .ok()
        .flatten()
        .map(|ids| ids.into_iter().map(to_id).collect())
}

/// An API key of a private integration. The secret is never shown again after creation.
#[Object]
impl ApiKey {
    async fn id(&self) -> Option<ID> {
        Some(to_id(self.key.id))
    }
    async fn name(&self) -> Option<&str> {
        Some(&self.key.name)
    }
    /// The first characters of the secret, to recognise it.
    async fn prefix(&self) -> Option<&str> {
        Some(&self.key.prefix)
    }
    async fn scopes(&self) -> Option<Vec<String>> {
        serde_json::from_str(&self.key.scopes).ok()
    }
    /// Clients the key is limited to; null means all clients of its environment.
    async fn client_ids(&self) -> Option<Vec<ID>> {
        uuid_list(&self.key.client_ids)
    }
    /// Locations the key is limited to; null means all locations.
    async fn location_ids(&self) -> Option<Vec<ID>> {
        uuid_list(&self.key.location_ids)
    }
    async fn environment(&self) -> Option<Environment> {
        Some(Environment::from_stored(&self.key.environment))
    }
    async fn status(&self) -> Option<ApiKeyStatus> {
        let now = Utc::now();
        Some(if self.key.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.key.expires_at.is_some_and(|at| at <= now) {
            ApiKeyStatus::Expired
        } else if self.key.rotated_to.is_some() {
            ApiKeyStatus::Rotating
        } else {
            ApiKeyStatus::Active
        })
    }
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        Some(self.key.created_at)
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.key.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.key.revoked_at
    }
    /// When the key was last used (recorded to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.key.last_used_at
    }
    /// The portal user who created the key, or rotated it into being (their email); null for
    /// a key made on the command line.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        if let Some(listed) = &self.creator {
            return Ok(listed.clone());
        }
        let Some(id) = self.key.created_by else {
            return Ok(None);
        };
        Ok(ctx.access()?.admin().user_email(id).await?)
    }
    /// Ranges the key may be used from (besides the server-wide list); null: anywhere.
    async fn allowed_ips(&self) -> Option<Vec<String>> {
        super::protection::allowed_ips(
            crate::store::api_keys::limits(&self.key)
                .allowed_ips
                .as_deref(),
        )
    }
    /// The key's own request rate; null: the server-wide default.
    async fn rate_limit(&self) -> Option<super::protection::RateLimitView> {
        crate::store::api_keys::limits(&self.key)
            .rate
            .map(Into::into)
    }
    /// The key that replaced this one, after a rotation.
    async fn rotated_to_id(&self) -> Option<ID> {
        self.key.rotated_to.map(to_id)
    }
}

/// A newly issued secret. Store it now: it cannot be shown again.
#[derive(SimpleObject)]
pub struct ApiKeySecretPayload {
    pub api_key: ApiKey,
    pub secret: String,
}

/// A portal user.
#[derive(SimpleObject)]
pub struct AdminUser {
    pub id: ID,
    pub email: String,
    pub role: Role,
}

impl AdminUser {
    pub fn from_model(m: &admin_user::Model) -> Self {
        let role = m.role.parse::<Role>().unwrap_or(Role::Staff);
        AdminUser {
            id: to_id(m.id),
            email: m.email.clone(),
            role,
        }
    }
}

/// A new portal session.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: AdminUser,
}

/// The caller, as Switchboard sees them.
pub struct Viewer(pub Principal);

/// The caller, as Switchboard sees them.
#[Object]
impl Viewer {
    /// API_KEY or ADMIN.
    async fn kind(&self) -> Option<&str> {
        Some(self.0.kind().as_str())
    }
    async fn id(&self) -> Option<ID> {
        Some(ID(self.0.id().map(|id| id.to_string()).unwrap_or_default()))
    }
    async fn name(&self) -> Option<String> {
        Some(self.0.label().to_owned())
    }
    async fn role(&self) -> Option<Role> {
        self.0.role()
    }
    async fn scopes(&self) -> Option<Vec<String>> {
        Some(self.0.grant.scopes.names())
    }
    async fn client_ids(&self) -> Option<Vec<ID>> {
        self.0
            .grant
            .rows
            .clients
            .as_ref()
            .map(|ids| ids.iter().copied().map(to_id).collect())
    }
    async fn location_ids(&self) -> Option<Vec<ID>> {
        self.0
            .grant
            .rows
            .locations
            .as_ref()
            .map(|ids| ids.iter().copied().map(to_id).collect())
    }
    /// The one environment the caller works in: a key's or app's own, or the one a portal
    /// user chose with the `X-Environment` header; null: both.
    async fn environment(&self) -> Option<Environment> {
        self.0.grant.rows.environment
    }
}

/// One audited access or change.
#[derive(SimpleObject, Clone)]
pub struct AuditEvent {
    pub id: ID,
    pub occurred_at: DateTime<Utc>,
    /// API_KEY, ADMIN, PARTNER_APP, SERVICE_CONNECTION (a signed message from an external
    /// service) or ANONYMOUS.
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    /// The portal user on whose behalf a partner app acted (their id), when it acted for
    /// one; null otherwise.
    pub on_behalf_of: Option<String>,
    /// A portal user's role when the event was recorded (for `ADMIN` actors, whatever
    /// their role: a `STAFF` user's events carry `STAFF`); null for other actors.
    pub actor_role: Option<Role>,
    /// READ, SEARCH, CREATE, UPDATE, VALIDATE (a validation-only request), ROTATE, REVOKE, EXPIRE, LOGIN, LOGIN_FAILED, GRANT,
    /// SUSPEND, REACTIVATE or DENIED
    /// (a refused attempt: a record outside the credential's limits, a refused field).
    pub action: String,
    /// What executed: a write's mutation, or a read's operation type and root fields
    /// (`query patients`).
    pub operation: String,
    /// The name the caller gave the operation, if any: a label of the caller's choosing.
    pub operation_name: Option<String>,
    pub record_type: String,
    pub record_ids: Vec<String>,
    /// The fields disclosed (reads), written (writes), searched by (searches: the filter
    /// fields, `totalCount`, `first:0`) or refused (DENIED).
    pub fields: Vec<String>,
    pub ip: Option<String>,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(m: audit_event::Model) -> Self {
        AuditEvent {
            id: to_id(m.id),
            occurred_at: m.occurred_at,
            actor_kind: m.actor_kind,
            actor_id: m.actor_id,
            actor_label: m.actor_label,
            on_behalf_of: m.actor_on_behalf_of,
            actor_role: m.actor_role.and_then(|r| r.parse().ok()),
            action: m.action,
            operation: m.operation,
            operation_name: m.operation_name,
            record_type: m.record_type,
            record_ids: serde_json::from_str(&m.record_ids).unwrap_or_default(),
            fields: serde_json::from_str(&m.fields).unwrap_or_default(),
            ip: m.ip,
        }
    }
}

/// An audit event and its cursor.
#[derive(SimpleObject)]
pub struct AuditEventEdge {
    pub cursor: String,
    pub node: AuditEvent,
}

/// A page of audit events, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuditEventConnection {
    pub edges: Vec<AuditEventEdge>,
    pub page_info: PageInfo,
}

#[ComplexObject]
impl AuditEventConnection {
    /// The events of this page (the edges' nodes).
    async fn nodes(&self) -> Vec<AuditEvent> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

impl AuditEventConnection {
    pub fn new(page: Page<audit_event::Model>) -> Self {
        let end_cursor = page.items.last().map(|e| cursor(e.id));
        AuditEventConnection {
            edges: page
                .items
                .into_iter()
                .map(|m| AuditEventEdge {
                    cursor: cursor(m.id),
                    node: m.into(),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
        }
    }
}

/// An ordering organisation.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Client {
    #[graphql(skip)]
    pub uuid: Uuid,
    pub name: String,
    pub environment: Environment,
}

impl From<client::Model> for Client {
    fn from(m: client::Model) -> Self {
        Client {
            uuid: m.id,
            name: m.name,
            environment: Environment::from_stored(&m.environment),
        }
    }
}

#[ComplexObject]
impl Client {
    async fn id(&self) -> ID {
        to_id(self.uuid)
    }
    async fn locations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Location>> {
        let rows = ctx.access()?.admin().locations_of(&[self.uuid]).await?;
        Ok(rows.into_iter().map(Location::from).collect())
    }
}

/// A site of a client.
#[derive(SimpleObject)]
pub struct Location {
    pub id: ID,
    pub client_id: ID,
    pub name: String,
}

impl From<location::Model> for Location {
    fn from(m: location::Model) -> Self {
        Location {
            id: to_id(m.id),
            client_id: to_id(m.client_id),
            name: m.name,
        }
    }
}

/// Server-wide integration settings.
#[derive(SimpleObject)]
pub struct IntegrationSettings {
    /// Whether GraphiQL (`/graphiql`) and schema introspection are offered to developers.
    /// When off, only portal administrators may introspect the schema.
    pub developer_portal_enabled: bool,
}
