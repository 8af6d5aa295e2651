//! Outgoing HTTP that reaches only what the address policy allows: webhooks, and connections
//! to external services (their OAuth token endpoints, S3-compatible stores).
//!
//! Names are resolved here (`GuardedResolver`), and the connection is made only to the
//! addresses that passed, so a name that resolves to a private address (or is made to, between
//! the check at registration and a request) is refused at the address actually connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook_delivery::DeliveryError;
use crate::domain::webhook_endpoint::{AddressPolicy, literal_ip};

/// A refused address, found by the resolver or for a literal address.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses {1} may not reach")]
struct Blocked(String, &'static str);

/// A name that does not resolve.
#[derive(Debug, thiserror::Error)]
#[error("{0} does not resolve: {1}")]
struct Unresolved(String, std::io::Error);

struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(Unresolved(host.clone(), e))
                })?
                .collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(&host, a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(Blocked(host, policy.reaching()));
                return Err(refused);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Checks where `url` would connect, for a clear refusal when an endpoint is registered:
/// a literal address, or every address its name resolves to now. A name that does not resolve
/// yet is accepted (delivery reports `DNS_FAILURE` until it does).
pub async fn check_destination(policy: &AddressPolicy, url: &url::Url) -> Result<(), String> {
    let Some(host) = url.host_str() else {
        return Err("has no host".into());
    };
    let found: Vec<IpAddr> = match literal_ip(url) {
        Some(ip) => vec![ip],
        None => match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => vec![],
        },
    };
    match found.into_iter().find(|ip| !policy.permits(host, *ip)) {
        Some(ip) => Err(policy.refusal(ip)),
        None => Ok(()),
    }
}

/// An HTTP client that connects only where `policy` allows (names are resolved by
/// `GuardedResolver`; a literal address must be checked by the caller), follows no redirect,
/// uses no proxy, and trusts the system's certificate authorities and `extra_roots`: for
/// webhooks, and for other outgoing calls (an external service's OAuth token endpoint).
pub fn guarded_client(
    policy: Arc<AddressPolicy>,
    timeout: Duration,
    extra_roots: Vec<reqwest::Certificate>,
) -> anyhow::Result<reqwest::ClientBuilder> {
    // rustls needs one process-wide crypto provider; another part may have installed it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .tls_certs_merge(extra_roots)
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10))))
}

/// Whether `err` is a `T`, itself or inside an `io::Error` (which does not name what it
/// wraps as its source), at any depth of the wrapping.
fn is<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<T>() {
        return true;
    }
    match err
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is::<T>(inner),
        None => false,
    }
}

/// The class of a failed request, and a short reason for the log.
pub fn classify(e: &reqwest::Error) -> (DeliveryError, String) {
    let mut why = e.to_string();
    let mut class = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        why = format!("{why}: {err}");
        class = class.or(if is::<Blocked>(err) {
            Some(DeliveryError::BlockedAddress)
        } else if is::<Unresolved>(err) {
            Some(DeliveryError::DnsFailure)
        } else if is::<rustls::Error>(err) {
            Some(DeliveryError::TlsError)
        } else {
            err.downcast_ref::<std::io::Error>()
                .filter(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
                .map(|_| DeliveryError::ConnectionRefused)
        });
        source = err.source();
    }
    let class = class.unwrap_or(if e.is_timeout() {
        DeliveryError::Timeout
    } else {
        DeliveryError::ConnectionError
    });
    (class, why)
}
