use sea_orm::entity::prelude::*;

/// The secret (`whsec_…`) a connection's service signs what it sends Switchboard with;
/// `id` is the connection's. Sealed (`key_id`).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_inbound_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub secret: String,
    pub key_id: Option<String>,
    pub created_at: DateTimeUtc,
}

/// Never prints the secret, even sealed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceInboundSecret")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
