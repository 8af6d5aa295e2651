use sea_orm::entity::prelude::*;

/// A system event in the webhook outbox, written with the change that caused it. `fields` is
/// a JSON array of the names of the fields that changed (never their values). On PostgreSQL
/// the table also has `txid` and `seq`, its place in commit order, which only fan-out reads
/// (`store::webhook_delivery`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_type: String,
    pub record_type: String,
    pub record_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub fields: String,
    pub occurred_at: DateTimeUtc,
    /// The environment of an event about a record without a client (a key, an app, an
    /// endpoint); NULL when it is the client's.
    pub environment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
