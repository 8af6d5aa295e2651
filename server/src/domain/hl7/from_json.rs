//! Results sent as JSON (`POST /services/{id}/results`, for HTTPS_JSON lab connections),
//! written as the ORU^R01 they stand for: one reader, one matching, one dead-letter queue and
//! one reprocess for both. The payload:
//!
//! ```json
//! { "messageId": "R-1", "test": false, "patient": { "id": "E-200" },
//!   "orders": [ { "accessionNumber": "ACC-2", "testCode": "CBC", "testName": "Blood count",
//!                 "status": "FINAL",
//!                 "results": [ { "code": "718-7", "name": "Hemoglobin", "value": "13.2",
//!                                "unit": "g/dL", "referenceRange": "12.0-16.0", "flag": "N" } ] } ] }
//! ```

use chrono::{DateTime, Utc};
use hl7_parser::message::Separators;
use serde::Deserialize;

use super::{Problem, ProblemCode};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonResults {
    /// The sender's id for the message: a resend with the same id changes nothing (MSH-10).
    pub message_id: String,
    /// A test message: checked, not applied (MSH-11 `T`).
    #[serde(default)]
    pub test: bool,
    pub patient: JsonPatient,
    pub orders: Vec<JsonOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonPatient {
    /// The patient's `externalPatientId` (PID-3, in the connection's assigning authority).
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonOrder {
    pub accession_number: String,
    pub test_code: String,
    #[serde(default)]
    pub test_name: String,
    pub status: JsonStatus,
    #[serde(default)]
    pub results: Vec<JsonResult>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JsonStatus {
    Final,
    Preliminary,
    Corrected,
}

impl JsonStatus {
    /// OBR-25 / OBX-11.
    fn code(self) -> &'static str {
        match self {
            JsonStatus::Final => "F",
            JsonStatus::Preliminary => "P",
            JsonStatus::Corrected => "C",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonResult {
    pub code: String,
    #[serde(default)]
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub reference_range: String,
    /// HL7 table 0078 (N, L, H, LL, HH, A…).
    #[serde(default)]
    pub flag: String,
}

impl JsonResults {
    /// Reads the payload; what is wrong is said without the values sent.
    pub fn read(body: &[u8]) -> Result<JsonResults, Problem> {
        serde_json::from_slice(body).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => {
                    let text = e.to_string();
                    match text.split('`').nth(1) {
                        Some(name)
                            if text.starts_with("missing field")
                                || text.starts_with("unknown field") =>
                        {
                            format!(
                                "{} `{}`",
                                text.split(" `").next().unwrap_or("a field"),
                                name.chars().take(40).collect::<String>()
                            )
                        }
                        _ => "a field has the wrong type or value".into(),
                    }
                }
                _ => "not JSON".into(),
            };
            Problem::new(
                ProblemCode::Malformed,
                format!(
                    "not a results payload: {what} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    /// The ORU^R01 these results stand for, from `facility` (MSH-4: the connection's
    /// `receivingFacility`), with PID-3 in `authority`.
    pub fn to_hl7(&self, facility: &str, authority: Option<&str>, now: DateTime<Utc>) -> String {
        let seps = Separators::default();
        let e = |v: &str| seps.encode(v).to_string();
        let mut text = format!(
            "MSH|^~\\&|JSON|{}|SWITCHBOARD||{}||ORU^R01|{}|{}|2.5.1\r",
            e(facility),
            now.format("%Y%m%d%H%M%S"),
            e(&self.message_id),
            if self.test { "T" } else { "P" },
        );
        text.push_str(&format!(
            "PID|1||{}^^^{}\r",
            e(&self.patient.id),
            e(authority.unwrap_or_default())
        ));
        for (i, order) in self.orders.iter().enumerate() {
            let status = order.status.code();
            text.push_str(&format!(
                "OBR|{}||{}|{}^{}{}{status}\r",
                i + 1,
                e(&order.accession_number),
                e(&order.test_code),
                e(&order.test_name),
                "|".repeat(21),
            ));
            for (j, r) in order.results.iter().enumerate() {
                let kind = if r.value.trim().parse::<f64>().is_ok() {
                    "NM"
                } else {
                    "ST"
                };
                text.push_str(&format!(
                    "OBX|{}|{kind}|{}^{}||{}|{}|{}|{}|||{status}\r",
                    j + 1,
                    e(&r.code),
                    e(&r.name),
                    e(&r.value),
                    e(&r.unit),
                    e(&r.reference_range),
                    e(&r.flag),
                ));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hl7::{Oru, ResultStatus};

    #[test]
    fn json_results_read_back_as_the_same_oru_even_with_delimiters_in_values() {
        let body = br#"{"messageId":"R|1","patient":{"id":"E^200"},"orders":[
            {"accessionNumber":"ACC&2","testCode":"CBC","testName":"Blood count","status":"PRELIMINARY",
             "results":[{"code":"718-7","name":"Hb ~ total","value":"13.2","unit":"g/dL","referenceRange":"12.0-16.0","flag":"N"},
                        {"code":"NOTE","value":"see \\ comment"}]}]}"#;
        let json = JsonResults::read(body).unwrap();
        let text = json.to_hl7("ACME LAB", Some("MRN"), Utc::now());
        let oru = Oru::read(&text).unwrap();
        assert_eq!(oru.header.control_id, "R|1");
        assert_eq!(oru.header.sending_facility, "ACME LAB");
        assert_eq!(oru.patient_id(Some("MRN")).unwrap(), "E^200");
        assert_eq!(oru.orders.len(), 1);
        assert_eq!(oru.orders[0].status(), ResultStatus::Preliminary);
        assert!(
            oru.orders[0].numbers.contains(&"ACC&2".to_owned()),
            "{:?}",
            oru.orders[0].numbers
        );
        let obs = &oru.orders[0].observations;
        assert_eq!(
            (obs[0].value.as_str(), obs[0].name.as_str()),
            ("13.2", "Hb ~ total")
        );
        assert_eq!(obs[0].unit, "g/dL");
        assert_eq!(obs[1].value, "see \\ comment");
        assert!(!json.test && !oru.header.is_test());
    }

    #[test]
    fn a_payload_that_is_not_results_is_malformed_without_its_values() {
        for (body, says) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"messageId":"R-1","patient":{"id":"E-1"}}"#, "missing field `orders`"),
            (br#"{"messageId":"R-1","patient":{"id":"E-1"},"orders":[],"shoe":1}"#, "unknown field `shoe`"),
            (br#"{"messageId":"R-1","patient":{"id":"SECRET-NAME"},"orders":[{"accessionNumber":"A","testCode":"C","status":"DONE"}]}"#, "wrong type or value"),
        ] {
            let problem = JsonResults::read(body).unwrap_err();
            assert_eq!(problem.code, ProblemCode::Malformed);
            assert!(problem.message.contains(says), "{}", problem.message);
            assert!(!problem.message.contains("SECRET"));
        }
    }
}
