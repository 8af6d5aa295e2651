//! ORU^R01 (unsolicited observation results): the patient's identifiers (PID-3), and per
//! order (ORC/OBR) its numbers, test code, result status and results (OBX).

use hl7_parser::Message;
use hl7_parser::message::Separators;

use super::read::{Header, component, parse, subcomponent, value};
use super::{Problem, ProblemCode};
use crate::domain::lab_result::{AbnormalFlag, LINES_MAX, ResultLine};

/// Orders in one message at most.
pub const MAX_ORDERS: usize = 50;

/// One identifier of PID-3 (a CX): the id and its assigning authority (CX-4's namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientId {
    pub id: String,
    pub authority: String,
}

/// How far an order's results are: OBR-25 (or, without it, its OBX-11s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultStatus {
    /// Final (`F`) or corrected (`C`): the test becomes RESULTED.
    Final,
    /// Preliminary (`P`) or some results in (`A`): the test becomes PRELIMINARY.
    Preliminary,
}

/// One OBX: an analyte's result, decoded, before code mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Its place among the message's OBX segments (1-based), for error locations.
    pub occurrence: usize,
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    pub reference_range: String,
    pub abnormal_flag: Option<AbnormalFlag>,
    /// OBX-11 is `P`: decides the order's status when OBR-25 is empty.
    pub preliminary: bool,
}

/// One OBR (with the ORC before it) and its OBX segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Its place among the message's OBR segments (1-based).
    pub occurrence: usize,
    /// The order numbers to match an order's accession number with, most specific first:
    /// filler (OBR-3, ORC-3), then placer (OBR-2, ORC-2).
    pub numbers: Vec<String>,
    /// OBR-4: the universal service id (the lab's test code) and its text.
    pub service_code: String,
    pub service_name: String,
    /// OBR-25's status; without one, the order is preliminary if any OBX-11 is `P`.
    status: Option<ResultStatus>,
    pub observations: Vec<Observation>,
}

impl Order {
    pub fn status(&self) -> ResultStatus {
        match self.status {
            Some(s) => s,
            None if self.observations.iter().any(|o| o.preliminary) => ResultStatus::Preliminary,
            None => ResultStatus::Final,
        }
    }
}

/// Why a message could not be read: its header when that much could be, and the problem.
pub type NotRead = Box<(Option<Header>, Problem)>;

/// An ORU^R01 message, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oru {
    pub header: Header,
    pub patient_ids: Vec<PatientId>,
    pub orders: Vec<Order>,
}

impl Oru {
    /// Reads a message (as text: `read_text`). The error carries the header when it could be read (to acknowledge
    /// the message's control id and recognise a resend).
    pub fn read(text: &str) -> Result<Oru, NotRead> {
        let message = parse(text).map_err(|p| Box::new((None, p)))?;
        let header = Header::read(&message).map_err(|p| Box::new((None, p)))?;
        header
            .check()
            .map_err(|p| Box::new((Some(header.clone()), p)))?;
        match read_body(&message) {
            Ok((patient_ids, orders)) => Ok(Oru {
                header,
                patient_ids,
                orders,
            }),
            Err(p) => Err(Box::new((Some(header), p))),
        }
    }

    /// The patient's id of `authority` (the connection's assigning authority), or the first
    /// one when the connection names none.
    pub fn patient_id(&self, authority: Option<&str>) -> Result<&str, Problem> {
        let found = match authority {
            None => self.patient_ids.first(),
            Some(a) => self.patient_ids.iter().find(|p| p.authority == a),
        };
        found.map(|p| p.id.as_str()).ok_or_else(|| {
            Problem::new(
                ProblemCode::UnknownPatient,
                match authority {
                    Some(_) => "PID-3 has no identifier of the connection's assigning authority",
                    None => "PID-3 has no patient identifier",
                },
            )
            .at("PID", 1, 3)
        })
    }
}

