//! The first steps of reaching a service over the network, one at a time so that each is
//! timed and a failure names its step: resolving the host (refusing addresses the policy does
//! not allow, on the addresses actually connected to), connecting, and the TLS handshake
//! (the chain and the host name verified, against the connection's own certificate
//! authorities when it has some, else the system's).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Failure, Report};
use crate::domain::integration::{IntegrationErrorCode as Code, ProbeStep};
use crate::domain::webhook_endpoint::AddressPolicy;

/// Runs `f` within `timeout`, as step `step` of `report`: its time is recorded, and running
/// out of time is a `TIMEOUT` of that step.
pub async fn timed<T>(
    report: &mut Report,
    step: ProbeStep,
    timeout: Duration,
    f: impl Future<Output = Result<(T, String), Failure>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(timed_out(timeout)),
    };
    let elapsed = started.elapsed();
    match outcome {
        Ok((value, detail)) => {
            report.step(step, elapsed, true, detail);
            Ok(value)
        }
        Err(failure) => {
            report.step(step, elapsed, false, failure.message.clone());
            Err(failure)
        }
    }
}

/// A step that got no answer within `timeout`.
pub fn timed_out(timeout: Duration) -> Failure {
    Failure::new(
        Code::Timeout,
        format!("no answer within {} ms", timeout.as_millis()),
        "Check that the service is running and that no firewall drops the traffic; or raise the connection's timeout.",
    )
}

/// The host's addresses that `policy` lets a connection reach.
pub async fn resolve(
    policy: &AddressPolicy,
    host: &str,
    port: u16,
) -> Result<(Vec<SocketAddr>, String), Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| {
            Failure::new(
                Code::DnsFailure,
                format!("`{host}` does not resolve ({e})"),
                "Check the host name for typing errors, and that this server can use DNS for it.",
            )
        })?
        .collect();
    let allowed: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| policy.permits(host, a.ip()))
        .collect();
    if allowed.is_empty() {
        let list: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
        return Err(Failure::new(
            Code::BlockedAddress,
            format!(
                "`{host}` points to {}: a loopback, private, link-local or metadata address",
                list.join(", ")
            ),
            "A service on the clinic's own network must be allowed by the server's operator in services.allowed_hosts.",
        ));
    }
    let list: Vec<String> = allowed.iter().map(|a| a.ip().to_string()).collect();
    Ok((allowed, format!("resolved to {}", list.join(", "))))
}

/// A TCP connection to the first address that accepts one.
pub async fn connect(addrs: &[SocketAddr]) -> Result<(TcpStream, String), Failure> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, format!("connected to {addr}")));
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("resolve answers at least one address");
    let fix = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        "Nothing listens there: check the port, and that the service is running."
    } else {
        "Check the address, and that this server's network can reach it."
    };
    Err(Failure::new(
        Code::ConnectionRefused,
        format!("could not connect to {addr}: {e}"),
        fix,
    ))
}

/// The client's TLS configuration: the server verified against the connection's certificate
/// authorities, or the system's; and the connection's client certificate (mutual TLS), if it
/// has one.
pub fn client_config(
    ca_pem: Option<&str>,
    identity: Option<(&str, &str)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("the certificate authorities are not PEM ({e:?})"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("no usable certificate among the certificate authorities".into());
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                rustls_platform_verifier::Verifier::new(provider).map_err(|e| e.to_string())?,
            )),
    };
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("the client certificate is not PEM ({e:?})"))?;
            if chain.is_empty() {
                return Err("no client certificate in the PEM".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| format!("the client key is not a PEM private key ({e:?})"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not go together ({e})"))?
        }
    };
    Ok(Arc::new(config))
}

/// Whether `e` (at any depth) is the service's refusal of our client certificate: a TLS alert
/// it sent. During the handshake (TLS 1.2), an alert about the certificate. After it, any
/// fatal alert: with TLS 1.3 the service checks the client's certificate after the client has
/// finished its side of the handshake, and its refusal arrives at the first read, as whatever
/// alert its state machine sends then (rustls sends `DecryptError` when a certificate was
/// required and none came).
pub fn refused_client_certificate(
    e: &(dyn std::error::Error + 'static),
    after_handshake: bool,
) -> Option<String> {
    use rustls::AlertDescription::*;
    let mut current = Some(e);
    while let Some(err) = current {
        let found = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::AlertReceived(alert)) = found
            && (after_handshake
                || matches!(
                    alert,
                    CertificateRequired
                        | BadCertificate
                        | UnknownCA
                        | CertificateUnknown
                        | UnsupportedCertificate
                        | CertificateRevoked
                        | CertificateExpired
                        | AccessDenied
                ))
        {
            return Some(format!("{alert:?}"));
        }
        current = err.source();
    }
    None
}

/// The failure of a service refusing the client certificate.
pub fn client_certificate_refused(alert: &str) -> Failure {
    Failure::new(
        Code::AuthFailed,
        format!(
            "the service ended the TLS session (alert {alert}): it refused the client certificate, or the lack of one"
        ),
        "Check that the connection's client certificate is the one the service expects, signed by an authority it trusts, and not expired.",
    )
}

/// The TLS handshake with `host` over `stream`.
pub async fn tls(
    stream: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
    alpn: &[&[u8]],
) -> Result<(TlsStream<TcpStream>, String), Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
        Failure::new(
            Code::TlsError,
            format!("`{host}` is not a name TLS can verify"),
            "Use the host name the service's certificate was issued for.",
        )
    })?;
    let mut config = (*config).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(tls_failure)?;
    let version = tls
        .get_ref()
        .1
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    Ok((tls, format!("certificate verified; {version}")))
}

/// A failed handshake, with the reason in plain words.
fn tls_failure(e: std::io::Error) -> Failure {
    if let Some(alert) = refused_client_certificate(&e, false) {
        return client_certificate_refused(&alert);
    }
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let (reason, fix) = match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::UnknownIssuer => (
                "the certificate was issued by an unknown certificate authority".to_owned(),
                "If the service uses a private certificate authority, add its certificate to the connection's certificate authorities.",
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    "the certificate is for another host name".to_owned(),
                    "Use the host name the certificate was issued for, or ask the service for a certificate that names this host.",
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "the certificate has expired".to_owned(),
                "The service must renew its certificate.",
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "the certificate is not valid yet".to_owned(),
                "Check the clocks of this server and the service.",
            ),
            other => (
                format!("the certificate was refused ({other:?})"),
                "Ask the service's operator to check its certificate chain.",
            ),
        },
        Some(other) => (
            format!("the handshake failed ({other})"),
            "Check that the address speaks TLS, and which TLS versions the service accepts.",
        ),
        None => (
            format!("the handshake failed ({e})"),
            "Check that the address speaks TLS.",
        ),
    };
    Failure::new(Code::TlsError, reason, fix)
}
