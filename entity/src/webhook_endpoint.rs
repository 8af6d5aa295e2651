use sea_orm::entity::prelude::*;

/// An HTTPS address subscribed to system events. `event_types` is a JSON array of event type
/// names, or NULL for every type; `app_id` is the partner app that owns it (NULL: an
/// administrator's).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Option<String>,
    pub environment: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub app_id: Option<Uuid>,
    pub failing_since: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
