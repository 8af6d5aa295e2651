//! OAuth 2.0 client credentials for connections: a token fetched from the service's token
//! endpoint with the `oauth2` crate (over our reqwest, through the address policy and without
//! redirects), kept until shortly before it expires, and fetched again when the service
//! refuses it. Tokens live in this process only: each replica fetches its own.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use uuid::Uuid;

use super::Failure;
use crate::domain::integration::IntegrationErrorCode as Code;
use crate::domain::webhook_delivery::DeliveryError;
use crate::domain::webhook_endpoint::AddressPolicy;
use crate::outbound::{classify, guarded_client};

/// A token is not used in its last seconds: it could expire on the way.
const MARGIN: Duration = Duration::from_secs(30);
/// The lifetime assumed when the token endpoint does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Which credentials a token was fetched with: a connection, as its credentials were when
/// they last changed (new credentials never use an old token).
pub type TokenKey = (Uuid, i64);

struct Cached {
    token: String,
    good_until: Instant,
}

/// Tokens of this process, by connection.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<TokenKey, Cached>>);

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache(<tokens>)")
    }
}

impl TokenCache {
    fn get(&self, key: TokenKey) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key)
            .filter(|c| c.good_until > Instant::now())
            .map(|c| c.token.clone())
    }

    fn put(&self, key: TokenKey, token: String, lifetime: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            key,
            Cached {
                token,
                good_until: Instant::now() + lifetime.saturating_sub(MARGIN),
            },
        );
    }

    /// Forgets a token the service refused.
    pub fn forget(&self, key: TokenKey) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Fetched,
}

/// What the token endpoint is asked with.
pub struct Request<'a> {
    pub key: TokenKey,
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scope: Option<&'a str>,
    /// Certificate authorities (PEM) trusted besides the system's.
    pub ca_pem: Option<&'a str>,
}

/// A token for `request`: the cached one unless `fresh`, else one fetched (and cached).
pub async fn token(
    cache: &TokenCache,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
    request: &Request<'_>,
    fresh: bool,
) -> Result<(String, Source, String), Failure> {
    if !fresh && let Some(token) = cache.get(request.key) {
        return Ok((token, Source::Cache, "a cached token".into()));
    }
    let (token, lifetime) = fetch(policy, timeout, request).await?;
    cache.put(request.key, token.clone(), lifetime);
    Ok((
        token,
        Source::Fetched,
        format!(
            "a token from {} (valid {} s)",
            request.token_url,
            lifetime.as_secs()
        ),
    ))
}

/// The transport's failure, classified as the webhooks' are.
#[derive(Debug)]
struct HttpErr(Failure);

impl fmt::Display for HttpErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for HttpErr {}

type HttpFuture = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpErr>> + Send>>;

/// The `oauth2` crate's HTTP client over our reqwest (its own is another reqwest version).
fn http(client: reqwest::Client) -> impl Fn(oauth2::HttpRequest) -> HttpFuture {
    move |req| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpErr(transport_failure(&e)))?;
            let mut b = oauth2::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                b = b.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| HttpErr(transport_failure(&e)))?;
            b.body(bytes.to_vec())
                .map_err(|e| HttpErr(unexpected(e.to_string())))
        })
    }
}

fn unexpected(message: String) -> Failure {
    Failure::new(
        Code::UnexpectedResponse,
        message,
        "Check the token endpoint's address; the identity provider's operator can tell what its answer means.",
    )
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    let (class, why) = classify(e);
    let code = match class {
        DeliveryError::BlockedAddress => Code::BlockedAddress,
        DeliveryError::DnsFailure => Code::DnsFailure,
        DeliveryError::TlsError => Code::TlsError,
        DeliveryError::ConnectionRefused | DeliveryError::ConnectionError => {
            Code::ConnectionRefused
        }
        DeliveryError::Timeout => Code::Timeout,
        _ => Code::UnexpectedResponse,
    };
    Failure::new(
        code,
        format!("the token endpoint could not be reached: {why}"),
        "Check the token endpoint's address (and services.allowed_hosts for one on the clinic's network).",
    )
}

async fn fetch(
    policy: Arc<AddressPolicy>,
    timeout: Duration,
    request: &Request<'_>,
) -> Result<(String, Duration), Failure> {
    let bad_config =
        |e: String| Failure::new(Code::ProtocolError, e, "Edit the connection's credentials.");
    let url = url::Url::parse(request.token_url).map_err(|e| bad_config(e.to_string()))?;
    if let Some(ip) = crate::domain::webhook_endpoint::literal_ip(&url)
        && !policy.permits(url.host_str().unwrap_or_default(), ip)
    {
        return Err(Failure::new(
            Code::BlockedAddress,
            format!(
                "the token endpoint {ip} is a loopback, private, link-local or metadata address"
            ),
            "A token endpoint on the clinic's own network must be allowed by the server's operator in services.allowed_hosts.",
        ));
    }
    let roots = match request.ca_pem {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| bad_config(format!("the certificate authorities are not PEM ({e})")))?,
        None => vec![],
    };
    let client = guarded_client(policy, timeout, roots)
        .and_then(|b| Ok(b.build()?))
        .map_err(|e| bad_config(format!("no HTTP client: {e}")))?;
    let oauth = BasicClient::new(ClientId::new(request.client_id.to_owned()))
        .set_client_secret(ClientSecret::new(request.client_secret.to_owned()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::from_url(url));
    let mut exchange = oauth.exchange_client_credentials();
    if let Some(scope) = request.scope {
        for s in scope.split_whitespace() {
            exchange = exchange.add_scope(Scope::new(s.to_owned()));
        }
    }
    let response = exchange
        .request_async(&http(client))
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => Failure::new(
                Code::AuthFailed,
                format!("the token endpoint refused the client: {}", r.error()),
                "Check the client id and secret (and the scope) the service issued.",
            ),
            RequestTokenError::Request(HttpErr(f)) => f,
            RequestTokenError::Parse(_, body) => unexpected(format!(
                "the token endpoint's answer is not a token: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
            RequestTokenError::Other(e) => unexpected(format!("the token endpoint answered: {e}")),
        })?;
    let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
    Ok((response.access_token().secret().clone(), lifetime))
}
