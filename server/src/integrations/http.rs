//! Test Connection over HTTP(S): after the connection and the handshake, one authenticated GET
//! of the connection's health path on that same connection. A 2xx answer is a working service;
//! 401 or 403, refused credentials; anything else, an unexpected answer. Redirects are not
//! followed.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::probe::{self, timed};
use super::{Connector, Failure, Report};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};

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
    let target = url
        .join(&c.settings.health_path)
        .map_err(|e| bad_config(format!("the health path does not join the address ({e})")))?;
    if url.scheme() == "https" {
        let config = probe::client_config(c.settings.ca_pem.as_deref()).map_err(bad_config)?;
        let tls = timed(
            report,
            ProbeStep::Tls,
            timeout,
            probe::tls(stream, &host, config, &[b"http/1.1"]),
        )
        .await?;
        timed(report, ProbeStep::Call, timeout, call(c, &target, tls)).await
    } else {
        timed(report, ProbeStep::Call, timeout, call(c, &target, stream)).await
    }
}

fn bad_config(message: String) -> Failure {
    Failure::new(Code::ProtocolError, message, "Edit the connection.")
}

/// GET `target` over `io`, with the credentials.
async fn call<IO>(c: &Connector<'_>, target: &url::Url, io: IO) -> Result<((), String), Failure>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let broken = |e: hyper::Error| {
        Failure::new(
            Code::ProtocolError,
            format!("the service broke off the HTTP exchange ({e})"),
            "Check that the address serves HTTP at this port.",
        )
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(broken)?;
    let driver = tokio::spawn(connection);
    let host = match target.port() {
        Some(p) => format!("{}:{p}", target.host_str().unwrap_or_default()),
        None => target.host_str().unwrap_or_default().to_owned(),
    };
    let path = match target.query() {
        Some(q) => format!("{}?{q}", target.path()),
        None => target.path().to_owned(),
    };
    let mut request = hyper::Request::get(path)
        .header("host", host)
        .header("accept", "application/json")
        .header(
            "user-agent",
            concat!("Switchboard/", env!("CARGO_PKG_VERSION")),
        );
    if let Some((name, value)) = c.credentials.http_header() {
        request = request.header(name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| bad_config(format!("the request cannot be made ({e})")))?;
    let response = sender.send_request(request).await.map_err(broken)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    driver.abort();
    let excerpt: String = String::from_utf8_lossy(&body)
        .chars()
        .take(EXCERPT)
        .collect();
    let path = target.path();
    match status.as_u16() {
        200..=299 => Ok(((), format!("GET {path}: HTTP {}", status.as_u16()))),
        401 | 403 => Err(Failure::new(
            Code::AuthFailed,
            format!("GET {path} was refused: HTTP {}", status.as_u16()),
            "Check the connection's credentials (and, for an API key, the header it goes in).",
        )),
        300..=399 => Err(Failure::new(
            Code::UnexpectedResponse,
            format!("GET {path} answered a redirect (HTTP {})", status.as_u16()),
            "Use the address the service redirects to as the connection's address.",
        )),
        code => Err(Failure::new(
            Code::UnexpectedResponse,
            format!("GET {path} answered HTTP {code}: {excerpt}"),
            "Check the address and the health path; the service's operator can tell what this answer means.",
        )),
    }
}
