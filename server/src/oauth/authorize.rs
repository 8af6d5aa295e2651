//! The authorization endpoint (RFC 6749 §4.1 with PKCE): checking an authorization request,
//! the consent form's signed token, and turning an approval into a code.
//!
//! The consent form carries everything the approval needs in a token signed by this server
//! (client, redirect URI, scopes, state, PKCE challenge, and the signed-in user's session), so
//! nothing is taken from the form but the user's choices; the session must also come with the
//! request's own cookie, so a form posted from another site is refused.

use chrono::Utc;
use entity::partner_app;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::OAuth;
use crate::access::{Access, Actor};
use crate::domain::api_key::hash_secret;
use crate::domain::oauth::{
    CodeChallenge, OAuthError, OAuthErrorCode, new_authorization_code, parse_scope, scope_text,
};
use crate::domain::partner_app::{AppStatus, GrantKind};
use crate::domain::scope::ScopeSet;
use crate::error::AppResult;
use crate::store::oauth::{self as grants, NewGrant};
use crate::store::{Effects, Store, partner_apps};

const CONSENT_TYPE: &str = "consent+jwt";

/// The authorization request's parameters, as sent.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Why a request was refused, and where the refusal goes (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub enum Refusal {
    /// The client or its redirect URI cannot be trusted: the user is told, and nothing is
    /// sent anywhere.
    Show(String),
    /// Sent back to the client's (verified) redirect URI.
    Redirect(String),
}

/// A checked authorization request.
#[derive(Clone, Debug)]
pub struct Valid {
    pub app: partner_app::Model,
    /// Where the answer goes: the given redirect URI, or the app's only one.
    pub redirect_uri: String,
    /// The redirect URI as given (the token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_given: Option<String>,
    pub scopes: ScopeSet,
    pub state: Option<String>,
    pub challenge: CodeChallenge,
}

/// The redirect URI with the answer's parameters added (and `iss`, RFC 9207).
pub fn redirect_with(
    oauth: &OAuth,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        // Registered URIs are parsed at registration; this cannot be reached with one.
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &oauth.issuer);
    }
    url.into()
}

fn error_redirect(
    oauth: &OAuth,
    redirect_uri: &str,
    error: OAuthError,
    state: Option<&str>,
) -> Refusal {
    Refusal::Redirect(redirect_with(
        oauth,
        redirect_uri,
        &[
            ("error", error.code.as_str()),
            ("error_description", &error.description),
        ],
        state,
    ))
}

pub fn registered_uris(app: &partner_app::Model) -> Vec<String> {
    serde_json::from_str(&app.redirect_uris).unwrap_or_default()
}

