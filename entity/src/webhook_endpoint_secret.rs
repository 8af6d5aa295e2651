use sea_orm::entity::prelude::*;

/// A signing secret of an endpoint (`whsec_…`). Every secret not expired signs each attempt,
/// so a rotation overlaps the old and the new. `prefix` is the non-secret start shown in lists.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub secret: String,
    /// The key that sealed the secret (`keyring`); none while it is not sealed yet.
    pub key_id: Option<String>,
    pub prefix: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
