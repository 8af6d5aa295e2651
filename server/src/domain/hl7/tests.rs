use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::lab_result::AbnormalFlag;

const ORU: &str = "MSH|^~\\&|LIS|ACME LAB|SWITCHBOARD|CLINIC|20261130101500||ORU^R01^ORU_R01|MSG0001|P|2.5.1\r\
PID|1||E-100^^^CLINIC-MRN^MR~99-1^^^OTHER||DOE^JANE||19800101|F\r\
ORC|RE|PL-7|ACC-1\r\
OBR|1|PL-7|ACC-1|CBC^Complete blood count^L|||20261130090000|||||||||||||||20261130101000||HM|F\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-16.0|N|||F\r\
OBX|2|NM|6690-2^WBC^LN||11.8|10*3/uL|4.0-11.0|H|||F\r\
NTE|1||a note\r";

fn read(s: &str) -> Result<Oru, NotRead> {
    Oru::read(s)
}

#[test]
fn a_result_message_is_read_field_by_field() {
    let oru = read(ORU).unwrap();
    assert_eq!(oru.header.control_id, "MSG0001");
    assert_eq!(oru.header.sending_facility, "ACME LAB");
    assert_eq!(oru.header.version, "2.5.1");
    assert_eq!(oru.patient_id(Some("CLINIC-MRN")).unwrap(), "E-100");
    assert_eq!(oru.patient_id(Some("OTHER")).unwrap(), "99-1");
    assert_eq!(oru.patient_id(None).unwrap(), "E-100");
    assert_eq!(
        oru.patient_id(Some("ELSEWHERE")).unwrap_err().code,
        ProblemCode::UnknownPatient
    );
    let order = &oru.orders[0];
    assert_eq!(order.numbers, vec!["ACC-1", "PL-7"]);
    assert_eq!(order.service_code, "CBC");
    assert_eq!(order.status(), ResultStatus::Final);
    let hb = &order.observations[0];
    assert_eq!(
        (hb.code.as_str(), hb.name.as_str(), hb.value.as_str()),
        ("718-7", "Hemoglobin", "13.2")
    );
    assert_eq!(hb.unit, "g/dL");
    assert_eq!(hb.reference_range, "12.0-16.0");
    assert_eq!(hb.abnormal_flag, Some(AbnormalFlag::Normal));
    assert_eq!(
        order.observations[1].abnormal_flag,
        Some(AbnormalFlag::High)
    );
}

#[test]
fn other_delimiters_and_escape_sequences_are_honoured() {
    // MSH-1 `#`, MSH-2 `$%!*`: component `$`, repetition `%`, escape `!`, subcomponent `*`.
    let msg = "MSH#$%!*#LIS#LAB#SB#CL#20261130##ORU$R01#M2#P#2.3\r\
PID#1##E-7$$$MRN\r\
OBR#1##A-9#GLU$Glucose\r\
OBX#1#ST#GLU$Glucose##high !F! low !S! mid!.br!next#mg/dL##A\r";
    let oru = read(msg).unwrap();
    assert_eq!(oru.patient_id(Some("MRN")).unwrap(), "E-7");
    let obx = &oru.orders[0].observations[0];
    assert_eq!(obx.value, "high # low $ mid\nnext");
    assert_eq!(obx.abnormal_flag, Some(AbnormalFlag::Abnormal));
    assert_eq!(oru.orders[0].numbers, vec!["A-9"]);
}

#[test]
fn preliminary_results_come_from_obr_25_or_else_the_obx_statuses() {
    let p = ORU.replace("|HM|F\r", "|HM|P\r");
    assert_eq!(
        read(&p).unwrap().orders[0].status(),
        ResultStatus::Preliminary
    );
    let by_obx = ORU
        .replace("|HM|F\r", "|HM|\r")
        .replace("|N|||F\r", "|N|||P\r");
    assert_eq!(
        read(&by_obx).unwrap().orders[0].status(),
        ResultStatus::Preliminary
    );
    let bad = ORU.replace("|HM|F\r", "|HM|Q\r");
    let (header, problem) = *read(&bad).unwrap_err();
    assert_eq!(header.unwrap().control_id, "MSG0001");
    assert_eq!(problem.code, ProblemCode::BadField);
    assert_eq!(
        problem.location,
        Some(Location {
            segment: "OBR",
            occurrence: 1,
            field: 25
        })
    );
}

