//! Test Connection over MLLP: after the connection (and the handshake, for `mllps`), one HL7 v2
//! message with processing id `T` (test, so the service does not act on it), which a working
//! service answers with an acknowledgement that accepts it and echoes its control id.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::probe::{self, timed};
use super::{Connector, Failure, Report};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};
use crate::domain::service_connection::Identifiers;

/// MLLP's frame: a start byte, the message, an end byte and a carriage return.
const START: u8 = 0x0b;
const END: [u8; 2] = [0x1c, 0x0d];
/// The longest acknowledgement read.
const MAX_ANSWER: usize = 64 * 1024;

pub async fn test(
    c: &Connector<'_>,
    host: &str,
    port: u16,
    tls: bool,
    report: &mut Report,
) -> Result<(), Failure> {
    let timeout = c.timeout();
    let addrs = timed(
        report,
        ProbeStep::Resolve,
        timeout,
        probe::resolve(&c.reach.policy, host, port),
    )
    .await?;
    let stream = timed(report, ProbeStep::Connect, timeout, probe::connect(&addrs)).await?;
    let control_id = new_control_id();
    let message = test_message(&c.settings.identifiers, &control_id);
    // The test message holds no patient data; nor does an acknowledgement (`capture_answer`).
    report.capture(|| format!("> {}", message.trim_end().replace('\r', "\n> ")));
    if tls {
        let config = probe::client_config(
            c.settings.ca_pem.as_deref(),
            c.credentials.client_identity(),
        )
        .map_err(|e| {
            Failure::new(
                Code::TlsError,
                e,
                "Edit the connection's certificate authorities.",
            )
        })?;
        let stream = timed(
            report,
            ProbeStep::Tls,
            timeout,
            probe::tls(stream, host, config, &[]),
        )
        .await?;
        let mut answer = None;
        let done = timed(
            report,
            ProbeStep::Call,
            timeout,
            exchange(stream, message, control_id, &mut answer),
        )
        .await;
        capture_answer(report, answer.as_deref());
        done
    } else {
        let mut answer = None;
        let done = timed(
            report,
            ProbeStep::Call,
            timeout,
            exchange(stream, message, control_id, &mut answer),
        )
        .await;
        capture_answer(report, answer.as_deref());
        done
    }
}

/// Keeps the acknowledgement's MSH, MSA and ERR segments (never patient data, which an
/// acknowledgement has no segment for): what the service said, and why.
fn capture_answer(report: &mut Report, answer: Option<&str>) {
    let Some(text) = answer else { return };
    let kept: Vec<&str> = text
        .split(['\r', '\n'])
        .filter(|seg| ["MSH|", "MSA|", "ERR|"].iter().any(|s| seg.starts_with(s)))
        .collect();
    report.capture(|| format!("< {}", kept.join("\n< ")));
}

/// A control id (MSH-10) for a test message: unique, at most 20 characters.
pub(super) fn new_control_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The random tail, not the time-ordered head, tells two tests apart.
    format!("SBTEST{}", &id[id.len() - 14..])
}

/// A message that asks for nothing but an acknowledgement: a network management query
/// (`NMQ^N01`), processing id `T`.
pub(super) fn test_message(ids: &Identifiers, control_id: &str) -> String {
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    let sending_application = ids
        .sending_application
        .clone()
        .unwrap_or_else(|| "SWITCHBOARD".into());
    format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||NMQ^N01^NMQ_N01|{control_id}|T|2.5.1\r",
        sending_application,
        field(&ids.sending_facility),
        field(&ids.receiving_application),
        field(&ids.receiving_facility),
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
    )
}

