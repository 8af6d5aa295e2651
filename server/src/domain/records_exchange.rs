//! The records-exchange flow's contract: what Switchboard sends a records-exchange service
//! for a patient, what the service answers later at the connection's inbound address, and
//! how that answer's signature is checked (the Standard Webhooks form, with the connection's
//! own secret: constant-time, and stale timestamps refused so a captured answer cannot be
//! replayed later).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::stored_enum::stored_enum;

/// How far an answer's timestamp may be from the server's clock, either way.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// The largest answer taken.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Most records in one answer.
pub const MAX_RECORDS: usize = 1000;
const MAX_TITLE: usize = 500;
const MAX_TEXT: usize = 20_000;
const MAX_SHORT: usize = 200;

stored_enum! {
    /// Where a request for outside records stands.
    pub enum RecordsRequestStatus {
        /// Accepted by the service; its answer has not come yet.
        Sent = "SENT",
        /// Sent in validation mode and accepted by the service's test address: checked there,
        /// not processed, never answered.
        Validated = "VALIDATED",
        /// The service answered with records.
        Answered = "ANSWERED",
        /// The service answered that it has no records for the patient.
        NotFound = "NOT_FOUND",
        /// It could not be sent (see the error code; the integration log has each attempt).
        Failed = "FAILED",
    }
}

/// The patient as sent: demographics, and the clinical information the patient has.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientSummary {
    pub external_patient_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<String>,
    pub diagnoses: Vec<String>,
    pub medications: Vec<String>,
}

/// The body POSTed to the service (`<address>/records-requests`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingRequest {
    pub request_id: Uuid,
    /// `SANDBOX` or `PRODUCTION`.
    pub environment: &'static str,
    /// Check the request, do not process it (production onboarding).
    pub validation: bool,
    /// Where to send the answer, signed with the connection's inbound secret.
    pub callback_url: String,
    pub patient: PatientSummary,
}

stored_enum! {
    /// What a service found.
    pub enum AnswerStatus {
        Found = "FOUND",
        NotFound = "NOT_FOUND",
    }
}

/// One outside record, as kept and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutsideRecord {
    /// What it is (`ENCOUNTER`, `DIAGNOSIS`, `MEDICATION`, `RESULT`, `DOCUMENT`, …).
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Who holds it (a facility).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// The service's answer, as it arrives.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordsAnswer {
    pub request_id: Uuid,
    pub status: AnswerStatus,
    #[serde(default)]
    pub records: Vec<OutsideRecord>,
}

impl RecordsAnswer {
    /// Parses and bounds an answer; the error says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<RecordsAnswer, String> {
        let answer: RecordsAnswer =
            serde_json::from_slice(body).map_err(|e| format!("not a records answer: {e}"))?;
        if answer.records.len() > MAX_RECORDS {
            return Err(format!("at most {MAX_RECORDS} records in one answer"));
        }
        if answer.status == AnswerStatus::NotFound && !answer.records.is_empty() {
            return Err("a NOT_FOUND answer has no records".into());
        }
        for (i, r) in answer.records.iter().enumerate() {
            let long = |v: &str, max: usize| v.chars().count() > max;
            if r.kind.is_empty()
                || long(&r.kind, MAX_SHORT)
                || r.title.is_empty()
                || long(&r.title, MAX_TITLE)
                || r.source.as_deref().is_some_and(|s| long(s, MAX_SHORT))
                || r.text.as_deref().is_some_and(|t| long(t, MAX_TEXT))
            {
                return Err(format!(
                    "records[{i}]: kind and title are required; kind and source up to {MAX_SHORT} characters, title {MAX_TITLE}, text {MAX_TEXT}"
                ));
            }
        }
        Ok(answer)
    }
}

/// Why a signed message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// A `webhook-id`, `webhook-timestamp` or `webhook-signature` header is missing or
    /// malformed.
    Missing,
    /// The timestamp is further than the tolerance from now.
    Stale,
    /// No signature matches.
    Invalid,
}

impl SignatureRefusal {
    pub fn message(self) -> &'static str {
        match self {
            SignatureRefusal::Missing => {
                "the webhook-id, webhook-timestamp and webhook-signature headers are required"
            }
            SignatureRefusal::Stale => {
                "webhook-timestamp is more than 5 minutes from the server's clock"
            }
            SignatureRefusal::Invalid => "no signature matches the connection's inbound secret",
        }
    }
}

