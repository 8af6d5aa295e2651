//! HL7 v2 as Switchboard reads and answers it: the header every message has, why a message
//! is not taken (a stable code, the HL7 error of table 0357 and where), and the
//! acknowledgement. Parsing is `hl7-parser`'s (delimiters from MSH-1 and MSH-2); what a field
//! means, and decoding its escape sequences, is here. No I/O.

mod ack;
mod from_json;
mod mask;
mod oru;
mod read;

pub use ack::{Ack, ack};
pub use from_json::JsonResults;
pub use mask::mask;
pub use oru::{NotRead, Observation, Order, Oru, PatientId, ResultStatus};
pub use read::{Header, header_of, text as read_text};

use super::stored_enum::stored_enum;

/// The longest message taken (over MLLP and HTTPS alike).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

stored_enum! {
    /// The acknowledgement code of MSA-1.
    pub enum AckCode {
        /// Accepted: the results are stored.
        Accept = "AA",
        /// An application error: the message is kept in the dead-letter queue.
        Error = "AE",
        /// Rejected: the message cannot be processed at all (not HL7, not a result).
        Reject = "AR",
    }
}

stored_enum! {
    /// Why a lab message was not taken.
    pub enum ProblemCode {
        /// Not an HL7 v2 message that can be read (no MSH, bad delimiters, not text).
        Malformed = "MALFORMED",
        /// A message other than ORU^R01.
        UnsupportedMessage = "UNSUPPORTED_MESSAGE",
        /// An HL7 version other than 2.3 to 2.5.1.
        UnsupportedVersion = "UNSUPPORTED_VERSION",
        /// A required field or segment is missing.
        MissingField = "MISSING_FIELD",
        /// A field's value cannot be taken (too long, an unknown status, a segment out of
        /// place).
        BadField = "BAD_FIELD",
        /// No patient with the message's identifier in the connection's client.
        UnknownPatient = "UNKNOWN_PATIENT",
        /// No order with the message's order number for that patient.
        UnknownOrder = "UNKNOWN_ORDER",
        /// A test or observation code the connection's code mapping does not list.
        UnmappedCode = "UNMAPPED_CODE",
        /// The order is final (RESULTED or CANCELLED): its results are not changed.
        TestFinal = "TEST_FINAL",
        /// The connection is not set up to take results (no client).
        NotConfigured = "NOT_CONFIGURED",
        /// No LAB connection takes messages from the message's sending application and
        /// facility (MLLP: the listener is shared, MSH-3/MSH-4 choose the connection).
        UnknownSender = "UNKNOWN_SENDER",
        /// Larger than `MAX_MESSAGE_BYTES`: not read, not kept.
        TooLarge = "TOO_LARGE",
    }
}

impl ProblemCode {
    /// HL7 table 0357's code and text for the ERR segment.
    pub fn hl7_error(self) -> (&'static str, &'static str) {
        use ProblemCode::*;
        match self {
            Malformed => ("100", "Segment sequence error"),
            MissingField => ("101", "Required field missing"),
            BadField => ("102", "Data type error"),
            UnmappedCode => ("103", "Table value not found"),
            UnsupportedMessage => ("200", "Unsupported message type"),
            UnsupportedVersion => ("203", "Unsupported version id"),
            UnknownPatient | UnknownOrder => ("204", "Unknown key identifier"),
            TestFinal => ("206", "Application record locked"),
            NotConfigured | UnknownSender | TooLarge => ("207", "Application internal error"),
        }
    }

    /// Rejected outright (AR) rather than an application error (AE): nothing in the message
    /// could be acted on, whatever changes on Switchboard's side.
    pub fn ack_code(self) -> AckCode {
        match self {
            ProblemCode::Malformed
            | ProblemCode::UnsupportedMessage
            | ProblemCode::UnsupportedVersion
            | ProblemCode::UnknownSender
            | ProblemCode::TooLarge => AckCode::Reject,
            _ => AckCode::Error,
        }
    }
}

/// Where in a message a problem is: segment, its occurrence (1-based) and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub segment: &'static str,
    pub occurrence: usize,
    pub field: usize,
}

/// Why a message was not taken. `message` never holds patient data: it goes into the
/// acknowledgement, the integration log and the dead-letter queue's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: ProblemCode,
    pub location: Option<Location>,
    pub message: String,
}

impl Problem {
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Problem {
        Problem {
            code,
            location: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, segment: &'static str, occurrence: usize, field: usize) -> Problem {
        self.location = Some(Location {
            segment,
            occurrence,
            field,
        });
        self
    }
}

#[cfg(test)]
mod tests;
