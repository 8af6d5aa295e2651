//! Lab messages received (the dead-letter queue among them) and code mappings.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{lab_code_mapping, lab_message};

use crate::domain::hl7::{AckCode, Problem, ProblemCode};
use crate::domain::lab_intake::{LabMessageStatus, MappingKind, Transport};
use crate::graphql::ContextExt;
use crate::graphql::ids::to_id;

/// An HL7 v2 message a lab connection sent, with the acknowledgement it got and what became
/// of it. Its text is shown with the patient's segments masked; `revealLabMessage` shows it
/// whole (audited).
pub struct LabMessage(pub lab_message::Model);

/// An HL7 v2 message a lab connection sent, with the acknowledgement it got and what became
/// of it.
#[Object]
impl LabMessage {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    /// The connection it came for; null when no connection takes it (an unknown sender).
    async fn connection_id(&self) -> Option<ID> {
        self.0.connection_id.map(to_id)
    }
    async fn transport(&self) -> Option<Transport> {
        self.0.transport.parse().ok()
    }
    /// MSH-4.
    async fn sending_facility(&self) -> &str {
        &self.0.sending_facility
    }
    /// MSH-10 (none when the header could not be read).
    async fn control_id(&self) -> Option<&str> {
        self.0.control_id.as_deref()
    }
    /// MSH-9, e.g. `ORU^R01`.
    async fn message_type(&self) -> &str {
        &self.0.message_type
    }
    async fn status(&self) -> Option<LabMessageStatus> {
        self.0.status.parse().ok()
    }
    /// The acknowledgement code sent (a resend gets the same).
    async fn ack_code(&self) -> Option<AckCode> {
        self.0.ack_code.parse().ok()
    }
    /// The acknowledgement message sent (segments separated by carriage returns).
    async fn ack(&self) -> &str {
        &self.0.ack
    }
    /// Why it is (or was) in the dead-letter queue.
    async fn error_code(&self) -> Option<ProblemCode> {
        self.0.error_code.as_deref().and_then(|c| c.parse().ok())
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// The message as received, with the segments that identify a person (PID, PD1, NK1,
    /// GT1, IN1, IN2, PV1) masked after their set id.
    async fn masked_message(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(ctx.access()?.lab_intake().masked(&self.0)?)
    }
    /// Its length in bytes.
    async fn size(&self) -> i32 {
        self.0.size
    }
    /// The tests it resulted.
    async fn test_ids(&self) -> Vec<ID> {
        serde_json::from_str::<Vec<uuid::Uuid>>(&self.0.test_ids)
            .unwrap_or_default()
            .into_iter()
            .map(to_id)
            .collect()
    }
    /// How often it was processed: received, then each reprocess.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The address it came from.
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    /// When an administrator reprocessed it into the records or discarded it.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    async fn resolved_by(&self) -> Option<&str> {
        self.0.resolved_by.as_deref()
    }
    /// The discard's reason, or that a reprocess took it.
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
}

/// Why a message is not taken.
#[derive(SimpleObject)]
pub struct LabProblem {
    pub code: ProblemCode,
    pub message: String,
    /// Where: segment, occurrence and field, e.g. `PID^1^3`.
    pub location: Option<String>,
}

impl From<Problem> for LabProblem {
    fn from(p: Problem) -> Self {
        LabProblem {
            code: p.code,
            message: p.message,
            location: p
                .location
                .map(|l| format!("{}^{}^{}", l.segment, l.occurrence, l.field)),
        }
    }
}

/// What a reprocess did: the message as it is now, and the problem that keeps it in the
/// dead-letter queue if one still does.
#[derive(SimpleObject)]
pub struct LabMessageReprocess {
    pub message: LabMessage,
    pub problem: Option<LabProblem>,
}

/// One entry of a lab connection's code mapping.
pub struct CodeMapping(pub lab_code_mapping::Model);

/// One entry of a lab connection's code mapping: the lab's local code and Switchboard's.
#[Object]
impl CodeMapping {
    async fn kind(&self) -> Option<MappingKind> {
        self.0.kind.parse().ok()
    }
    /// The lab's code (OBR-4 for a test, OBX-3 for an observation).
    async fn local_code(&self) -> &str {
        &self.0.local_code
    }
    /// Switchboard's code: an order's test code, or the result line's code.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn loinc(&self) -> Option<&str> {
        self.0.loinc.as_deref()
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
