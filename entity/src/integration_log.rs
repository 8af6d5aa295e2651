use sea_orm::entity::prelude::*;

/// One exchange with an external service: a Test Connection, a call out, a message in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub connection_id: Option<Uuid>,
    pub direction: String,
    pub operation: String,
    pub outcome: String,
    pub error_code: Option<String>,
    /// Plain words: what happened, and for a failure what to try.
    pub message: String,
    pub latency_ms: i64,
    pub correlation_id: String,
    pub environment: String,
    /// JSON: the steps taken, each with its time.
    pub detail: String,
    /// While the connection's debug capture is on: what was sent and received, with secrets
    /// redacted.
    pub capture: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
