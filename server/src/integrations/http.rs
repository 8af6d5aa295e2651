//! Test Connection over HTTP(S): after the connection and the handshake (and, for OAuth 2.0
//! client credentials, a token), one authenticated GET of the connection's health path on
//! that same connection. A 2xx answer is a working service; 401 or 403, refused credentials
//! (a cached token refused is forgotten, and the call made once more with a new one);
//! anything else, an unexpected answer. Redirects are not followed.

use std::time::Instant;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::probe::{self, timed};
use super::token::{self, Source};
use super::{Connector, Failure, Report, capture, mllp};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};
use crate::domain::service_connection::Protocol;

/// The start of an unexpected answer kept in the report.
const EXCERPT: usize = 200;
/// The most of an answer read.
const MAX_BODY: usize = 64 * 1024;

pub async fn test(c: &Connector<'_>, url: &url::Url, report: &mut Report) -> Result<(), Failure> {
    let timeout = c.timeout();
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = timed(
        report,
        ProbeStep::Resolve,
        timeout,
        probe::resolve(&c.reach.policy, &host, port),
    )
    .await?;
    let stream = timed(report, ProbeStep::Connect, timeout, probe::connect(&addrs)).await?;
    // HL7 over HTTP posts its test message to the address itself; JSON services are asked
    // for their health resource.
    let target = if c.settings.protocol == Protocol::Hl7v2Http {
        url.clone()
    } else {
        url.join(&c.settings.health_path)
            .map_err(|e| bad_config(format!("the health path does not join the address ({e})")))?
    };
    if url.scheme() == "https" {
        let config = probe::client_config(
            c.settings.ca_pem.as_deref(),
            c.credentials.client_identity(),
        )
        .map_err(bad_config)?;
        let tls = timed(
            report,
            ProbeStep::Tls,
            timeout,
            probe::tls(stream, &host, config, &[b"http/1.1"]),
        )
        .await?;
        session(c, &target, tls, report).await
    } else {
        session(c, &target, stream, report).await
    }
}

fn bad_config(message: String) -> Failure {
    Failure::new(Code::ProtocolError, message, "Edit the connection.")
}

/// A token for the connection (`AUTHENTICATE`), if it authenticates by OAuth: the header to
/// send and where the token came from.
async fn authenticate(
    c: &Connector<'_>,
    report: &mut Report,
    fresh: bool,
) -> Result<Option<((String, String), Source)>, Failure> {
    let Some(request) = c.token_request() else {
        return Ok(None);
    };
    let (token, source) = timed(report, ProbeStep::Authenticate, c.timeout(), async {
        let (token, source, detail) = token::token(
            &c.reach.tokens,
            c.reach.policy.clone(),
            c.timeout(),
            &request,
            fresh,
        )
        .await?;
        Ok(((token, source), detail))
    })
    .await?;
    Ok(Some((
        ("authorization".into(), format!("Bearer {token}")),
        source,
    )))
}

/// The exchange over one connection: the handshake and the call, once more with a new token
/// when a cached one is refused.
async fn session<IO>(
    c: &Connector<'_>,
    target: &url::Url,
    io: IO,
    report: &mut Report,
) -> Result<(), Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let hl7 = (c.settings.protocol == Protocol::Hl7v2Http).then(|| {
        let id = mllp::new_control_id();
        (mllp::test_message(&c.settings.identifiers, &id), id)
    });
    let message = hl7.as_ref().map(|(m, _)| m.as_str());
    let control_id = hl7.as_ref().map(|(_, id)| id.as_str());
    let (header, source) = match authenticate(c, report, false).await? {
        Some((header, source)) => (Some(header), Some(source)),
        None => (c.credentials.http_header(), None),
    };
    let started = Instant::now();
    let first = tokio::time::timeout(c.timeout(), async {
        let mut sender = handshake(io).await?;
        let answer = call(&mut sender, target, header.as_ref(), message).await?;
        Ok::<_, Failure>((sender, answer))
    })
    .await
    .unwrap_or_else(|_| Err(probe::timed_out(c.timeout())));
    let (mut sender, answer) = match first {
        Ok(done) => done,
        Err(failure) => return record(report, started, Err(failure)),
    };
    for line in &answer.captured {
        report.capture(|| line.clone());
    }
    let judged = judge(target, &answer, control_id);
    let refused_cached =
        matches!(&judged, Err(f) if f.code == Code::AuthFailed) && source == Some(Source::Cache);
    record(report, started, judged.clone())
        .or_else(|failure| if refused_cached { Ok(()) } else { Err(failure) })?;
    if !refused_cached {
        return Ok(());
    }
    // The service no longer takes the cached token (revoked, or its clock runs ahead):
    // forget it and try once with a new one.
    c.reach.tokens.forget(c.token_key);
    let header = authenticate(c, report, true).await?.map(|(h, _)| h);
    let started = Instant::now();
    let second = tokio::time::timeout(c.timeout(), async {
        sender.ready().await.map_err(broken)?;
        call(&mut sender, target, header.as_ref(), message).await
    })
    .await
    .unwrap_or_else(|_| Err(probe::timed_out(c.timeout())));
    match second {
        Ok(answer) => {
            for line in &answer.captured {
                report.capture(|| line.clone());
            }
            record(report, started, judge(target, &answer, control_id))
        }
        Err(failure) => record(report, started, Err(failure)),
    }
}

