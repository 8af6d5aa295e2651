//! A webhook receiver for the tests: a real HTTP server on loopback that checks every
//! request's Standard Webhooks signature with its own code (not the server's), checks the
//! timestamp's tolerance, records what arrived, and answers as the test scripts it (a status,
//! a `Retry-After`, a delay). It can be reached over HTTPS too, with a certificate from a
//! private certificate authority made here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::Value;

/// How far a `webhook-timestamp` may be from the receiver's clock.
const TOLERANCE_SECS: i64 = 300;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    /// Each signature of the header, in order.
    pub signatures: Vec<String>,
    pub body: Value,
    pub at: Instant,
    /// Whether any signature matched one of the receiver's secrets, within the tolerance.
    pub verified: bool,
    /// Which of the receiver's secrets (by index) a signature matched.
    pub matched: Vec<usize>,
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct State {
    secrets: Vec<String>,
    received: Vec<Received>,
    script: VecDeque<Reply>,
    /// The answer once the script has run out.
    otherwise: Option<Reply>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

/// The signature of `id.timestamp.body` with `secret`, computed here from the
/// specification: HMAC-SHA256 keyed by the base64-decoded part after `whsec_`.
pub fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 secret");
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    mac.update(&signed);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let header = |name: &str| crate::services::header(&req, name);
    let id = header("webhook-id");
    let ts_raw = header("webhook-timestamp");
    let timestamp: i64 = ts_raw.parse().unwrap_or(0);
    let signatures: Vec<String> = header("webhook-signature")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() <= TOLERANCE_SECS;
    let reply = {
        let mut s = state.lock().unwrap();
        let matched: Vec<usize> = s
            .secrets
            .iter()
            .enumerate()
            .filter(|(_, secret)| {
                let want = expected_signature(secret, &id, &ts_raw, &body);
                signatures.iter().any(|got| got == &want)
            })
            .map(|(i, _)| i)
            .collect();
        let received = Received {
            id,
            timestamp,
            signatures,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            at: Instant::now(),
            verified: fresh && !matched.is_empty(),
            matched,
        };
        s.received.push(received);
        s.script
            .pop_front()
            .or_else(|| s.otherwise.clone())
            .unwrap_or(Reply::status(200))
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut answer =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    if let Some(secs) = reply.retry_after {
        answer.insert_header(("retry-after", secs.to_string()));
    }
    answer.body("received")
}

impl Receiver {
    /// Starts a receiver on a free loopback port; it answers 200 until scripted otherwise.
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listening")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            addr,
            state,
            server: handle,
        }
    }

    /// The secrets signatures are checked against (an endpoint's, as creation answered it).
    pub fn trust(&self, secret: &str) {
        self.state.lock().unwrap().secrets.push(secret.to_owned());
    }

    /// Answers the next requests with `replies`, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// The answer once the script has run out (200 unless set).
    pub fn otherwise(&self, reply: Reply) {
        self.state.lock().unwrap().otherwise = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests have arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests within {within:?}: {:?}",
                got.len(),
                got.iter().map(|r| &r.body["type"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}

/// A certificate authority of the tests' own, which nothing trusts unless told to.
pub struct PrivateCa {
    pem: String,
    der: rustls::pki_types::CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl PrivateCa {
    pub fn new() -> PrivateCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Switchboard tests private CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).expect("a CA certificate");
        PrivateCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Its certificate, PEM-encoded (what a `ca_file` holds).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A client certificate for `name` signed by this authority, and its key: PEM, as an
    /// administrator pastes them.
    pub fn client_certificate(&self, name: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        (cert.pem(), key.serialize_pem())
    }

    /// A server certificate for `name` signed by this authority, and its key: PEM, as an
    /// operator's files hold them.
    pub fn server_certificate_pem(&self, name: &str) -> (String, String) {
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        (cert.pem(), key.serialize_pem())
    }

    /// A server certificate for `name`, signed by this authority (expired since yesterday
    /// when `expired`), and its key.
    pub fn server_certificate(
        &self,
        name: &str,
        expired: bool,
    ) -> (
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        if expired {
            let now = std::time::SystemTime::now();
            params.not_before = (now - Duration::from_secs(30 * 86_400)).into();
            params.not_after = (now - Duration::from_secs(86_400)).into();
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        (
            cert.der().clone(),
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}

/// A TLS listener on loopback with a certificate for `name` from `ca` (an expired one when
/// `expired`) that forwards each connection to `upstream`: HTTPS (or MLLP over TLS) in front
/// of a plain server. Its port.
pub async fn tls_front(
    ca: &PrivateCa,
    name: &str,
    expired: bool,
    upstream: std::net::SocketAddr,
) -> u16 {
    crate::tls();
    let (cert, key) = ca.server_certificate(name, expired);
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a TLS configuration");
    serve_tls(config, upstream).await
}

/// `tls_front` (for `localhost`) that also requires a client certificate signed by
/// `clients`: mutual TLS.
pub async fn mutual_tls_front(
    ca: &PrivateCa,
    clients: &PrivateCa,
    upstream: std::net::SocketAddr,
) -> u16 {
    crate::tls();
    let (cert, key) = ca.server_certificate("localhost", false);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(clients.der.clone()).expect("the clients' CA");
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .expect("a client verifier");
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .expect("a TLS configuration");
    serve_tls(config, upstream).await
}

async fn serve_tls(config: rustls::ServerConfig, upstream: std::net::SocketAddr) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut inner) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
                }
            });
        }
    });
    port
}

impl Default for PrivateCa {
    fn default() -> Self {
        PrivateCa::new()
    }
}

impl Receiver {
    /// Serves this receiver over HTTPS as well, with a certificate for `localhost` that `ca`
    /// signed (`tls_front`). Its `https://localhost:…` address.
    pub async fn https(&self, ca: &PrivateCa) -> String {
        let port = tls_front(ca, "localhost", false, self.addr).await;
        format!("https://localhost:{port}/hooks")
    }
}