/// Checks an authorization request. The client and redirect URI first: until both are known
/// good, nothing is redirected anywhere.
pub async fn check(
    oauth: &OAuth,
    store: &Store,
    params: &AuthorizeParams,
) -> AppResult<Result<Valid, Refusal>> {
    let Some(client_id) = params.client_id.as_deref() else {
        return Ok(Err(Refusal::Show(
            "The request names no application (client_id is missing).".into(),
        )));
    };
    let Some(app) = partner_apps::find_by_client_id(store.conn(), client_id).await? else {
        return Ok(Err(Refusal::Show(
            "No application is registered under this client_id.".into(),
        )));
    };
    let registered = registered_uris(&app);
    let redirect_uri = match &params.redirect_uri {
        Some(given) if registered.iter().any(|r| r == given) => given.clone(),
        Some(_) => {
            return Ok(Err(Refusal::Show(
                "The redirect_uri is not one this application registered.".into(),
            )));
        }
        None if registered.len() == 1 => registered[0].clone(),
        None => {
            return Ok(Err(Refusal::Show(
                "The request has no redirect_uri, and the application registered several.".into(),
            )));
        }
    };
    let state = params.state.as_deref();
    let refuse = |e: OAuthError| Ok(Err(error_redirect(oauth, &redirect_uri, e, state)));
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return refuse(OAuthError::invalid_request("response_type is required")),
        Some(_) => {
            return refuse(OAuthError::new(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    match app.status.parse::<AppStatus>() {
        Ok(AppStatus::Active) => {}
        _ => {
            return refuse(OAuthError::unauthorized_client(
                "this application is suspended or revoked",
            ));
        }
    }
    let challenge = match CodeChallenge::parse(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let ceiling = ScopeSet::from_stored(&app.scopes);
    let scopes = match params.scope.as_deref().map(parse_scope) {
        None => ceiling.clone(),
        Some(Err(e)) => return refuse(OAuthError::invalid_scope(e.to_string())),
        Some(Ok(asked)) if asked.is_empty() => ceiling.clone(),
        Some(Ok(asked)) if !asked.is_subset(&ceiling) => {
            return refuse(OAuthError::invalid_scope(
                "the request asks for more than this application may ever have",
            ));
        }
        Some(Ok(asked)) => asked,
    };
    if scopes.is_empty() {
        return refuse(OAuthError::invalid_scope(
            "this application may have no scope",
        ));
    }
    Ok(Ok(Valid {
        app,
        redirect_uri,
        redirect_given: params.redirect_uri.clone(),
        scopes,
        state: params.state.clone(),
        challenge,
    }))
}

/// What the consent form carries, signed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Consent {
    iss: String,
    aud: String,
    /// The signed-in user's session.
    sub: String,
    exp: i64,
    iat: i64,
    client_id: String,
    redirect_uri: String,
    redirect_given: Option<String>,
    scope: String,
    state: Option<String>,
    code_challenge: String,
}

impl Consent {
    pub fn session_id(&self) -> Option<Uuid> {
        self.sub.parse().ok()
    }
}

fn consent_audience(oauth: &OAuth) -> String {
    oauth.endpoint("/oauth/authorize")
}

/// The signed token of a consent form for `request`, shown to the user of `session_id`.
pub async fn consent_token(oauth: &OAuth, request: &Valid, session_id: Uuid) -> AppResult<String> {
    let now = Utc::now();
    let consent = Consent {
        iss: oauth.issuer.clone(),
        aud: consent_audience(oauth),
        sub: session_id.to_string(),
        exp: (now + oauth.consent_ttl).timestamp(),
        iat: now.timestamp(),
        client_id: request.app.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_given: request.redirect_given.clone(),
        scope: scope_text(&request.scopes),
        state: request.state.clone(),
        code_challenge: request.challenge.as_str().to_owned(),
    };
    oauth.keys.sign(CONSENT_TYPE, &consent).await
}

/// A consent form's token, if this server signed it and it has not expired.
pub async fn read_consent(oauth: &OAuth, token: &str) -> AppResult<Option<Consent>> {
    Ok(oauth
        .keys
        .verify::<Consent>(token, CONSENT_TYPE, &oauth.issuer, &consent_audience(oauth))
        .await?
        .ok())
}

/// The user's answer to a consent form: where the browser goes next (the client's redirect
/// URI, with a code or `access_denied`), or a refusal to show.
pub async fn decide(
    oauth: &OAuth,
    access: &Access,
    consent: Consent,
    approved: Option<ScopeSet>,
) -> AppResult<Result<String, Refusal>> {
    let state = consent.state.as_deref();
    let denied = |why: &str| {
        error_redirect(
            oauth,
            &consent.redirect_uri,
            OAuthError::access_denied(why),
            state,
        )
    };
    let Actor::Admin { id: user_id, .. } = access.principal().actor else {
        return Ok(Err(Refusal::Show(
            "Sign in with a portal account to authorize an application.".into(),
        )));
    };
    let Some(approved) = approved else {
        return Ok(Err(denied("the user denied the request")));
    };
    let store = access.store();
    let Some(app) = partner_apps::find_by_client_id(store.conn(), &consent.client_id).await? else {
        return Ok(Err(Refusal::Show(
            "This application no longer exists.".into(),
        )));
    };
    if app.status != AppStatus::Active.as_str() {
        return Ok(Err(error_redirect(
            oauth,
            &consent.redirect_uri,
            OAuthError::unauthorized_client("this application is suspended or revoked"),
            state,
        )));
    }
    // What the app may ever have (now: its ceiling may have been lowered while the form was
    // open), what was asked, what the user approved, and what the user may do.
    let asked = parse_scope(&consent.scope).unwrap_or_default();
    let scopes = approved
        .intersection(&asked)
        .intersection(&ScopeSet::from_stored(&app.scopes))
        .intersection(&access.principal().grant.scopes);
    if scopes.is_empty() {
        return Ok(Err(denied("the user approved no scope")));
    }
    let code = new_authorization_code();
    let txn = store.begin_write().await?;
    let grant = grants::insert_grant(
        &txn.txn,
        NewGrant {
            app_id: app.id,
            kind: GrantKind::AuthorizationCode.as_str().into(),
            user_id: Some(user_id),
            secret_id: None,
            scopes: scopes.names(),
        },
    )
    .await?;
    grants::insert_code(
        &txn.txn,
        hash_secret(&code.secret),
        grant.id,
        consent.redirect_given.clone(),
        consent.code_challenge.clone(),
        Utc::now() + oauth.code_ttl,
    )
    .await?;
    let event = access.event(
        "GRANT",
        "authorizePartnerApp",
        "oauth_grant",
        vec![grant.id, app.id],
        scopes.names(),
    );
    txn.commit(Effects::audited(event)).await?;
    Ok(Ok(redirect_with(
        oauth,
        &consent.redirect_uri,
        &[("code", &code.secret)],
        state,
    )))
}
