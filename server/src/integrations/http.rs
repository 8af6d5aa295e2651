//! Requests over HTTP(S): after the connection and the handshake (and, for OAuth 2.0 client
//! credentials, a token), one authenticated request on that same connection, judged by its
//! caller. Test Connection GETs the connection's health path: a 2xx answer is a working
//! service; 401 or 403, refused credentials (a cached token refused is forgotten, and the call
//! made once more with a new one); anything else, an unexpected answer. Redirects are not
//! followed.

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
/// The most of an answer read, unless a call says otherwise.
pub const MAX_ANSWER: usize = 64 * 1024;

/// One request over a connection: what to send, and how to judge what comes back (a
/// description of a good answer, or the failure it is).
pub struct Call<'a> {
    pub method: hyper::Method,
    pub target: url::Url,
    pub content_type: Option<&'a str>,
    pub accept: &'a str,
    pub body: Bytes,
    /// More headers, none secret (an idempotency key).
    pub headers: Vec<(&'static str, String)>,
    /// The most of the answer read: a longer one is a failure.
    pub max_answer: usize,
    pub judge: &'a (dyn Fn(&Answer) -> Result<String, Failure> + Send + Sync),
}

/// Test Connection: the health resource GET (or, for HL7 over HTTP, the test message
/// POSTed to the address), judged as a health check.
pub async fn test(c: &Connector<'_>, url: &url::Url, report: &mut Report) -> Result<(), Failure> {
    // HL7 over HTTP posts its test message to the address itself; JSON services are asked
    // for their health resource.
    let (target, hl7) = if c.settings.protocol == Protocol::Hl7v2Http {
        let id = mllp::new_control_id();
        (
            url.clone(),
            Some((mllp::test_message(&c.settings.identifiers, &id), id)),
        )
    } else {
        let target = url
            .join(&c.settings.health_path)
            .map_err(|e| bad_config(format!("the health path does not join the address ({e})")))?;
        (target, None)
    };
    let control_id = hl7.as_ref().map(|(_, id)| id.clone());
    let judged_target = target.clone();
    let judge = move |answer: &Answer| judge(&judged_target, answer, control_id.as_deref());
    let call = match hl7 {
        Some((message, _)) => Call {
            method: hyper::Method::POST,
            target,
            content_type: Some("x-application/hl7-v2+er7; charset=utf-8"),
            accept: "x-application/hl7-v2+er7",
            body: Bytes::from(message),
            headers: vec![],
            max_answer: MAX_ANSWER,
            judge: &judge,
        },
        None => Call {
            method: hyper::Method::GET,
            target,
            content_type: None,
            accept: "application/json",
            body: Bytes::new(),
            headers: vec![],
            max_answer: MAX_ANSWER,
            judge: &judge,
        },
    };
    exchange(c, url, &call, report).await.map(|_| ())
}

/// Makes `call` over a new connection to `url`'s host: resolve, connect, TLS, authenticate
/// and the request, each a step of `report`. The answer, if the judge took it.
pub async fn exchange(
    c: &Connector<'_>,
    url: &url::Url,
    call: &Call<'_>,
    report: &mut Report,
) -> Result<Answer, Failure> {
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
        session(c, call, tls, report).await
    } else {
        session(c, call, stream, report).await
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
    call: &Call<'_>,
    io: IO,
    report: &mut Report,
) -> Result<Answer, Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (header, source) = match authenticate(c, report, false).await? {
        Some((header, source)) => (Some(header), Some(source)),
        None => (c.credentials.http_header(), None),
    };
    let started = Instant::now();
    let first = tokio::time::timeout(c.timeout(), async {
        let mut sender = handshake(io).await?;
        let answer = send(&mut sender, call, header.as_ref()).await?;
        Ok::<_, Failure>((sender, answer))
    })
    .await
    .unwrap_or_else(|_| Err(probe::timed_out(c.timeout())));
    let (mut sender, answer) = match first {
        Ok(done) => done,
        Err(failure) => return Err(failed(report, started, failure)),
    };
    for line in &answer.captured {
        report.capture(|| line.clone());
    }
    let judged = (call.judge)(&answer);
    let refused_cached =
        matches!(&judged, Err(f) if f.code == Code::AuthFailed) && source == Some(Source::Cache);
    if !refused_cached {
        return record(report, started, judged).map(|()| answer);
    }
    record(report, started, judged).ok();
    // The service no longer takes the cached token (revoked, or its clock runs ahead):
    // forget it and try once with a new one.
    c.reach.tokens.forget(c.token_key);
    let header = authenticate(c, report, true).await?.map(|(h, _)| h);
    let started = Instant::now();
    let second = tokio::time::timeout(c.timeout(), async {
        sender.ready().await.map_err(broken)?;
        send(&mut sender, call, header.as_ref()).await
    })
    .await
    .unwrap_or_else(|_| Err(probe::timed_out(c.timeout())));
    match second {
        Ok(answer) => {
            for line in &answer.captured {
                report.capture(|| line.clone());
            }
            let judged = (call.judge)(&answer);
            record(report, started, judged).map(|()| answer)
        }
        Err(failure) => Err(failed(report, started, failure)),
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
        Err(failure) => Err(failed(report, started, failure)),
    }
}

/// Records a failed `CALL` step.
fn failed(report: &mut Report, started: Instant, failure: Failure) -> Failure {
    report.step(
        ProbeStep::Call,
        started.elapsed(),
        false,
        failure.message.clone(),
    );
    failure
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
pub struct Answer {
    pub status: u16,
    /// The body, and its start for messages.
    pub text: String,
    pub excerpt: String,
    captured: Vec<String>,
}

/// Sends `call` with the credentials' header.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    call: &Call<'_>,
    credentials: Option<&(String, String)>,
) -> Result<Answer, Failure> {
    let target = &call.target;
    let host = match target.port() {
        Some(p) => format!("{}:{p}", target.host_str().unwrap_or_default()),
        None => target.host_str().unwrap_or_default().to_owned(),
    };
    let path = &target[url::Position::BeforePath..url::Position::AfterQuery];
    let mut request = hyper::Request::builder()
        .method(call.method.clone())
        .uri(path)
        .header("accept", call.accept)
        .header("host", host)
        .header(
            "user-agent",
            concat!("Switchboard/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(content_type) = call.content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in &call.headers {
        request = request.header(*name, value);
    }
    if let Some((name, value)) = credentials {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(call.body.clone()))
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
    if !call.body.is_empty() {
        captured.push(format!("> {}", capture::body(&call.body)));
    }
    let response = sender.send_request(request).await.map_err(broken)?;
    let status = response.status().as_u16();
    captured.push(format!("< HTTP {status}"));
    for (name, value) in response.headers() {
        let value = value.to_str().unwrap_or("<binary>");
        captured.push(format!("< {}", capture::header(name.as_str(), value, None)));
    }
    let body = Limited::new(response.into_body(), call.max_answer)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            Failure::new(
                Code::UnexpectedResponse,
                format!(
                    "the answer (HTTP {status}) could not be read whole: {e} (at most {} bytes are read)",
                    call.max_answer
                ),
                "Check what the service sends at this address.",
            )
        })?;
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
