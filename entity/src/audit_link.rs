use sea_orm::entity::prelude::*;

/// A link of the audit trail's hash chain: its place, its events' ids in order (a JSON list),
/// the hash of the link before it (64 zeros for the first) and its own hash. Append-only, like
/// the events.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub event_ids: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
