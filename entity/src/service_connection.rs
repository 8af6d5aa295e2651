use sea_orm::entity::prelude::*;

/// A connection to an external service. `credentials` is sealed (`key_id`: the master key
/// that sealed it); `address`, `identifiers` and `ca_pem` are not secret.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub service_type: String,
    pub protocol: String,
    pub address: String,
    pub health_path: String,
    /// JSON object of identifiers.
    pub identifiers: String,
    pub environment: String,
    pub enabled: bool,
    pub timeout_ms: i32,
    pub ca_pem: Option<String>,
    pub auth_kind: String,
    pub credentials: String,
    pub key_id: Option<String>,
    pub credentials_changed_at: DateTimeUtc,
    /// The status its exchanges last gave it (`HealthStatus`); a change raises an event.
    pub health_status: String,
    /// Until when its exchanges are captured (requests and answers, secrets redacted).
    pub debug_capture_until: Option<DateTimeUtc>,
    /// Requests go to `validation_address` (the service's production test address), to be
    /// checked there but not processed.
    pub validation_mode: bool,
    pub validation_address: Option<String>,
    /// The client a LAB connection's results belong to (patients are matched in it).
    pub client_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Never prints the credentials, even sealed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConnection")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("service_type", &self.service_type)
            .field("protocol", &self.protocol)
            .field("address", &self.address)
            .field("environment", &self.environment)
            .field("auth_kind", &self.auth_kind)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