/// Checks a signed message: the timestamp within the tolerance of `now`, and one of the
/// header's `v1,` signatures the HMAC-SHA256 of `id.timestamp.body` under `secret`, compared
/// in constant time.
pub fn verify(
    secret: &str,
    msg_id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureRefusal> {
    let (Some(msg_id), Some(timestamp), Some(signatures)) = (msg_id, timestamp, signatures) else {
        return Err(SignatureRefusal::Missing);
    };
    if msg_id.is_empty() || msg_id.len() > 200 {
        return Err(SignatureRefusal::Missing);
    }
    let ts: i64 = timestamp.parse().map_err(|_| SignatureRefusal::Missing)?;
    if (now - ts).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(SignatureRefusal::Stale);
    }
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| SignatureRefusal::Invalid)?;
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    for candidate in signatures.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            continue;
        };
        // `verify_slice` compares in constant time.
        if mac.clone().verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureRefusal::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook_endpoint::{new_signing_secret, sign};

    #[test]
    fn an_answer_signed_with_the_secret_and_fresh_is_accepted_and_nothing_else() {
        let (secret, _) = new_signing_secret();
        let (other, _) = new_signing_secret();
        let body = r#"{"requestId":"x"}"#;
        let now = 1_800_000_000;
        let good = sign(&secret, "msg_1", now, body);
        let check = |id: Option<&str>, ts: i64, sig: &str, body: &str| {
            verify(
                &secret,
                id,
                Some(&ts.to_string()),
                Some(sig),
                body.as_bytes(),
                now,
            )
        };
        assert_eq!(check(Some("msg_1"), now, &good, body), Ok(()));
        // One of several signatures (a rotation) is enough.
        let both = format!("{} {good}", sign(&other, "msg_1", now, body));
        assert_eq!(check(Some("msg_1"), now, &both, body), Ok(()));
        let refused = [
            check(Some("msg_2"), now, &good, body),
            check(Some("msg_1"), now, &good, r#"{"requestId":"y"}"#),
            check(Some("msg_1"), now, &sign(&other, "msg_1", now, body), body),
            check(Some("msg_1"), now, "v1,AAAA", body),
            check(Some("msg_1"), now, good.trim_start_matches("v1,"), body),
        ];
        assert!(refused.iter().all(|r| *r == Err(SignatureRefusal::Invalid)));
        let old = now - SIGNATURE_TOLERANCE_SECONDS - 1;
        assert_eq!(
            check(Some("msg_1"), old, &sign(&secret, "msg_1", old, body), body),
            Err(SignatureRefusal::Stale)
        );
        let ahead = now + SIGNATURE_TOLERANCE_SECONDS + 1;
        assert_eq!(
            check(
                Some("msg_1"),
                ahead,
                &sign(&secret, "msg_1", ahead, body),
                body
            ),
            Err(SignatureRefusal::Stale)
        );
        assert_eq!(
            check(None, now, &good, body),
            Err(SignatureRefusal::Missing)
        );
        assert_eq!(
            verify(
                &secret,
                Some("msg_1"),
                Some("soon"),
                Some(&good),
                body.as_bytes(),
                now
            ),
            Err(SignatureRefusal::Missing)
        );
    }

    #[test]
    fn answers_are_bounded_and_consistent() {
        let id = Uuid::now_v7();
        let ok = format!(
            r#"{{"requestId":"{id}","status":"FOUND","records":[{{"kind":"ENCOUNTER","title":"Visit","date":"2026-01-02"}}]}}"#
        );
        assert_eq!(
            RecordsAnswer::parse(ok.as_bytes()).unwrap().records.len(),
            1
        );
        for bad in [
            format!(r#"{{"requestId":"{id}","status":"MAYBE"}}"#),
            format!(
                r#"{{"requestId":"{id}","status":"NOT_FOUND","records":[{{"kind":"X","title":"Y"}}]}}"#
            ),
            format!(
                r#"{{"requestId":"{id}","status":"FOUND","records":[{{"kind":"","title":"Y"}}]}}"#
            ),
            format!(r#"{{"requestId":"{id}","status":"FOUND","extra":1}}"#),
            r#"{"requestId":"nope","status":"FOUND"}"#.to_owned(),
        ] {
            assert!(RecordsAnswer::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