/// Sends `message` and judges the acknowledgement; its text goes to `answer` (for the
/// capture) whatever it says.
async fn exchange<S>(
    mut stream: S,
    message: String,
    control_id: String,
    answer_text: &mut Option<String>,
) -> Result<((), String), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let lost = |e: std::io::Error| {
        if let Some(alert) = probe::refused_client_certificate(&e, true) {
            return probe::client_certificate_refused(&alert);
        }
        Failure::new(
            Code::ProtocolError,
            format!("the connection broke during the exchange ({e})"),
            "Check that the address speaks MLLP (and TLS, if the address is mllps://).",
        )
    };
    let mut frame = vec![START];
    frame.extend_from_slice(message.as_bytes());
    frame.extend_from_slice(&END);
    stream.write_all(&frame).await.map_err(lost)?;
    stream.flush().await.map_err(lost)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(lost)?;
        answer.extend_from_slice(&buf[..n]);
        if answer.first().is_some_and(|b| *b != START) {
            return Err(framing("the answer is not an MLLP frame"));
        }
        if n == 0 {
            return Err(Failure::new(
                Code::ProtocolError,
                "the service closed the connection without an acknowledgement",
                "Check that the address speaks MLLP, and the sending and receiving application and facility the service expects.",
            ));
        }
        if answer.windows(2).any(|w| w == END) {
            break;
        }
        if answer.len() > MAX_ANSWER {
            return Err(framing("the answer has no end of frame"));
        }
    }
    let body = &answer[1..];
    let end = body
        .windows(2)
        .position(|w| w == END)
        .ok_or_else(|| framing("the answer has no end of frame"))?;
    let text = String::from_utf8_lossy(&body[..end]).into_owned();
    let judged = judge_ack(&text, &control_id);
    *answer_text = Some(text);
    Ok(((), judged?))
}

/// What an acknowledgement of message `control_id` says: accepted, or why not.
pub(super) fn judge_ack(text: &str, control_id: &str) -> Result<String, Failure> {
    let ack = parse_ack(text)?;
    if ack.control_id != control_id {
        return Err(Failure::new(
            Code::ProtocolError,
            format!(
                "the acknowledgement answers message {}, not {control_id}",
                ack.control_id
            ),
            "The service's operator should check its HL7 listener.",
        ));
    }
    match ack.code.as_str() {
        "AA" | "CA" => Ok(format!("acknowledged ({})", ack.code)),
        code => Err(Failure::new(
            Code::ProtocolError,
            format!(
                "the service rejected the test message ({code}{})",
                if ack.text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", ack.text)
                }
            ),
            "Check the sending and receiving application and facility the service expects.",
        )),
    }
}

fn framing(what: &str) -> Failure {
    Failure::new(
        Code::ProtocolError,
        what.to_owned(),
        "Check that the address speaks MLLP.",
    )
}

/// An acknowledgement's MSA segment.
#[derive(Debug, PartialEq, Eq)]
struct Ack {
    code: String,
    control_id: String,
    text: String,
}

/// Reads the MSA segment of an acknowledgement, with the field separator its MSH declares.
fn parse_ack(text: &str) -> Result<Ack, Failure> {
    let segments: Vec<&str> = text.split(['\r', '\n']).filter(|s| !s.is_empty()).collect();
    let msh = segments
        .first()
        .filter(|s| s.starts_with("MSH") && s.len() > 3)
        .ok_or_else(|| framing("the answer is not an HL7 message (no MSH segment)"))?;
    let separator = msh[3..].chars().next().unwrap_or('|');
    let msa = segments
        .iter()
        .find(|s| s.starts_with("MSA"))
        .ok_or_else(|| framing("the answer is not an acknowledgement (no MSA segment)"))?;
    let fields: Vec<&str> = msa.split(separator).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("").to_owned();
    Ok(Ack {
        code: field(1),
        control_id: field(2),
        text: field(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_is_read_with_its_own_separator() {
        let ack = parse_ack("MSH#^~\\&#LIS\rMSA#AE#SB1#unknown facility\r").unwrap();
        assert_eq!(
            ack,
            Ack {
                code: "AE".into(),
                control_id: "SB1".into(),
                text: "unknown facility".into()
            }
        );
        assert!(parse_ack("PID|1\r").is_err());
        assert!(parse_ack("MSH|^~\\&|LIS\rPID|1\r").is_err());
    }

    #[test]
    fn the_test_message_is_a_test() {
        let msg = test_message(&Identifiers::default(), "SB1");
        let fields: Vec<&str> = msg.trim_end().split('|').collect();
        assert_eq!(fields[8], "NMQ^N01^NMQ_N01");
        assert_eq!(fields[9], "SB1");
        assert_eq!(fields[10], "T", "processing id: test");
    }
}
