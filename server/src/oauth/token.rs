//! The token endpoint (RFC 6749 §3.2): authorization codes with PKCE, rotating refresh tokens
//! and client credentials.

use chrono::Utc;
use entity::{oauth_grant, partner_app};
use serde::Serialize;
use uuid::Uuid;

use super::clients::{self, Client, Presented};
use super::{ACCESS_TOKEN_TYPE, AccessClaims, Failure, OAuth, Outcome, app_event, subject};
use crate::domain::api_key::hash_secret;
use crate::domain::oauth::{
    CodeChallenge, OAuthError, OAuthErrorCode, new_refresh_token, parse_scope, scope_text,
};
use crate::domain::partner_app::GrantKind;
use crate::domain::scope::ScopeSet;
use crate::store::audit::NewAuditEvent;
use crate::store::oauth::{self as grants, NewGrant};
use crate::store::{Effects, Store};

/// A token request's parameters (form fields), as sent. `Debug` shows which were sent, never
/// a secret's value.
#[derive(Clone, Default, serde::Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for TokenParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sent = |v: &Option<String>| v.as_ref().map(|_| "<sent>");
        f.debug_struct("TokenParams")
            .field("grant_type", &self.grant_type)
            .field("code", &sent(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &sent(&self.code_verifier))
            .field("refresh_token", &sent(&self.refresh_token))
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("client_secret", &sent(&self.client_secret))
            .finish()
    }
}

/// A successful answer (RFC 6749 §5.1). No `Debug`: it holds the tokens.
#[derive(Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

pub async fn exchange(
    oauth: &OAuth,
    store: &Store,
    params: TokenParams,
    presented: Presented,
    ip: Option<String>,
) -> Outcome<TokenAnswer> {
    let client = clients::authenticate(store, &presented).await?;
    let ctx = Exchange {
        oauth,
        store,
        client,
        ip,
    };
    match params.grant_type.as_deref() {
        Some("authorization_code") => ctx.authorization_code(params).await,
        Some("refresh_token") => ctx.refresh(params).await,
        Some("client_credentials") => ctx.client_credentials(params).await,
        Some(_) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            "supported: authorization_code, refresh_token, client_credentials",
        )
        .into()),
        None => Err(OAuthError::invalid_request("grant_type is required").into()),
    }
}

struct Exchange<'a> {
    oauth: &'a OAuth,
    store: &'a Store,
    client: Client,
    ip: Option<String>,
}

/// A requested `scope`, which must be within `allowed`; none asked is all of `allowed`.
fn requested_scope(raw: Option<&str>, allowed: &ScopeSet) -> Outcome<ScopeSet> {
    let Some(raw) = raw else {
        return Ok(allowed.clone());
    };
    let asked = parse_scope(raw)
        .map_err(|e| OAuthError::invalid_scope(format!("{e}; see scopes_supported")))?;
    if asked.is_empty() {
        return Ok(allowed.clone());
    }
    if !asked.is_subset(allowed) {
        let beyond: Vec<String> = asked
            .iter()
            .filter(|s| !allowed.contains(*s))
            .map(|s| s.as_str().to_owned())
            .collect();
        return Err(OAuthError::invalid_scope(format!(
            "beyond what this client may have: {}",
            beyond.join(" ")
        ))
        .into());
    }
    Ok(asked)
}

fn invalid_grant(why: &str) -> Failure {
    OAuthError::invalid_grant(why).into()
}

