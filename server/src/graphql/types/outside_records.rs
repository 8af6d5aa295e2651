//! Requests for outside records and what came back.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::outside_records_request as request;

use crate::domain::environment::Environment;
use crate::domain::integration::IntegrationErrorCode;
use crate::domain::records_exchange::{OutsideRecord, RecordsRequestStatus};
use crate::graphql::ids::to_id;

/// A request for a patient's outside records, and the service's answer once it came.
pub struct OutsideRecordsRequest(pub request::Model);

/// A request for a patient's outside records, and the service's answer once it came.
#[Object]
impl OutsideRecordsRequest {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn patient_id(&self) -> ID {
        to_id(self.0.patient_id)
    }
    /// The RECORDS_EXCHANGE connection it went to.
    async fn connection_id(&self) -> ID {
        to_id(self.0.connection_id)
    }
    async fn environment(&self) -> Environment {
        Environment::from_stored(&self.0.environment)
    }
    /// Sent in validation mode: checked by the service's test address, not processed.
    async fn validation(&self) -> bool {
        self.0.validation
    }
    async fn status(&self) -> Option<RecordsRequestStatus> {
        self.0.status.parse().ok()
    }
    /// Why it failed, when it did.
    async fn error_code(&self) -> Option<IntegrationErrorCode> {
        self.0.error_code.as_deref().and_then(|c| c.parse().ok())
    }
    /// What happened, in plain words.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// How many times it was sent (retries included).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// Who asked.
    async fn requested_by(&self) -> &str {
        &self.0.requested_by
    }
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
    /// The records the service sent (empty until it answers, and for NOT_FOUND).
    async fn records(&self) -> Vec<OutsideRecord> {
        self.0
            .records
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }
}

/// A connection's new inbound secret. Give both to the service; the secret is never shown
/// again.
#[derive(SimpleObject)]
pub struct InboundSecret {
    /// The secret (`whsec_…`): the service signs each message with it (HMAC-SHA256 of
    /// `id.timestamp.body`, the Standard Webhooks form).
    pub secret: String,
    /// Where the service sends its messages.
    pub url: String,
}

/// Requests sent in validation mode, by how they went.
#[derive(SimpleObject)]
pub struct ValidatedRequests {
    /// Accepted by the service's test address.
    pub succeeded: u64,
    pub failed: u64,
}

/// Where a connection's service sends Switchboard messages, and whether they can be checked.
#[derive(SimpleObject)]
pub struct InboundAddress {
    pub url: String,
    /// Whether an inbound secret is set; messages are refused until one is.
    pub secret_set: bool,
    pub secret_changed_at: Option<DateTime<Utc>>,
}
