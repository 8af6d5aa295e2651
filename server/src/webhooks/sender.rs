//! One attempt to send a message: an HTTP POST over the address-guarded client
//! (`crate::outbound`), following no redirect, and coming back classified.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::webhook_delivery::{DeliveryError, status_error};
use crate::domain::webhook_endpoint::{AddressPolicy, literal_ip};
use crate::outbound::{classify, guarded_client};

/// The start of a receiver's answer kept in the delivery log.
const EXCERPT_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<DeliveryError>,
    pub latency: Duration,
    pub excerpt: String,
    pub retry_after: Option<Duration>,
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl Sender {
    /// A client that trusts the system's certificate authorities and `extra_roots`.
    pub fn new(
        policy: Arc<AddressPolicy>,
        timeout: Duration,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> anyhow::Result<Self> {
        let client = guarded_client(policy.clone(), timeout, extra_roots)?
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Sender { client, policy })
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// POSTs `body` to `url` with `headers`.
    pub async fn send(&self, url: &str, headers: &[(&str, String)], body: String) -> Answer {
        let started = Instant::now();
        let failed = |error: DeliveryError, excerpt: String| Answer {
            status: None,
            error: Some(error),
            latency: started.elapsed(),
            excerpt,
            retry_after: None,
        };
        let parsed = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return failed(DeliveryError::ConnectionError, e.to_string()),
        };
        // A literal address is never resolved, so the resolver cannot judge it.
        if let Some(ip) = literal_ip(&parsed)
            && !self
                .policy
                .permits(parsed.host_str().unwrap_or_default(), ip)
        {
            return failed(
                DeliveryError::BlockedAddress,
                format!(
                    "{ip} is not an address {} may reach",
                    self.policy.reaching()
                ),
            );
        }
        let mut request = self
            .client
            .post(parsed)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let (error, why) = classify(&e);
                return failed(error, why);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::new();
        let mut timed_out = false;
        while bytes.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    timed_out = e.is_timeout();
                    break;
                }
            }
        }
        bytes.truncate(EXCERPT_BYTES);
        let excerpt = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status: Some(status),
            error: status_error(status).or(timed_out.then_some(DeliveryError::Timeout)),
            latency: started.elapsed(),
            excerpt,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusals_are_classified() {
        let sender = Sender::new(
            Arc::new(AddressPolicy::default()),
            Duration::from_secs(2),
            vec![],
        )
        .unwrap();
        let answer = sender.send("http://localhost:9/x", &[], "{}".into()).await;
        assert_eq!(
            answer.error,
            Some(DeliveryError::BlockedAddress),
            "{answer:?}"
        );
        let answer = sender.send("http://127.0.0.1:9/x", &[], "{}".into()).await;
        assert_eq!(
            answer.error,
            Some(DeliveryError::BlockedAddress),
            "{answer:?}"
        );
        let answer = sender
            .send("http://no-such-host.invalid/x", &[], "{}".into())
            .await;
        assert_eq!(answer.error, Some(DeliveryError::DnsFailure), "{answer:?}");
        let open = AddressPolicy::new(&["127.0.0.0/8".into()]).unwrap();
        let sender = Sender::new(Arc::new(open), Duration::from_secs(2), vec![]).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let answer = sender
            .send(&format!("http://127.0.0.1:{port}/x"), &[], "{}".into())
            .await;
        assert_eq!(
            answer.error,
            Some(DeliveryError::ConnectionRefused),
            "{answer:?}"
        );
    }
}
