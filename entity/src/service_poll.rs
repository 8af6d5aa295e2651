use sea_orm::entity::prelude::*;

/// How and when a LAB connection is polled for results, where its feed stands (`cursor`),
/// and which replica is polling it now (`lease_owner` until `lease_until`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_polls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: Uuid,
    pub every_seconds: Option<i32>,
    pub cron: Option<String>,
    pub path: String,
    pub enabled: bool,
    pub cursor: Option<String>,
    pub next_at: DateTimeUtc,
    pub failures: i32,
    pub last_polled_at: Option<DateTimeUtc>,
    pub last_outcome: Option<String>,
    pub last_message: Option<String>,
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
