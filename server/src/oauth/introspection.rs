//! Token revocation (RFC 7009) and introspection (RFC 7662). A client learns about and
//! revokes only its own tokens; anything else is "not active" and a revocation that does
//! nothing, so neither endpoint tells one client about another's tokens.

use chrono::Utc;
use entity::{oauth_grant, partner_app};
use serde_json::{Value, json};

use super::clients::{self, Presented};
use super::signing::Expiry;
use super::{ACCESS_TOKEN_TYPE, AccessClaims, OAuth, Outcome, app_event, subject};
use crate::domain::api_key::hash_secret;
use crate::domain::oauth::OAuthError;
use crate::domain::partner_app::AppStatus;
use crate::store::{Effects, Store, oauth as grants};

/// The parameters of a revocation or introspection request. No `Debug`: they hold a token
/// and maybe a client secret.
#[derive(Clone, Default, serde::Deserialize)]
pub struct TokenParam {
    pub token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

enum Found {
    Access(AccessClaims),
    Refresh { exp: i64, iat: i64 },
}

/// The grant a token of this client belongs to, and what the token is.
async fn find(
    oauth: &OAuth,
    store: &Store,
    app: &partner_app::Model,
    token: &str,
    accept_expired: bool,
) -> Outcome<Option<(oauth_grant::Model, Found)>> {
    let db = store.conn();
    if token.starts_with("eyJ") {
        let expiry = if accept_expired {
            Expiry::Ignored
        } else {
            Expiry::Checked
        };
        let claims = oauth
            .keys
            .verify_with::<AccessClaims>(
                token,
                ACCESS_TOKEN_TYPE,
                &oauth.issuer,
                &oauth.audience(),
                expiry,
            )
            .await?;
        let Ok(claims) = claims else {
            return Ok(None);
        };
        let grant = grants::find_grant(db, claims.sb_grant).await?;
        return Ok(grant
            .filter(|g| g.app_id == app.id)
            .map(|g| (g, Found::Access(claims))));
    }
    let Some(stored) = grants::find_refresh_token(db, &hash_secret(token)).await? else {
        return Ok(None);
    };
    let grant = grants::find_grant(db, stored.grant_id).await?;
    let now = Utc::now();
    if !accept_expired && (stored.used_at.is_some() || stored.expires_at <= now) {
        return Ok(None);
    }
    Ok(grant.filter(|g| g.app_id == app.id).map(|g| {
        (
            g,
            Found::Refresh {
                exp: stored.expires_at.timestamp(),
                iat: stored.created_at.timestamp(),
            },
        )
    }))
}

pub async fn introspect(
    oauth: &OAuth,
    store: &Store,
    params: TokenParam,
    presented: Presented,
) -> Outcome<Value> {
    let client = clients::authenticate(store, &presented).await?;
    if client.secret_id.is_none() {
        return Err(OAuthError::invalid_client("introspection needs client authentication").into());
    }
    let token = params
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    if client.status() != AppStatus::Active {
        return Ok(inactive);
    }
    let Some((grant, found)) = find(oauth, store, &client.app, &token, false).await? else {
        return Ok(inactive);
    };
    if grant.revoked_at.is_some() {
        return Ok(inactive);
    }
    let sub = subject(&grant, &client.app.client_id);
    Ok(match found {
        Found::Access(c) => json!({
            "active": true,
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "jti": c.jti,
            "iat": c.iat,
            "exp": c.exp,
            "token_type": "Bearer",
        }),
        Found::Refresh { exp, iat } => json!({
            "active": true,
            "scope": crate::domain::oauth::scope_text(
                &crate::domain::scope::ScopeSet::from_stored(&grant.scopes)
            ),
            "client_id": client.app.client_id,
            "sub": sub,
            "iss": oauth.issuer,
            "iat": iat,
            "exp": exp,
            "token_type": "refresh_token",
        }),
    })
}

/// Revokes the grant the token belongs to: its access and refresh tokens all end (RFC 7009
/// §2.1 lets revoking either end both).
pub async fn revoke(
    oauth: &OAuth,
    store: &Store,
    params: TokenParam,
    presented: Presented,
    ip: Option<String>,
) -> Outcome<()> {
    let client = clients::authenticate(store, &presented).await?;
    let token = params
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let Some((grant, _)) = find(oauth, store, &client.app, &token, true).await? else {
        return Ok(());
    };
    if grant.revoked_at.is_some() {
        return Ok(());
    }
    let txn = store.begin_write().await?;
    grants::revoke_grants(&txn.txn, &[grant.id], Utc::now()).await?;
    let event = app_event(&client.app, &grant, "REVOKE", "oauthRevoke", ip);
    txn.commit(Effects::audited(event)).await?;
    Ok(())
}
