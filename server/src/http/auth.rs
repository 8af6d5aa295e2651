//! Authentication, once per HTTP request and before any handler runs: the presented secret
//! (`Authorization: Bearer …` or `X-Api-Key`) becomes the request's `Principal`, whatever kind
//! of credential it was (`access::credentials`). Every route that acts for a caller takes a
//! `Caller` argument, so GraphQL, and next the OAuth, intake and metrics routes, share this
//! code and its answers.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};

use super::AppState;
use super::error_answer;
use crate::access::credentials::authenticate;
use crate::access::protection::Refusal;
use crate::access::rate_limit::Verdict;
use crate::access::{Access, Principal};
use crate::domain::environment::Environment;
use crate::error::AppError;

/// Who sent the request, and from where.
pub struct Caller {
    pub principal: Principal,
    /// The client's address: the direct peer, or what a configured trusted proxy in front of
    /// it says (`client_ip`); never a header an untrusted peer wrote, since the allowed
    /// addresses and the audit trail go by it.
    pub ip: Option<IpAddr>,
}

/// The client's address of a request (see `Caller::ip`).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    Some(match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.services.protection.client_ip(
            peer,
            header("forwarded"),
            header("x-forwarded-for"),
        ),
        None => peer,
    })
}

/// Why a request was not let in: answered before the handler runs, in the same shape as
/// GraphQL's errors.
#[derive(Debug)]
pub struct Refused {
    status: StatusCode,
    body: serde_json::Value,
    retry_after: Option<u64>,
    rate: Option<Verdict>,
}

impl Refused {
    fn new(err: AppError) -> Self {
        let retry_after = match &err {
            AppError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let (status, body) = error_answer(err);
        Refused {
            status,
            body,
            retry_after,
            rate: None,
        }
    }

    fn refusal(refusal: Refusal) -> Self {
        Refused {
            rate: refusal.verdict,
            ..Refused::new(refusal.error)
        }
    }
}

/// The `RateLimit-*` headers of a request's rate (the IETF draft's three fields): on every
/// answer of a counted request, so a client can pace itself before it is refused.
pub fn rate_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(verdict.limit)),
        ("ratelimit-remaining", u64::from(verdict.remaining)),
        ("ratelimit-reset", verdict.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request refused ({})", self.status)
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            answer.insert_header((RETRY_AFTER, seconds.to_string()));
        }
        let mut answer = answer.json(&self.body);
        if let Some(verdict) = &self.rate {
            rate_headers(answer.headers_mut(), verdict);
        }
        answer
    }
}

impl FromRequest for Caller {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = client_ip(req);
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(Refused::new(AppError::Internal(anyhow::anyhow!(
                    "the application state is not registered"
                ))));
            };
            let services = &state.services;
            let protection = &services.protection;
            let principal = match credential(req.headers()) {
                Ok(None) => Principal::anonymous(),
                Ok(Some(token)) => match authenticate(services, token).await {
                    Ok(principal) => principal,
                    Err(err) => return Err(not_authenticated(&state, ip, err).await),
                },
                Err(message) => {
                    let err = AppError::Unauthenticated(message);
                    return Err(not_authenticated(&state, ip, err).await);
                }
            };
            let principal = match chosen_environment(req.headers()) {
                Ok(None) => principal,
                Ok(Some(env)) => principal.in_environment(env).map_err(Refused::new)?,
                Err(err) => return Err(Refused::new(err)),
            };
            match protection.admit(&services.store, &principal, ip).await {
                Ok(verdict) => {
                    if let Some(verdict) = verdict {
                        req.extensions_mut().insert(verdict);
                    }
                    Ok(Caller { principal, ip })
                }
                Err(refusal) => {
                    if matches!(refusal.error, AppError::IpNotAllowed) {
                        address_refused(&state, &req, principal, ip).await;
                    }
                    Err(counted(&state, refusal))
                }
            }
        })
    }
}

/// Counts a request that authenticates some other way (OAuth client credentials, a sign-in
/// form) against its address's rate; a refusal is answered as is.
pub async fn admit_anonymous(req: &HttpRequest, state: &AppState) -> Result<(), HttpResponse> {
    let services = &state.services;
    match services
        .protection
        .admit_address(&services.store, client_ip(req))
        .await
    {
        Ok(verdict) => {
            if let Some(verdict) = verdict {
                req.extensions_mut().insert(verdict);
            }
            Ok(())
        }
        Err(refusal) => Err(counted(state, refusal).error_response()),
    }
}

/// A request whose credential was refused counts against its address's rate: past it, the
/// answer is `RATE_LIMITED` whatever the credential, so guessing keys is slowed down.
async fn not_authenticated(state: &AppState, ip: Option<IpAddr>, err: AppError) -> Refused {
    let services = &state.services;
    if !matches!(err, AppError::Unauthenticated(_)) {
        return Refused::new(err);
    }
    match services.protection.admit_address(&services.store, ip).await {
        Ok(verdict) => Refused {
            rate: verdict,
            ..Refused::new(err)
        },
        Err(refusal) => counted(state, refusal),
    }
}

/// A refusal of the request's rate or address, counted for `/metrics`.
fn counted(state: &AppState, refusal: Refusal) -> Refused {
    let why = match refusal.error {
        AppError::IpNotAllowed => Some(crate::metrics::Refusal::IpNotAllowed),
        AppError::RateLimited { .. } => Some(crate::metrics::Refusal::RateLimited),
        _ => None,
    };
    if let Some(why) = why {
        state.metrics.refused(why);
    }
    Refused::refusal(refusal)
}

/// A credential used from an address it may not be used from: logged, and recorded in the
/// audit trail as a refusal (within the per-credential budget of security events).
async fn address_refused(
    state: &AppState,
    req: &HttpRequest,
    principal: Principal,
    ip: Option<IpAddr>,
) {
    let address = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    tracing::warn!(
        credential = principal.label(),
        credential_id = ?principal.id(),
        ip = %address,
        path = req.path(),
        "request refused: the credential may not be used from this address"
    );
    let access = Access::new(principal, state.services.clone(), Some(address));
    access.denied(
        "request",
        Vec::<uuid::Uuid>::new(),
        vec!["IP_NOT_ALLOWED".to_owned()],
    );
    // The refusal is answered whether or not its record could be stored (the writer logs
    // a failure): it discloses nothing.
    let _ = access
        .finish(&format!("{} {}", req.method(), req.path()), None)
        .await;
}

/// The environment the caller asks to work in (`X-Environment`: the portal's switch).
fn chosen_environment(headers: &HeaderMap) -> Result<Option<Environment>, AppError> {
    let Some(value) = headers.get(ENVIRONMENT_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| AppError::invalid(ENVIRONMENT_HEADER, "SANDBOX or PRODUCTION"))
}

/// The header that holds a request to one environment (`chosen_environment`).
const ENVIRONMENT_HEADER: &str = "X-Environment";

/// The presented secret: `Authorization: Bearer …` or `X-Api-Key`.
fn credential(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| "malformed Authorization header")?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or("the Authorization header must be `Bearer <token>`")?;
        return Ok(Some(token.trim()));
    }
    if let Some(value) = headers.get("x-api-key") {
        return Ok(Some(
            value
                .to_str()
                .map_err(|_| "malformed X-Api-Key header")?
                .trim(),
        ));
    }
    Ok(None)
}
