//! The authorization server's HTTP endpoints. The rules are in `crate::oauth`; this parses
//! requests into its types and writes its answers as the RFCs say: JSON with `no-store` from
//! the token, revocation and introspection endpoints, and pages or redirects from the
//! authorization endpoint.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::auth::{admit_anonymous, client_ip};
use super::consent_page;
use crate::access::credentials::authenticate;
use crate::access::{Access, Actor, Principal};
use crate::domain::oauth::{OAuthError, OAuthErrorCode, parse_scope};
use crate::domain::scope::{Scope, ScopeSet};
use crate::error::AppError;
use crate::oauth::authorize::{self, AuthorizeParams, Refusal};
use crate::oauth::clients::Presented;
use crate::oauth::introspection::{self, TokenParam};
use crate::oauth::token::{self, TokenParams};
use crate::oauth::{Failure, OAuth};

/// The cookie holding the portal session a user signed in with on the consent page.
const SESSION_COOKIE: &str = "sb_oauth_session";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(authorize_get))
        .route("/oauth/authorize", web::post().to(authorize_post))
        .route("/oauth/token", web::post().to(token_endpoint))
        .route("/oauth/revoke", web::post().to(revoke_endpoint))
        .route("/oauth/introspect", web::post().to(introspect_endpoint))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(metadata),
        )
        .route("/.well-known/jwks.json", web::get().to(jwks));
}

fn ip(req: &HttpRequest) -> Option<String> {
    client_ip(req).map(|ip| ip.to_string())
}

/// Logs an internal error with a correlation id, which the answer carries.
fn internal(err: AppError) -> String {
    let id = Uuid::now_v7();
    match err {
        AppError::Internal(cause) => {
            tracing::error!(correlation_id = %id, error = ?cause, "internal error in oauth");
        }
        other => {
            tracing::error!(correlation_id = %id, code = other.code(), message = %other.message(), "unexpected error in oauth");
        }
    }
    format!("internal error; correlation id {id}")
}

// ---- token, revocation, introspection ----

fn json_answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// An error answer (RFC 6749 §5.2).
fn failure(f: Failure) -> HttpResponse {
    let error = match f {
        Failure::OAuth(e) => e,
        Failure::App(err) => {
            let description = internal(err);
            return json_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": OAuthErrorCode::ServerError.as_str(), "error_description": description }),
            );
        }
    };
    let body = json!({ "error": error.code.as_str(), "error_description": error.description });
    if error.code == OAuthErrorCode::InvalidClient {
        let mut resp = json_answer(StatusCode::UNAUTHORIZED, body);
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"switchboard\", charset=\"UTF-8\""),
        );
        return resp;
    }
    json_answer(StatusCode::BAD_REQUEST, body)
}

fn form_body<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, Failure> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    // Repeated parameters are refused by the derive ("duplicate field"), as RFC 6749 §3.2
    // requires.
    serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::invalid_request(format!("malformed parameters: {e}")).into())
}

/// A percent-decoded part of a Basic header (RFC 6749 §2.3.1 form-encodes them first).
fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client credentials of a request: a Basic header or the body's, never both.
fn presented(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<Presented, Failure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Presented {
            client_id,
            secret: client_secret,
        });
    };
    let bad = || Failure::from(OAuthError::invalid_client("malformed Basic authorization"));
    let value = value.to_str().map_err(|_| bad())?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(|| {
            OAuthError::invalid_client("only Basic client authentication is accepted")
        })?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (form_decode(id), form_decode(secret));
    if client_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not Basic and client_secret both",
        )
        .into());
    }
    if client_id.as_ref().is_some_and(|given| *given != id) {
        return Err(
            OAuthError::invalid_request("client_id differs from the Basic header's").into(),
        );
    }
    Ok(Presented {
        client_id: Some(id),
        secret: Some(secret),
    })
}

/// The parameters of a client-authenticated request, with the client's credentials taken out
/// of the form (they may come in a Basic header instead).
trait ClientForm: serde::de::DeserializeOwned {
    fn take_client(&mut self) -> (Option<String>, Option<String>);
}

impl ClientForm for TokenParams {
    fn take_client(&mut self) -> (Option<String>, Option<String>) {
        (self.client_id.take(), self.client_secret.take())
    }
}

impl ClientForm for TokenParam {
    fn take_client(&mut self) -> (Option<String>, Option<String>) {
        (self.client_id.take(), self.client_secret.take())
    }
}

