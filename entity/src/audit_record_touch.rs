use sea_orm::entity::prelude::*;

/// That a record was in some audit event of one actor within one hour: the index by which
/// "every event about record X" finds its events without scanning the trail. `hour` counts
/// hours since 1970 of the event's id (a UUIDv7, whose first 48 bits are its time in ms).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_record_touches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
