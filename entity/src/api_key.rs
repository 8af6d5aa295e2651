use sea_orm::entity::prelude::*;

/// An API key of a private integration. The secret itself is never stored: `secret_hash` is
/// its SHA-256 (the secret has 256 random bits, so a fast hash is enough) and `prefix` is the
/// non-secret start shown in lists. Grants are JSON arrays in text columns.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    pub scopes: String,
    pub client_ids: String,
    pub location_ids: String,
    pub environment: String,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub rotated_to: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// When its `api_key.expiring` event was raised.
    pub expiry_notified_at: Option<DateTimeUtc>,
    /// JSON array of CIDR ranges the credential may be used from; null: anywhere.
    pub allowed_ips: Option<String>,
    /// Its own request rate; null: the server-wide default.
    pub rate_per_minute: Option<i32>,
    pub rate_burst: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
