use sea_orm::entity::prelude::*;

/// A partner application registered in the connection directory. `scopes` is the ceiling of
/// what it can ever be granted; `client_ids` / `location_ids` limit its rows (JSON arrays, null
/// for no limit) as an API key's do. Its secrets are in `partner_app_secrets`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub description: String,
    pub homepage: Option<String>,
    pub redirect_uris: String,
    #[sea_orm(unique)]
    pub client_id: String,
    pub client_type: String,
    pub scopes: String,
    pub client_ids: String,
    pub location_ids: String,
    pub environment: String,
    pub status: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    /// JSON array of CIDR ranges the credential may be used from; null: anywhere.
    pub allowed_ips: Option<String>,
    /// Its own request rate; null: the server-wide default.
    pub rate_per_minute: Option<i32>,
    pub rate_burst: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