/// Parses a client-authenticated form: its parameters and the client's credentials.
fn client_form<P: ClientForm>(req: &HttpRequest, body: &[u8]) -> Result<(P, Presented), Failure> {
    let mut params: P = form_body(req, body)?;
    let (client_id, secret) = params.take_client();
    let presented = presented(req.headers(), client_id, secret)?;
    Ok((params, presented))
}

/// The JSON answer of an outcome: `ok`'s body with 200, or the RFC error.
fn answer<T>(outcome: Result<T, Failure>, ok: impl FnOnce(T) -> serde_json::Value) -> HttpResponse {
    match outcome {
        Ok(value) => json_answer(StatusCode::OK, ok(value)),
        Err(f) => failure(f),
    }
}

async fn token_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(limited) = admit_anonymous(&req, &state).await {
        return limited;
    }
    let outcome = async {
        let (params, client) = client_form::<TokenParams>(&req, &body)?;
        let services = &state.services;
        token::exchange(&services.oauth, &services.store, params, client, ip(&req)).await
    }
    .await;
    answer(outcome, |tokens| json!(tokens))
}

async fn revoke_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(limited) = admit_anonymous(&req, &state).await {
        return limited;
    }
    let outcome = async {
        let (params, client) = client_form::<TokenParam>(&req, &body)?;
        let services = &state.services;
        introspection::revoke(&services.oauth, &services.store, params, client, ip(&req)).await
    }
    .await;
    answer(outcome, |()| json!({}))
}

async fn introspect_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(limited) = admit_anonymous(&req, &state).await {
        return limited;
    }
    let outcome = async {
        let (params, client) = client_form::<TokenParam>(&req, &body)?;
        let services = &state.services;
        introspection::introspect(&services.oauth, &services.store, params, client).await
    }
    .await;
    answer(outcome, |info| info)
}

// ---- discovery ----

async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let oauth: &OAuth = &state.services.oauth;
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .json(json!({
            "issuer": oauth.issuer,
            "authorization_endpoint": oauth.endpoint("/oauth/authorize"),
            "token_endpoint": oauth.endpoint("/oauth/token"),
            "jwks_uri": oauth.endpoint("/.well-known/jwks.json"),
            "revocation_endpoint": oauth.endpoint("/oauth/revoke"),
            "introspection_endpoint": oauth.endpoint("/oauth/introspect"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        }))
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match state.services.oauth.keys.jwks().await {
        Ok(keys) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "max-age=60"))
            .json(keys),
        Err(e) => {
            let description = internal(e);
            HttpResponse::InternalServerError().json(json!({ "error": description }))
        }
    }
}

// ---- the authorization endpoint ----

/// An HTML page, never framed (clickjacking), never cached, and with no script.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

fn refused(refusal: Refusal) -> HttpResponse {
    match refusal {
        Refusal::Show(message) => html(StatusCode::BAD_REQUEST, consent_page::refusal(&message)),
        Refusal::Redirect(to) => redirect(&to),
    }
}

fn server_error_page(err: AppError) -> HttpResponse {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        consent_page::refusal(&internal(err)),
    )
}

fn cookie_value<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The portal user signed in on this browser's consent pages, if any.
async fn signed_in(req: &HttpRequest, state: &AppState) -> Option<Principal> {
    let token = cookie_value(req, SESSION_COOKIE)?;
    let principal = authenticate(&state.services, token).await.ok()?;
    matches!(principal.actor, Actor::Admin { .. }).then_some(principal)
}

fn session_of(principal: &Principal) -> Option<(Uuid, &str)> {
    match &principal.actor {
        Actor::Admin {
            session_id, email, ..
        } => Some((*session_id, email)),
        _ => None,
    }
}

/// The consent form for a checked request, for a signed-in user.
async fn consent_form(
    state: &AppState,
    valid: &authorize::Valid,
    principal: &Principal,
    cookie: Option<String>,
) -> HttpResponse {
    let Some((session_id, email)) = session_of(principal) else {
        return refused(Refusal::Show("Sign in with a portal account.".into()));
    };
    let token = match authorize::consent_token(&state.services.oauth, valid, session_id).await {
        Ok(t) => t,
        Err(e) => return server_error_page(e),
    };
    let mut resp = html(
        StatusCode::OK,
        consent_page::consent(&valid.app, email, &valid.scopes, &token),
    );
    if let Some(cookie) = cookie
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
    resp
}

async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<AuthorizeParams>,
) -> HttpResponse {
    authorization_request(&req, &state, query.into_inner()).await
}

