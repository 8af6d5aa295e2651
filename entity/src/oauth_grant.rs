use sea_orm::entity::prelude::*;

/// An authorization given to a partner app: by a portal user's consent (`user_id`), or to the
/// app's backend by client credentials (`secret_id`, the secret it authenticated with). Every
/// access and refresh token belongs to one; revoking it ends them all.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub app_id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub secret_id: Option<Uuid>,
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::partner_app::Entity",
        from = "Column::AppId",
        to = "super::partner_app::Column::Id"
    )]
    PartnerApp,
    #[sea_orm(
        belongs_to = "super::partner_app_secret::Entity",
        from = "Column::SecretId",
        to = "super::partner_app_secret::Column::Id"
    )]
    Secret,
}

impl Related<super::partner_app::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PartnerApp.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
