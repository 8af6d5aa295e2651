//! The acknowledgement (ACK^R01): MSA echoing the message's control id, and an ERR segment
//! naming the problem. Values taken from the message are encoded again with the default
//! delimiters, which the ACK uses whatever the message's were.

use chrono::{DateTime, Utc};
use hl7_parser::message::Separators;

use super::read::{Header, parse, value};
use super::{AckCode, Problem};

/// An acknowledgement, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub code: AckCode,
    /// The ACK message (segments ended by CR).
    pub text: String,
}

/// The ACK of a message with `header` (none when it could not be read), under the new control
/// id `control_id`. `note` is MSA-3's text for an accepted message.
pub fn ack(
    header: Option<&Header>,
    problem: Option<&Problem>,
    note: Option<&str>,
    control_id: &str,
    now: DateTime<Utc>,
) -> Ack {
    let seps = Separators::default();
    let enc = |v: &str| seps.encode(v).to_string();
    let code = problem.map_or(AckCode::Accept, |p| p.code.ack_code());
    let empty = Header::default();
    let h = header.unwrap_or(&empty);
    // v2.5 moved the error's location and code from ERR-1 to ERR-2..8.
    let version = if h.version.is_empty() {
        "2.5.1"
    } else {
        h.version.as_str()
    };
    let modern = !["2.1", "2.2", "2.3", "2.4"]
        .iter()
        .any(|old| version.starts_with(old));
    let processing = if h.processing_id.is_empty() {
        "P"
    } else {
        h.processing_id.as_str()
    };
    let mut text = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||ACK^R01^ACK|{}|{}|{}\r",
        enc(&h.receiving_application),
        enc(&h.receiving_facility),
        enc(&h.sending_application),
        enc(&h.sending_facility),
        now.format("%Y%m%d%H%M%S"),
        enc(control_id),
        enc(processing),
        enc(version),
    );
    let msa_text = problem.map(|p| p.message.as_str()).or(note).unwrap_or("");
    text.push_str(&format!(
        "MSA|{}|{}|{}\r",
        code.as_str(),
        enc(&h.control_id),
        enc(msa_text)
    ));
    if let Some(p) = problem {
        let (err_code, err_text) = p.code.hl7_error();
        let location = p
            .location
            .as_ref()
            .map(|l| format!("{}^{}^{}", l.segment, l.occurrence, l.field))
            .unwrap_or_default();
        if modern {
            text.push_str(&format!(
                "ERR||{location}|{err_code}^{err_text}^HL70357|E|{}^{}^SWITCHBOARD|||{}\r",
                p.code.as_str(),
                enc(&p.message),
                enc(&p.message),
            ));
        } else {
            let at = if location.is_empty() {
                "^^".to_owned()
            } else {
                location
            };
            text.push_str(&format!("ERR|{at}^{err_code}&{err_text}&HL70357\r"));
        }
    }
    Ack { code, text }
}

/// What an acknowledgement says, for a sender that speaks JSON: MSA-1's code, MSA-2's control
/// id, MSA-3's text and, for a problem, our code and where (ERR-5.1 and ERR-2, v2.5 form).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckSummary {
    pub ack_code: String,
    pub message_id: String,
    pub text: String,
    pub error_code: Option<String>,
    pub location: Option<String>,
}

impl Ack {
    pub fn summary(&self) -> AckSummary {
        let Ok(message) = parse(&self.text) else {
            return AckSummary {
                ack_code: self.code.as_str().into(),
                ..AckSummary::default()
            };
        };
        let seps = &message.separators;
        let field = |seg: &str, f: usize, c: usize| {
            message
                .segment(seg)
                .map(|s| value(seps, s, f, c))
                .filter(|v| !v.is_empty())
        };
        let location = match (field("ERR", 2, 1), field("ERR", 2, 2), field("ERR", 2, 3)) {
            (Some(seg), Some(n), Some(f)) => Some(format!("{seg}-{f} (occurrence {n})")),
            _ => None,
        };
        AckSummary {
            ack_code: self.code.as_str().into(),
            message_id: field("MSA", 2, 1).unwrap_or_default(),
            text: field("MSA", 3, 1).unwrap_or_default(),
            error_code: field("ERR", 5, 1),
            location,
        }
    }
}
