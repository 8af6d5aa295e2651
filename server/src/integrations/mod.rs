//! Talking to external services. `Connector` is built from a connection's settings, its
//! opened credentials and the address policy; what it does depends on the service's type
//! (`services`: test, send, receive), over the protocol's own steps (`probe`, then `http`,
//! `mllp`, `storage`). Every failure is one `Failure`: a stable code, whether trying again
//! may help, what happened and what to try.

pub mod capture;
pub mod checks;
pub mod exchanges;
pub(crate) mod http;
pub mod inbound;
pub mod intake;
mod mllp;
mod object_storage;
pub mod polls;
pub mod probe;
pub mod retry;
pub mod services;
mod storage;
pub mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::integration::{IntegrationErrorCode, ProbeStep};
use crate::domain::service_connection::{ConnectionSettings, Credentials, Endpoint, Protocol};
use crate::domain::webhook_endpoint::AddressPolicy;
pub use storage::allowed as storage_allowed;

/// One failure of an exchange with a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: IntegrationErrorCode,
    /// What happened, in plain words (never a secret).
    pub message: String,
    /// What to try.
    pub fix: String,
}

impl Failure {
    pub fn new(code: IntegrationErrorCode, message: impl Into<String>, fix: &str) -> Failure {
        Failure {
            code,
            message: message.into(),
            fix: fix.to_owned(),
        }
    }

    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }
}

/// One step as it went.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub step: ProbeStep,
    pub ok: bool,
    pub latency_ms: u64,
    pub detail: String,
}

/// What a Test Connection found: its steps, and the failure if one stopped it.
#[derive(Clone, Debug)]
pub struct Report {
    pub steps: Vec<StepReport>,
    pub failure: Option<Failure>,
    pub latency: Duration,
    /// What was sent and received, redacted (`capture`), while the connection's debug capture
    /// is on; `None` otherwise.
    pub capture: Option<Vec<String>>,
}

impl Report {
    fn step(&mut self, step: ProbeStep, latency: Duration, ok: bool, detail: String) {
        self.steps.push(StepReport {
            step,
            ok,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            detail,
        });
    }

    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// Keeps a line of the exchange, if the capture is on.
    fn capture(&mut self, line: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.capture {
            lines.push(line());
        }
    }
}

/// What outgoing connections may reach, where storage may be, and this process's OAuth
/// tokens for connections.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    pub policy: Arc<AddressPolicy>,
    pub storage_roots: Vec<PathBuf>,
    pub tokens: Arc<token::TokenCache>,
}

/// A connection ready to talk to its service.
pub struct Connector<'a> {
    pub settings: &'a ConnectionSettings,
    pub credentials: &'a Credentials,
    pub reach: &'a Reach,
    /// Which credentials these are, for the token cache.
    pub token_key: token::TokenKey,
    /// Whether to keep what is sent and received (debug capture).
    pub capture: bool,
}

impl Connector<'_> {
    /// What to ask the token endpoint, for OAuth 2.0 client credentials.
    fn token_request(&self) -> Option<token::Request<'_>> {
        match self.credentials {
            Credentials::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Some(token::Request {
                key: self.token_key,
                token_url,
                client_id,
                client_secret,
                scope: scope.as_deref(),
                ca_pem: self.settings.ca_pem.as_deref(),
            }),
            _ => None,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.settings.timeout_ms))
    }

    fn new_report(&self) -> Report {
        Report {
            steps: vec![],
            failure: None,
            latency: Duration::ZERO,
            capture: self.capture.then(Vec::new),
        }
    }

    /// Really talks to the service: resolve, connect, TLS, and one harmless call of its
    /// protocol (or a probe object, for storage).
    pub async fn test(&self) -> Report {
        let started = Instant::now();
        let mut report = self.new_report();
        let outcome = services::of(self.settings.service_type)
            .test(self, &mut report)
            .await;
        report.failure = outcome.err();
        report.latency = started.elapsed();
        report
    }

    /// Sends `message` to the service, tried again after retryable failures (`backoff`).
    /// The report holds every try's steps; the number of tries comes with it.
    pub async fn send(
        &self,
        message: &services::Outgoing,
        backoff: &retry::Backoff,
    ) -> (Report, u32) {
        let started = Instant::now();
        let service = services::of(self.settings.service_type);
        let mut report = self.new_report();
        let mut tries = 1;
        loop {
            match service.send(self, message, &mut report).await {
                Ok(()) => break,
                Err(failure) => match backoff.after(&failure, tries) {
                    Some(pause) => {
                        tokio::time::sleep(pause).await;
                        tries += 1;
                    }
                    None => {
                        report.failure = Some(failure);
                        break;
                    }
                },
            }
        }
        report.latency = started.elapsed();
        (report, tries)
    }
}

/// Test Connection by the connection's protocol: what every service type does unless its own
/// test differs.
pub async fn by_protocol(c: &Connector<'_>, report: &mut Report) -> Result<(), Failure> {
    match (&c.settings.endpoint, c.settings.protocol) {
        (Endpoint::Url(url), Protocol::HttpsJson | Protocol::Hl7v2Http) => {
            http::test(c, url, report).await
        }
        (Endpoint::Tcp { host, port, tls }, Protocol::Hl7v2Mllp) => {
            mllp::test(c, host, *port, *tls, report).await
        }
        (Endpoint::Directory(dir), Protocol::LocalPath) => storage::test(c, dir, report).await,
        (
            Endpoint::Bucket {
                url,
                bucket,
                prefix,
                region,
            },
            Protocol::S3,
        ) => {
            let bucket = object_storage::Bucket {
                url,
                bucket,
                prefix,
                region,
            };
            object_storage::test(c, bucket, report).await
        }
        _ => Err(Failure::new(
            IntegrationErrorCode::ProtocolError,
            "the connection's address does not fit its protocol",
            "Edit the connection.",
        )),
    }
}