impl Exchange<'_> {
    fn app(&self) -> &partner_app::Model {
        &self.client.app
    }

    /// A grant this client may use: its own and unrevoked.
    fn own_grant(&self, grant: Option<oauth_grant::Model>) -> Outcome<oauth_grant::Model> {
        match grant {
            Some(g) if g.app_id == self.app().id && g.revoked_at.is_none() => Ok(g),
            _ => Err(invalid_grant(
                "the grant was revoked or belongs to another client",
            )),
        }
    }

    fn event(&self, grant: &oauth_grant::Model, action: &str, operation: &str) -> NewAuditEvent {
        app_event(self.app(), grant, action, operation, self.ip.clone())
    }

    /// Revokes a grant whose code or refresh token was presented a second time (RFC 6749
    /// §4.1.2, RFC 9700 §4.14.2): one of the two presenters is an attacker, and which is not
    /// known, so every token of the grant ends.
    async fn replayed(&self, grant: &oauth_grant::Model, what: &str) -> Failure {
        let result = async {
            let txn = self.store.begin_write().await?;
            grants::revoke_grants(&txn.txn, &[grant.id], Utc::now()).await?;
            let event = self.event(grant, "REVOKE", what);
            txn.commit(Effects::audited(event)).await
        }
        .await;
        if let Err(e) = result {
            return Failure::App(e);
        }
        invalid_grant("this was already used; every token of its grant is now revoked")
    }

    async fn authorization_code(&self, params: TokenParams) -> Outcome<TokenAnswer> {
        self.client.require_active()?;
        let code = params
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let db = self.store.conn();
        let Some(stored) = grants::find_code(db, &hash_secret(code)).await? else {
            return Err(invalid_grant("unknown authorization code"));
        };
        let grant = grants::find_grant(db, stored.grant_id).await?;
        if grant.as_ref().is_none_or(|g| g.app_id != self.app().id) {
            return Err(invalid_grant("the code was issued to another client"));
        }
        let grant = self.own_grant(grant)?;
        if stored.used_at.is_some() {
            return Err(self.replayed(&grant, "authorizationCodeReplay").await);
        }
        if stored.expires_at <= Utc::now() {
            return Err(invalid_grant("the authorization code has expired"));
        }
        if stored.redirect_uri.is_some() && stored.redirect_uri != params.redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let verifier = params
            .code_verifier
            .as_deref()
            .ok_or_else(|| invalid_grant("code_verifier is required (PKCE)"))?;
        if !CodeChallenge::from_stored(stored.code_challenge.clone()).verifies(verifier) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let txn = self.store.begin_write().await?;
        if !grants::use_code(&txn.txn, stored.id, Utc::now()).await? {
            drop(txn);
            return Err(self.replayed(&grant, "authorizationCodeReplay").await);
        }
        let refresh = self.new_refresh_token(&txn.txn, grant.id).await?;
        txn.commit(Effects::none()).await?;
        let scopes = ScopeSet::from_stored(&grant.scopes);
        self.answer(&grant, &scopes, Some(refresh)).await
    }

    async fn refresh(&self, params: TokenParams) -> Outcome<TokenAnswer> {
        self.client.require_active()?;
        let token = params
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let db = self.store.conn();
        let Some(stored) = grants::find_refresh_token(db, &hash_secret(token)).await? else {
            return Err(invalid_grant("unknown refresh token"));
        };
        let grant = self.own_grant(grants::find_grant(db, stored.grant_id).await?)?;
        if stored.used_at.is_some() {
            return Err(self.replayed(&grant, "refreshTokenReplay").await);
        }
        if stored.expires_at <= Utc::now() {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let granted = ScopeSet::from_stored(&grant.scopes);
        let scopes = requested_scope(params.scope.as_deref(), &granted)?;
        let txn = self.store.begin_write().await?;
        if !grants::use_refresh_token(&txn.txn, stored.id, Utc::now()).await? {
            drop(txn);
            return Err(self.replayed(&grant, "refreshTokenReplay").await);
        }
        let next = self.new_refresh_token(&txn.txn, grant.id).await?;
        txn.commit(Effects::none()).await?;
        self.answer(&grant, &scopes, Some(next)).await
    }

    async fn client_credentials(&self, params: TokenParams) -> Outcome<TokenAnswer> {
        let Some(secret_id) = self.client.secret_id else {
            return Err(OAuthError::unauthorized_client(
                "a public client cannot use client_credentials",
            )
            .into());
        };
        self.client.require_active()?;
        let ceiling = ScopeSet::from_stored(&self.app().scopes);
        let scopes = requested_scope(params.scope.as_deref(), &ceiling)?;
        let db = self.store.conn();
        let grant = match grants::client_credentials_grant(db, self.app().id, secret_id).await? {
            Some(grant) => grant,
            None => {
                let txn = self.store.begin_write().await?;
                let grant = grants::insert_grant(
                    &txn.txn,
                    NewGrant {
                        app_id: self.app().id,
                        kind: GrantKind::ClientCredentials.as_str().into(),
                        user_id: None,
                        secret_id: Some(secret_id),
                        scopes: ceiling.names(),
                    },
                )
                .await?;
                let event = self.event(&grant, "GRANT", "clientCredentials");
                txn.commit(Effects::audited(event)).await?;
                grant
            }
        };
        self.answer(&grant, &scopes, None).await
    }

    async fn new_refresh_token(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        grant_id: Uuid,
    ) -> Outcome<String> {
        let token = new_refresh_token();
        grants::insert_refresh_token(
            db,
            token.hash,
            grant_id,
            Utc::now() + self.oauth.refresh_ttl,
        )
        .await?;
        Ok(token.secret)
    }

    async fn answer(
        &self,
        grant: &oauth_grant::Model,
        scopes: &ScopeSet,
        refresh_token: Option<String>,
    ) -> Outcome<TokenAnswer> {
        let now = Utc::now();
        let claims = AccessClaims {
            iss: self.oauth.issuer.clone(),
            sub: subject(grant, &self.app().client_id),
            aud: self.oauth.audience(),
            client_id: self.app().client_id.clone(),
            scope: scope_text(scopes),
            jti: Uuid::new_v4().to_string(),
            iat: now.timestamp(),
            exp: (now + self.oauth.access_ttl).timestamp(),
            sb_grant: grant.id,
        };
        let access_token = self.oauth.keys.sign(ACCESS_TOKEN_TYPE, &claims).await?;
        Ok(TokenAnswer {
            access_token,
            token_type: "Bearer",
            expires_in: self.oauth.access_ttl.num_seconds(),
            refresh_token,
            scope: claims.scope,
        })
    }
}