fn read_body(message: &Message<'_>) -> Result<(Vec<PatientId>, Vec<Order>), Problem> {
    let seps = &message.separators;
    let mut patient_ids = None;
    let mut orders: Vec<Order> = vec![];
    let mut pending_orc: Option<Vec<String>> = None;
    let (mut obr_n, mut obx_n, mut pid_n) = (0, 0, 0);
    for segment in message.segments() {
        match segment.name {
            "PID" => {
                pid_n += 1;
                if pid_n > 1 {
                    return Err(Problem::new(
                        ProblemCode::BadField,
                        "results for one patient per message: a second PID was found",
                    )
                    .at("PID", pid_n, 1));
                }
                patient_ids = Some(read_patient_ids(seps, segment)?);
            }
            "ORC" => {
                // ORC-3 (filler) before ORC-2 (placer).
                pending_orc = Some(
                    [3, 2]
                        .into_iter()
                        .map(|f| value(seps, segment, f, 1))
                        .filter(|v| !v.is_empty())
                        .collect(),
                );
            }
            "OBR" => {
                obr_n += 1;
                if obr_n > MAX_ORDERS {
                    return Err(Problem::new(
                        ProblemCode::BadField,
                        format!("at most {MAX_ORDERS} orders in one message"),
                    )
                    .at("OBR", obr_n, 1));
                }
                let mut numbers: Vec<String> = [3, 2]
                    .into_iter()
                    .map(|f| value(seps, segment, f, 1))
                    .filter(|v| !v.is_empty())
                    .collect();
                for n in pending_orc.take().unwrap_or_default() {
                    if !numbers.contains(&n) {
                        numbers.push(n);
                    }
                }
                if numbers.is_empty() {
                    return Err(Problem::new(
                        ProblemCode::MissingField,
                        "the order has no number (OBR-3, OBR-2, ORC-3 or ORC-2)",
                    )
                    .at("OBR", obr_n, 3));
                }
                orders.push(Order {
                    occurrence: obr_n,
                    numbers,
                    service_code: value(seps, segment, 4, 1),
                    service_name: value(seps, segment, 4, 2),
                    status: order_status(&value(seps, segment, 25, 1), obr_n)?,
                    observations: vec![],
                });
            }
            "OBX" => {
                obx_n += 1;
                let Some(order) = orders.last_mut() else {
                    return Err(Problem::new(
                        ProblemCode::Malformed,
                        "an OBX segment before any OBR",
                    )
                    .at("OBX", obx_n, 1));
                };
                if order.observations.len() >= LINES_MAX {
                    return Err(Problem::new(
                        ProblemCode::BadField,
                        format!("at most {LINES_MAX} results per order"),
                    )
                    .at("OBX", obx_n, 1));
                }
                order
                    .observations
                    .push(read_observation(seps, segment, obx_n)?);
            }
            _ => {}
        }
    }
    let Some(patient_ids) = patient_ids else {
        return Err(Problem::new(ProblemCode::MissingField, "no PID segment").at("PID", 1, 1));
    };
    if orders.is_empty() {
        return Err(Problem::new(ProblemCode::MissingField, "no OBR segment").at("OBR", 1, 1));
    }
    Ok((patient_ids, orders))
}

