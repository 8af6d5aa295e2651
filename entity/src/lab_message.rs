use sea_orm::entity::prelude::*;

/// An HL7 v2 message a lab connection sent, as received: `raw` is sealed (`key_id`: the master
/// key that sealed it), since it names a patient. `status` says what became of it; the
/// dead-letter queue is the messages whose status is `DEAD`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// None: no connection took it (kept all the same, for an administrator to see).
    pub connection_id: Option<Uuid>,
    pub transport: String,
    pub sending_facility: String,
    pub control_id: Option<String>,
    pub message_type: String,
    pub status: String,
    pub ack_code: String,
    /// The acknowledgement sent (a resend gets the same one).
    pub ack: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub raw: String,
    pub key_id: Option<String>,
    /// The message's length in bytes.
    pub size: i32,
    /// JSON array of the tests it resulted.
    pub test_ids: String,
    /// How often it was processed (received, then each reprocess).
    pub attempts: i32,
    pub ip: Option<String>,
    pub received_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<String>,
    /// Why it was discarded, or that a reprocess took it.
    pub resolution: Option<String>,
}

/// Never prints the message, even sealed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabMessage")
            .field("id", &self.id)
            .field("connection_id", &self.connection_id)
            .field("control_id", &self.control_id)
            .field("status", &self.status)
            .field("ack_code", &self.ack_code)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