/// An authorization request (by GET, or by POST as RFC 6749 §3.1 allows): checked, then the
/// sign-in page, or the consent page for a user signed in already.
async fn authorization_request(
    req: &HttpRequest,
    state: &AppState,
    params: AuthorizeParams,
) -> HttpResponse {
    let valid = match authorize::check(&state.services.oauth, &state.services.store, &params).await
    {
        Ok(Ok(valid)) => valid,
        Ok(Err(refusal)) => return refused(refusal),
        Err(e) => return server_error_page(e),
    };
    match signed_in(req, state).await {
        Some(principal) => consent_form(state, &valid, &principal, None).await,
        None => html(
            StatusCode::OK,
            consent_page::sign_in(&valid.app, &params, None),
        ),
    }
}

/// The form fields of a POST to the authorization endpoint.
struct Posted {
    pairs: Vec<(String, String)>,
}

impl Posted {
    fn one(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            response_type: self.one("response_type"),
            client_id: self.one("client_id"),
            redirect_uri: self.one("redirect_uri"),
            scope: self.one("scope"),
            state: self.one("state"),
            code_challenge: self.one("code_challenge"),
            code_challenge_method: self.one("code_challenge_method"),
        }
    }

    /// The ticked scopes (unknown names are ignored: they can only have been typed in).
    fn ticked(&self) -> ScopeSet {
        self.pairs
            .iter()
            .filter(|(k, _)| k == "grant")
            .filter_map(|(_, v)| parse_scope(v).ok())
            .flat_map(|set| set.iter().collect::<Vec<_>>())
            .collect()
    }
}

async fn authorize_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let posted = Posted {
        pairs: url::form_urlencoded::parse(&body).into_owned().collect(),
    };
    match posted.one("action").as_deref() {
        Some("sign_in") => sign_in(&req, &state, &posted).await,
        Some("approve") => decide(&req, &state, &posted, true).await,
        Some("deny") => decide(&req, &state, &posted, false).await,
        None => authorization_request(&req, &state, posted.params()).await,
        Some(_) => refused(Refusal::Show("The form was not understood.".into())),
    }
}

async fn sign_in(req: &HttpRequest, state: &AppState, posted: &Posted) -> HttpResponse {
    if let Err(limited) = admit_anonymous(req, state).await {
        return limited;
    }
    let params = posted.params();
    let services = &state.services;
    let valid = match authorize::check(&services.oauth, &services.store, &params).await {
        Ok(Ok(valid)) => valid,
        Ok(Err(refusal)) => return refused(refusal),
        Err(e) => return server_error_page(e),
    };
    let access = Access::new(Principal::anonymous(), services.clone(), ip(req));
    let email = posted.one("email").unwrap_or_default();
    let password = posted.one("password").unwrap_or_default();
    let (token, expires_at, _) = match access.sessions().login(&email, password).await {
        Ok(done) => done,
        Err(AppError::Internal(cause)) => return server_error_page(AppError::Internal(cause)),
        Err(e) => {
            let status = match e {
                AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            return html(
                status,
                consent_page::sign_in(&valid.app, &params, Some(&e.message())),
            );
        }
    };
    let principal = match authenticate(services, &token).await {
        Ok(p) => p,
        Err(e) => return server_error_page(e),
    };
    let secure = if services.oauth.issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = (expires_at - chrono::Utc::now()).num_seconds().max(0);
    // Lax: sent when the partner's site sends the browser here (a top-level GET), never with
    // a form posted from another site.
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    consent_form(state, &valid, &principal, Some(cookie)).await
}

async fn decide(
    req: &HttpRequest,
    state: &AppState,
    posted: &Posted,
    approve: bool,
) -> HttpResponse {
    let oauth = &state.services.oauth;
    let consent = match posted.one("consent") {
        Some(token) => match authorize::read_consent(oauth, &token).await {
            Ok(c) => c,
            Err(e) => return server_error_page(e),
        },
        None => None,
    };
    let Some(consent) = consent else {
        return refused(Refusal::Show(
            "This consent form has expired or was altered. Start again from the application."
                .into(),
        ));
    };
    // The form must come with the session it was shown to: a form posted from another site
    // comes without the cookie, and one shown to another user names their session.
    let principal = signed_in(req, state).await;
    let same = principal
        .as_ref()
        .and_then(session_of)
        .is_some_and(|(session, _)| Some(session) == consent.session_id());
    let Some(principal) = principal.filter(|_| same) else {
        return refused(Refusal::Show(
            "This consent form was not shown to the signed-in user of this browser. Start again from the application."
                .into(),
        ));
    };
    let access = Access::new(principal, state.services.clone(), ip(req));
    let approved = approve.then(|| posted.ticked());
    match authorize::decide(oauth, &access, consent, approved).await {
        Ok(Ok(to)) => redirect(&to),
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => server_error_page(e),
    }
}