fn read_patient_ids(
    seps: &Separators,
    pid: &hl7_parser::message::Segment<'_>,
) -> Result<Vec<PatientId>, Problem> {
    let ids: Vec<PatientId> = pid
        .field(3)
        .map(|f| {
            f.repeats()
                .map(|r| PatientId {
                    id: component(seps, Some(r), 1).trim().to_owned(),
                    authority: subcomponent(seps, Some(r), 4).trim().to_owned(),
                })
                .filter(|p| !p.id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(Problem::new(
            ProblemCode::MissingField,
            "PID-3 (patient identifiers) is empty",
        )
        .at("PID", 1, 3));
    }
    Ok(ids)
}

fn read_observation(
    seps: &Separators,
    obx: &hl7_parser::message::Segment<'_>,
    n: usize,
) -> Result<Observation, Problem> {
    let code = value(seps, obx, 3, 1);
    if code.is_empty() {
        return Err(Problem::new(
            ProblemCode::MissingField,
            "OBX-3 (the observation code) is empty",
        )
        .at("OBX", n, 3));
    }
    // OBX-5 may repeat; a coded value (CE/CWE) reads as its text, or its code without one.
    let value_type = value(seps, obx, 2, 1);
    let values: Vec<String> = obx
        .field(5)
        .map(|f| {
            f.repeats()
                .map(|r| match value_type.as_str() {
                    "CE" | "CWE" | "CNE" => {
                        let text = component(seps, Some(r), 2);
                        if text.trim().is_empty() {
                            component(seps, Some(r), 1)
                        } else {
                            text
                        }
                    }
                    // Other types' components (SN: `<^5`, `^10^-^20`) read joined, as written.
                    _ => r
                        .components()
                        .map(|c| super::read::decode(seps, c.raw_value()))
                        .collect::<String>(),
                })
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if values.is_empty() {
        return Err(Problem::new(
            ProblemCode::MissingField,
            "OBX-5 (the result value) is empty",
        )
        .at("OBX", n, 5));
    }
    let unit = {
        let code = value(seps, obx, 6, 1);
        if code.is_empty() {
            value(seps, obx, 6, 2)
        } else {
            code
        }
    };
    let flag = value(seps, obx, 8, 1);
    Ok(Observation {
        occurrence: n,
        code,
        name: value(seps, obx, 3, 2),
        value: values.join("; "),
        unit,
        reference_range: value(seps, obx, 7, 1),
        abnormal_flag: abnormal_flag(&flag),
        preliminary: value(seps, obx, 11, 1) == "P",
    })
}

/// HL7 table 0078 (abnormal flags) in Switchboard's terms. Flags beyond these (`<`, `>`,
/// `U`, `D`, `W`, …) all say the result is outside normal without saying more.
fn abnormal_flag(flag: &str) -> Option<AbnormalFlag> {
    match flag {
        "" => None,
        "N" => Some(AbnormalFlag::Normal),
        "L" => Some(AbnormalFlag::Low),
        "H" => Some(AbnormalFlag::High),
        "LL" => Some(AbnormalFlag::CriticalLow),
        "HH" => Some(AbnormalFlag::CriticalHigh),
        _ => Some(AbnormalFlag::Abnormal),
    }
}

/// OBR-25 (HL7 table 0123) as a result status; `None` when it is empty (the OBX statuses
/// decide).
fn order_status(code: &str, n: usize) -> Result<Option<ResultStatus>, Problem> {
    match code {
        "" => Ok(None),
        "F" | "C" => Ok(Some(ResultStatus::Final)),
        "P" | "A" => Ok(Some(ResultStatus::Preliminary)),
        other => Err(Problem::new(
            ProblemCode::BadField,
            format!(
                "OBR-25 (result status) `{}` is not a result: F, C, P or A are taken",
                other.chars().take(2).collect::<String>()
            ),
        )
        .at("OBR", n, 25)),
    }
}

impl Observation {
    /// The stored result line, under `code` (the observation code after mapping).
    pub fn line(&self, code: &str) -> Result<ResultLine, Problem> {
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let (name, unit, range) = (opt(&self.name), opt(&self.unit), opt(&self.reference_range));
        ResultLine::parse(
            "OBX",
            code,
            name.as_deref(),
            &self.value,
            unit.as_deref(),
            range.as_deref(),
            self.abnormal_flag,
        )
        .map_err(|invalid| {
            let field = match invalid.field.rsplit('.').next() {
                Some("code") => 3,
                Some("name") => 3,
                Some("value") => 5,
                Some("unit") => 6,
                Some("referenceRange") => 7,
                _ => 5,
            };
            Problem::new(
                ProblemCode::BadField,
                format!("OBX-{field}: {}", invalid.message),
            )
            .at("OBX", self.occurrence, field)
        })
    }
}
