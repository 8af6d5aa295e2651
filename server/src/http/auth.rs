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
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use super::AppState;
use super::error_answer;
use crate::access::Principal;
use crate::access::credentials::authenticate;
use crate::error::AppError;

/// Who sent the request, and from where.
pub struct Caller {
    pub principal: Principal,
    /// Only the direct peer: forwarded-for headers are client-controlled unless a trusted
    /// proxy is configured, and an audit trail must not record a forged address.
    pub ip: Option<IpAddr>,
}

/// Why a request was not let in: answered before the handler runs, in the same shape as
/// GraphQL's errors.
#[derive(Debug)]
pub struct Refused {
    status: StatusCode,
    body: serde_json::Value,
}

impl Refused {
    fn new(err: AppError) -> Self {
        let (status, body) = error_answer(err);
        Refused { status, body }
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
        HttpResponse::build(self.status).json(&self.body)
    }
}

impl FromRequest for Caller {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req.peer_addr().map(|a| a.ip());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = credential(req.headers()).map(|t| t.map(str::to_owned));
        Box::pin(async move {
            let token =
                token.map_err(|message| Refused::new(AppError::Unauthenticated(message)))?;
            let principal = match (token, state) {
                (None, _) => Principal::anonymous(),
                (Some(token), Some(state)) => authenticate(&state.services, &token)
                    .await
                    .map_err(Refused::new)?,
                (Some(_), None) => {
                    return Err(Refused::new(AppError::Internal(anyhow::anyhow!(
                        "the application state is not registered"
                    ))));
                }
            };
            Ok(Caller { principal, ip })
        })
    }
}

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