#[test]
fn what_is_not_a_result_message_is_rejected_and_what_is_incomplete_is_an_error() {
    for (text, code) in [
        ("hello", ProblemCode::Malformed),
        ("MSH|^^^^|x", ProblemCode::Malformed),
        (
            &ORU.replace("ORU^R01^ORU_R01", "ADT^A01") as &str,
            ProblemCode::UnsupportedMessage,
        ),
        (
            &ORU.replace("|P|2.5.1", "|P|2.7"),
            ProblemCode::UnsupportedVersion,
        ),
        (&ORU.replace("|MSG0001|", "||"), ProblemCode::MissingField),
        (
            &ORU.replace("E-100^^^CLINIC-MRN^MR~99-1^^^OTHER", ""),
            ProblemCode::MissingField,
        ),
        (&ORU.replace("|13.2|", "||"), ProblemCode::MissingField),
        (
            &ORU.replace("|PL-7|ACC-1|", "|||")
                .replace("ORC|RE|PL-7|ACC-1\r", ""),
            ProblemCode::MissingField,
        ),
    ] {
        let (_, problem) = *read(text).unwrap_err();
        assert_eq!(problem.code, code, "{text:?}");
    }
    assert_eq!(ProblemCode::Malformed.ack_code(), AckCode::Reject);
    assert_eq!(ProblemCode::UnknownPatient.ack_code(), AckCode::Error);
}

#[test]
fn an_ack_echoes_the_control_id_and_names_the_problem() {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
    let oru = read(ORU).unwrap();
    let ok = ack(Some(&oru.header), None, None, "ACK1", now);
    assert_eq!(ok.code, AckCode::Accept);
    assert!(ok.text.starts_with(
        "MSH|^~\\&|SWITCHBOARD|CLINIC|LIS|ACME LAB|20261130100000||ACK^R01^ACK|ACK1|P|2.5.1\r"
    ));
    assert!(ok.text.contains("\rMSA|AA|MSG0001|\r"));
    let problem = Problem::new(ProblemCode::UnknownOrder, "no order | here").at("OBR", 1, 3);
    let err = ack(Some(&oru.header), Some(&problem), None, "ACK2", now);
    assert_eq!(err.code, AckCode::Error);
    assert!(err.text.contains("MSA|AE|MSG0001|no order \\F\\ here\r"));
    assert!(err.text.contains(
        "ERR||OBR^1^3|204^Unknown key identifier^HL70357|E|UNKNOWN_ORDER^no order \\F\\ here^SWITCHBOARD"
    ));
    // The ACK is itself a message the parser reads.
    let parsed = hl7_parser::Message::parse(err.text.trim_end()).unwrap();
    assert_eq!(parsed.query("MSA.2").unwrap().raw_value(), "MSG0001");
    // v2.3 puts the error in ERR-1.
    let old = read(&ORU.replace("|P|2.5.1", "|P|2.3")).unwrap();
    let err = ack(Some(&old.header), Some(&problem), None, "ACK3", now);
    assert!(
        err.text
            .contains("\rERR|OBR^1^3^204&Unknown key identifier&HL70357\r")
    );
    // A message that could not be read is still answered.
    let (_, garbage) = *read("garbage").unwrap_err();
    let rejected = ack(None, Some(&garbage), None, "ACK4", now);
    assert_eq!(rejected.code, AckCode::Reject);
    assert!(rejected.text.contains("\rMSA|AR||"));
}

#[test]
fn masking_hides_the_personal_segments_but_not_the_results() {
    let masked = mask(ORU);
    assert!(!masked.contains("DOE"));
    assert!(!masked.contains("E-100"));
    assert!(!masked.contains("19800101"));
    assert!(masked.contains("\rPID|1||***||***||***|***\r"));
    assert!(masked.contains("OBX|1|NM|718-7^Hemoglobin^LN||13.2|"));
    assert!(mask("not hl7 DOE").starts_with("***"));
}

/// A fuzz pass: hostile input never panics and always gets an answer (read or refused), and
/// every refusal acknowledges.
#[test]
fn the_reader_survives_random_and_mutated_input() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let now = Utc::now();
    let alphabet = b"MSHPIDOBRXC|^~\\&\r\n0123456789 #$%!*\x0b\x1c\xff\xfe";
    for round in 0..20_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            ORU.as_bytes().to_vec()
        } else {
            (0..(next() % 300)).map(|_| (next() & 0xff) as u8).collect()
        };
        let edits = 1 + next() % 8;
        for _ in 0..edits {
            if bytes.is_empty() {
                bytes.push(b'M');
            }
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                _ => bytes.truncate(at),
            }
        }
        match Oru::read(&read::text(&bytes)) {
            Ok(oru) => {
                assert!(!oru.header.control_id.is_empty());
                for order in &oru.orders {
                    for o in &order.observations {
                        let _ = o.line(&o.code);
                    }
                }
            }
            Err(e) => {
                let (header, problem) = *e;
                let a = ack(header.as_ref(), Some(&problem), None, "X", now);
                assert_ne!(a.code, AckCode::Accept);
            }
        }
        let _ = mask(&read::text(&bytes));
    }
}