/// Records the `CALL` step.
fn record(
    report: &mut Report,
    started: Instant,
    outcome: Result<String, Failure>,
) -> Result<(), Failure> {
    match outcome {
        Ok(detail) => {
            report.step(ProbeStep::Call, started.elapsed(), true, detail);
            Ok(())
        }
        Err(failure) => {
            report.step(
                ProbeStep::Call,
                started.elapsed(),
                false,
                failure.message.clone(),
            );
            Err(failure)
        }
    }
}

fn broken(e: hyper::Error) -> Failure {
    if let Some(alert) = probe::refused_client_certificate(&e, true) {
        return probe::client_certificate_refused(&alert);
    }
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(err) = source {
        why = format!("{why}: {err}");
        source = err.source();
    }
    Failure::new(
        Code::ProtocolError,
        format!("the service broke off the HTTP exchange ({why})"),
        "Check that the address serves HTTP at this port.",
    )
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(broken)?;
    // Ends with the connection: when the sender is dropped, or the service closes it.
    tokio::spawn(connection);
    Ok(sender)
}

/// What the service answered, and the exchange as debug capture keeps it.
struct Answer {
    status: u16,
    /// The body, and its start for messages.
    text: String,
    excerpt: String,
    captured: Vec<String>,
}

/// GET `target` with the credentials' header.
async fn call(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &url::Url,
    credentials: Option<&(String, String)>,
    hl7: Option<&str>,
) -> Result<Answer, Failure> {
    let host = match target.port() {
        Some(p) => format!("{}:{p}", target.host_str().unwrap_or_default()),
        None => target.host_str().unwrap_or_default().to_owned(),
    };
    let path = &target[url::Position::BeforePath..url::Position::AfterQuery];
    let mut request = match hl7 {
        Some(_) => hyper::Request::post(path)
            .header("content-type", "x-application/hl7-v2+er7; charset=utf-8")
            .header("accept", "x-application/hl7-v2+er7"),
        None => hyper::Request::get(path).header("accept", "application/json"),
    }
    .header("host", host)
    .header(
        "user-agent",
        concat!("Switchboard/", env!("CARGO_PKG_VERSION")),
    );
    if let Some((name, value)) = credentials {
        request = request.header(name, value);
    }
    let body = hl7.map(|m| Bytes::from(m.to_owned())).unwrap_or_default();
    let request = request
        .body(Full::new(body))
        .map_err(|e| bad_config(format!("the request cannot be made ({e})")))?;
    let secret_header = credentials.map(|(name, _)| name.as_str());
    let mut captured = vec![format!("> {} {}", request.method(), request.uri())];
    for (name, value) in request.headers() {
        let value = value.to_str().unwrap_or("<binary>");
        captured.push(format!(
            "> {}",
            capture::header(name.as_str(), value, secret_header)
        ));
    }
    let response = sender.send_request(request).await.map_err(broken)?;
    let status = response.status().as_u16();
    captured.push(format!("< HTTP {status}"));
    for (name, value) in response.headers() {
        let value = value.to_str().unwrap_or("<binary>");
        captured.push(format!("< {}", capture::header(name.as_str(), value, None)));
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    captured.push(format!("< {}", capture::body(&body)));
    let text = String::from_utf8_lossy(&body).into_owned();
    Ok(Answer {
        status,
        excerpt: text.chars().take(EXCERPT).collect(),
        text,
        captured,
    })
}

/// What an answer means; for an HL7 test message (`control_id`), its acknowledgement too.
fn judge(target: &url::Url, answer: &Answer, control_id: Option<&str>) -> Result<String, Failure> {
    let path = target.path();
    let method = if control_id.is_some() { "POST" } else { "GET" };
    match answer.status {
        200..=299 => match control_id {
            Some(id) => mllp::judge_ack(answer.text.trim_start_matches('\u{feff}'), id)
                .map(|ack| format!("POST {path}: HTTP {}, {ack}", answer.status)),
            None => Ok(format!("GET {path}: HTTP {}", answer.status)),
        },
        401 | 403 => Err(Failure::new(
            Code::AuthFailed,
            format!("{method} {path} was refused: HTTP {}", answer.status),
            "Check the connection's credentials (for an API key, the header it goes in too).",
        )),
        code @ 300..=399 => Err(Failure::new(
            Code::UnexpectedResponse,
            format!("{method} {path} answered a redirect (HTTP {code})"),
            "Use the address the service redirects to as the connection's address.",
        )),
        code => Err(Failure::new(
            Code::UnexpectedResponse,
            format!("{method} {path} answered HTTP {code}: {}", answer.excerpt),
            "Check the address and the health path; the service's operator can tell what this answer means.",
        )),
    }
}
