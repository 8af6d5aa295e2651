use sea_orm::entity::prelude::*;

/// A patient's request for outside records, sent to a records-exchange connection, and what
/// the service answered later (`records`: JSON, as received and checked).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outside_records_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub connection_id: Uuid,
    pub patient_id: Uuid,
    pub client_id: Uuid,
    pub environment: String,
    /// Sent to the service's production test address (validation mode): checked, not
    /// processed, and never answered.
    pub validation: bool,
    pub status: String,
    pub error_code: Option<String>,
    pub message: String,
    /// How many times it was sent (retries of retryable failures included).
    pub attempts: i32,
    /// Who asked (the actor's label).
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    /// The id of the signed message that answered it: a resend of it changes nothing.
    pub answer_id: Option<String>,
    pub records: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
