//! Reading a message: bytes to text, text to `hl7_parser::Message`, and the decoded value of
//! a field, component or subcomponent.

use hl7_parser::Message;
use hl7_parser::message::{Repeat, Segment, Separators};

use super::{Problem, ProblemCode};

/// The versions taken.
pub const VERSIONS: [&str; 5] = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"];
/// The longest message control id, application or facility kept.
pub const MAX_ID: usize = 199;

/// MSH as Switchboard needs it, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// MSH-9, e.g. `ORU^R01` (the first two components).
    pub message_type: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-11 (`P` production, `T` test, `D` debugging).
    pub processing_id: String,
    /// MSH-12.
    pub version: String,
}

/// The message as text. HL7 v2's default character set is ASCII and many systems send
/// ISO 8859-1: what is not UTF-8 is read as Latin-1, byte for byte, rather than refused.
pub fn text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses `text` (segments ended by CR, or CR LF or LF from systems that write files).
/// A parser panic on hostile input is a malformed message, not a crashed worker.
pub fn parse(text: &str) -> Result<Message<'_>, Problem> {
    let trimmed = text.trim_end_matches(['\r', '\n']);
    let trimmed = trimmed.trim_start_matches(['\r', '\n', ' ']);
    if !trimmed.starts_with("MSH") {
        return Err(Problem::new(
            ProblemCode::Malformed,
            "not an HL7 v2 message: it does not begin with an MSH segment",
        ));
    }
    // MSH-1 (the field separator) and MSH-2 (component, repetition, escape, subcomponent).
    let delimiters: Vec<char> = trimmed.chars().skip(3).take(5).collect();
    if delimiters.len() < 5
        || delimiters
            .iter()
            .any(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control())
        || (1..5).any(|i| delimiters[..i].contains(&delimiters[i]))
    {
        return Err(Problem::new(
            ProblemCode::Malformed,
            "MSH-1 and MSH-2 must give five distinct delimiters",
        )
        .at("MSH", 1, 2));
    }
    let parsed = std::panic::catch_unwind(|| Message::parse_with_lenient_newlines(trimmed, true));
    match parsed {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(Problem::new(
            ProblemCode::Malformed,
            format!("the message cannot be parsed: {}", short(&e.to_string())),
        )),
        Err(_) => Err(Problem::new(
            ProblemCode::Malformed,
            "the message cannot be parsed",
        )),
    }
}

/// The parser's error names the text where it stopped, which may be patient data: only its
/// position is kept.
fn short(error: &str) -> String {
    match error.split_once(": `") {
        Some((head, _)) => head.to_owned(),
        None => error.chars().take(120).collect(),
    }
}

/// Decodes escape sequences; a line break (`\.br\`, `\X0D\`) becomes `\n`.
pub fn decode(separators: &Separators, raw: &str) -> String {
    let decoded = separators.decode(raw).to_string();
    decoded.replace("\r\n", "\n").replace('\r', "\n")
}

/// Component `c` (1-based) of a repeat, decoded; empty when absent.
pub fn component(separators: &Separators, repeat: Option<&Repeat<'_>>, c: usize) -> String {
    repeat
        .and_then(|r| r.component(c))
        .map(|c| decode(separators, c.raw_value()))
        .unwrap_or_default()
}

/// The first subcomponent of component `c` of a repeat, decoded.
pub fn subcomponent(separators: &Separators, repeat: Option<&Repeat<'_>>, c: usize) -> String {
    repeat
        .and_then(|r| r.component(c))
        .map(|c| match c.subcomponent(1) {
            Some(s) if c.has_subcomponents() => decode(separators, s.raw_value()),
            _ => decode(separators, c.raw_value()),
        })
        .unwrap_or_default()
}

/// Field `f`'s first repeat.
pub fn first<'a, 'm>(segment: &'a Segment<'m>, f: usize) -> Option<&'a Repeat<'m>> {
    segment.field(f).and_then(|field| field.repeat(1))
}

/// Field `f`, component `c`, of the first repeat, decoded and trimmed.
pub fn value(separators: &Separators, segment: &Segment<'_>, f: usize, c: usize) -> String {
    component(separators, first(segment, f), c)
        .trim()
        .to_owned()
}

impl Header {
    /// Reads MSH; a message whose header cannot be read is rejected.
    pub fn read(message: &Message<'_>) -> Result<Header, Problem> {
        let seps = &message.separators;
        let Some(msh) = message.segment("MSH") else {
            return Err(Problem::new(ProblemCode::Malformed, "no MSH segment"));
        };
        let field = |f: usize, c: usize| value(seps, msh, f, c);
        let code = field(9, 1);
        let event = field(9, 2);
        let header = Header {
            sending_application: field(3, 1),
            sending_facility: field(4, 1),
            receiving_application: field(5, 1),
            receiving_facility: field(6, 1),
            message_type: if event.is_empty() {
                code.clone()
            } else {
                format!("{code}^{event}")
            },
            control_id: field(10, 1),
            processing_id: field(11, 1),
            version: field(12, 1),
        };
        for (f, name, v) in [
            (3, "MSH-3", &header.sending_application),
            (4, "MSH-4", &header.sending_facility),
            (10, "MSH-10", &header.control_id),
        ] {
            if v.chars().count() > MAX_ID || v.chars().any(char::is_control) {
                return Err(Problem::new(
                    ProblemCode::BadField,
                    format!(
                        "{name} must be at most {MAX_ID} characters, without control characters"
                    ),
                )
                .at("MSH", 1, f));
            }
        }
        Ok(header)
    }

    /// Checks that this is a result message Switchboard takes: ORU^R01, a version it reads,
    /// and a control id to acknowledge.
    pub fn check(&self) -> Result<(), Problem> {
        if self.control_id.is_empty() {
            return Err(Problem::new(
                ProblemCode::MissingField,
                "MSH-10 (the control id) is empty",
            )
            .at("MSH", 1, 10));
        }
        if self.message_type != "ORU^R01" {
            return Err(Problem::new(
                ProblemCode::UnsupportedMessage,
                format!(
                    "only ORU^R01 (observation results) is taken, not `{}`",
                    self.message_type.chars().take(20).collect::<String>()
                ),
            )
            .at("MSH", 1, 9));
        }
        if !VERSIONS.contains(&self.version.as_str()) {
            return Err(Problem::new(
                ProblemCode::UnsupportedVersion,
                format!("HL7 versions {} are taken", VERSIONS.join(", ")),
            )
            .at("MSH", 1, 12));
        }
        if !["P", "T", "D"].contains(&self.processing_id.as_str()) {
            return Err(Problem::new(
                ProblemCode::BadField,
                "MSH-11 (processing id) must be P, T or D",
            )
            .at("MSH", 1, 11));
        }
        Ok(())
    }

    /// A test message (`T`): checked and acknowledged, not applied.
    pub fn is_test(&self) -> bool {
        self.processing_id == "T"
    }
}

/// The header alone: what chooses a message's connection before the rest is read.
pub fn header_of(raw: &[u8]) -> Option<Header> {
    let text = text(raw);
    let message = parse(&text).ok()?;
    Header::read(&message).ok()
}
