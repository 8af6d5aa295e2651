use sea_orm::entity::prelude::*;

/// One audited access or change. Append-only: the application never updates or deletes these
/// rows, and on PostgreSQL a trigger refuses it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    /// The user on whose behalf the actor acted (a partner app's grant); null otherwise.
    pub actor_on_behalf_of: Option<String>,
    /// A portal user's role when the event was recorded; null for other actors.
    pub actor_role: Option<String>,
    pub action: String,
    /// What executed: the operation type and its root fields, or the mutation's name.
    pub operation: String,
    /// The name the caller gave the operation, if any (truncated): a label only.
    pub operation_name: Option<String>,
    pub record_type: String,
    pub record_ids: String,
    pub fields: String,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
