//! A records-exchange service: Switchboard POSTs a patient's request as JSON to
//! `<address>/records-requests` (or the production test address, in validation mode), with an
//! `Idempotency-Key` of the request's id so that a retried send is one request; a 2xx answer
//! is an accepted request. The service answers later by a signed POST to the connection's
//! inbound address, read here.

use async_trait::async_trait;
use hyper::body::Bytes;

use super::{Inbound, Outgoing, Service};
use crate::domain::integration::IntegrationErrorCode as Code;
use crate::domain::records_exchange::RecordsAnswer;
use crate::domain::service_connection::Endpoint;
use crate::integrations::http::{self, Answer, Call};
use crate::integrations::{Connector, Failure, Report};

/// Where requests go, under the connection's address.
pub const REQUESTS_PATH: &str = "records-requests";

pub struct RecordsExchange;

#[async_trait]
impl Service for RecordsExchange {
    async fn send(
        &self,
        c: &Connector<'_>,
        message: &Outgoing,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let Outgoing::RecordsRequest(request) = message;
        let base = match (&c.settings.endpoint, request.validation) {
            (_, true) => c.settings.validation_endpoint.as_ref(),
            (Endpoint::Url(url), false) => Some(url),
            _ => None,
        };
        let Some(base) = base else {
            return Err(Failure::new(
                Code::Rejected,
                "the connection has no HTTP address to send to",
                "Edit the connection.",
            ));
        };
        let base = with_trailing_slash(base);
        let target = base.join(REQUESTS_PATH).map_err(|e| {
            Failure::new(
                Code::Rejected,
                format!("the address does not take a path ({e})"),
                "Edit the connection.",
            )
        })?;
        let body = serde_json::to_vec(request).map_err(|e| {
            Failure::new(
                Code::Rejected,
                format!("the request cannot be encoded ({e})"),
                "Report this to Switchboard's operators.",
            )
        })?;
        let judge = |answer: &Answer| judge(answer);
        let call = Call {
            method: hyper::Method::POST,
            target,
            content_type: Some("application/json"),
            accept: "application/json",
            body: Bytes::from(body),
            headers: vec![("idempotency-key", request.request_id.to_string())],
            max_answer: http::MAX_ANSWER,
            judge: &judge,
        };
        http::exchange(c, &base, &call, report).await.map(|_| ())
    }

    fn receive(&self, body: &[u8]) -> Result<Inbound, String> {
        RecordsAnswer::parse(body).map(Inbound::RecordsAnswer)
    }
}

/// A base URL that paths join under (`https://x/api` + `records-requests` is
/// `https://x/api/records-requests`, not `https://x/records-requests`).
fn with_trailing_slash(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}

/// What the service's answer to a request means: 2xx accepted; 401 or 403 refused
/// credentials; 408, 429 and 5xx worth another try; any other answer a refusal that trying
/// again will not change.
fn judge(answer: &Answer) -> Result<String, Failure> {
    match answer.status {
        200..=299 => Ok(format!("accepted: HTTP {}", answer.status)),
        401 | 403 => Err(Failure::new(
            Code::AuthFailed,
            format!(
                "the service refused the credentials: HTTP {}",
                answer.status
            ),
            "Check the connection's credentials, then Test Connection.",
        )),
        408 | 429 | 500..=599 => Err(Failure::new(
            Code::UnexpectedResponse,
            format!(
                "the service could not take the request now: HTTP {}: {}",
                answer.status, answer.excerpt
            ),
            "Nothing to change: it was tried again; if it keeps failing, ask the service's operator.",
        )),
        status => Err(Failure::new(
            Code::Rejected,
            format!(
                "the service refused the request: HTTP {status}: {}",
                answer.excerpt
            ),
            "The service's answer says why; check the patient's data and the connection's address.",
        )),
    }
}
