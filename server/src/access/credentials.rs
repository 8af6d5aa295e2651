//! Turning a presented secret into a principal.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{Duration, Utc};
use uuid::Uuid;

use super::Services;
use super::key_cache::{CachedKey, KeyCache};
use super::principal::{Actor, Grant, Principal};
use crate::domain::api_key::{TokenKind, hash_secret, token_kind};
use crate::domain::environment::Environment;
use crate::domain::network::Limits;
use crate::domain::oauth::parse_scope;
use crate::domain::partner_app::AppStatus;
use crate::domain::role::Role;
use crate::domain::row_scope::RowScope;
use crate::domain::scope::ScopeSet;
use crate::error::{AppError, AppResult, parse_stored};
use crate::oauth::{ACCESS_TOKEN_TYPE, AccessClaims, OAuth};
use crate::store::{self, Store};

const INVALID: &str = "the credential is invalid, expired or revoked";

/// How stale `lastUsedAt` may get before a request writes it again: a write per request
/// would turn every read into a write.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

pub async fn authenticate(services: &Services, token: &str) -> AppResult<Principal> {
    let store = &services.store;
    match token_kind(token) {
        TokenKind::ApiKey => api_key(store, &services.keys, token).await,
        TokenKind::Session => session(store, token).await,
        TokenKind::AccessToken => access_token(store, &services.oauth, token).await,
        TokenKind::Unknown => Err(AppError::Unauthenticated(INVALID)),
    }
}

/// A partner app's access token. Its signature and expiry are checked here, and its grant and
/// app are read on every request (no cache): a revoked grant, a suspended or revoked app, or
/// the end of the secret a backend's grant was given under refuses the very next request on
/// every replica. Its rights are what the token says, within what the grant and the app's
/// ceiling allow now.
async fn access_token(store: &Store, oauth: &OAuth, token: &str) -> AppResult<Principal> {
    let claims = match oauth.verified.get(token, Utc::now().timestamp()) {
        Some(claims) => claims,
        None => {
            let claims = oauth
                .keys
                .verify::<AccessClaims>(token, ACCESS_TOKEN_TYPE, &oauth.issuer, &oauth.audience())
                .await?
                .map_err(|_| AppError::Unauthenticated(INVALID))?;
            oauth.verified.put(token, claims.clone());
            claims
        }
    };
    let state = store::oauth::token_state(store.conn(), claims.sb_grant)
        .await?
        .ok_or(AppError::Unauthenticated(INVALID))?;
    let now = Utc::now();
    // A backend's grant lives as long as the secret it was given under.
    let secret_ended = state.secret_id.is_some()
        && (state.found_secret.is_none() || state.secret_expires_at.is_some_and(|at| at <= now));
    if state.grant_revoked_at.is_some()
        || state.app_status != AppStatus::Active.as_str()
        || state.app_client_id != claims.client_id
        || secret_ended
    {
        return Err(AppError::Unauthenticated(INVALID));
    }
    let asked = parse_scope(&claims.scope).unwrap_or_default();
    let scopes = asked
        .intersection(&ScopeSet::from_stored(&state.grant_scopes))
        .intersection(&ScopeSet::from_stored(&state.app_scopes));
    let limits = Limits::from_columns(
        state.app_allowed_ips.as_deref(),
        state.app_rate_per_minute,
        state.app_rate_burst,
    );
    let rows = RowScope {
        clients: serde_json::from_str(&state.app_client_ids).unwrap_or(Some(vec![])),
        locations: serde_json::from_str(&state.app_location_ids).unwrap_or(Some(vec![])),
        environment: Some(parse_stored::<Environment>(&state.app_environment)?),
        // An app's clients were checked to be of its environment whenever they were set
        // (`access::directory`), and a client's environment never changes.
        clients_in_environment: true,
    };
    if state
        .grant_last_used_at
        .is_none_or(|at| at < now - LAST_USED_RESOLUTION)
    {
        // Best effort, like an API key's: failing to record use must not fail the request.
        let stale = now - LAST_USED_RESOLUTION;
        let db = store.conn();
        if let Err(e) = store::oauth::touch_grant(db, claims.sb_grant, now, stale).await {
            tracing::warn!(error = ?e, "could not record grant use");
        }
        if let Err(e) = store::partner_apps::touch(db, state.app_id, now, stale).await {
            tracing::warn!(error = ?e, "could not record partner app use");
        }
    }
    Ok(Principal {
        actor: Actor::PartnerApp {
            app_id: state.app_id,
            grant_id: claims.sb_grant,
            name: state.app_name,
            on_behalf_of: state.user_id,
        },
        grant: Grant {
            scopes,
            rows,
            allowed_ips: limits.allowed_ips,
            rate_limit: limits.rate,
        },
    })
}

async fn api_key(store: &Store, keys: &KeyCache, token: &str) -> AppResult<Principal> {
    let now = Utc::now();
    let hash = hash_secret(token);
    let entry = match keys.get(&hash) {
        Some(entry) => entry,
        None => {
            // Revoked keys are never cached; a key changed after this read is not cached
            // either (`KeyCache::put`).
            let generation = keys.generation();
            let key = store::api_keys::find_by_hash(store.conn(), &hash)
                .await?
                .ok_or(AppError::Unauthenticated(INVALID))?;
            if key.revoked_at.is_some() {
                return Err(AppError::Unauthenticated(INVALID));
            }
            let mut principal = principal_of(&key)?;
            confine_clients(store, &mut principal.grant.rows).await?;
            let entry = CachedKey::new(principal, key.id, key.expires_at, key.last_used_at);
            keys.put(generation, hash.clone(), entry.clone());
            entry
        }
    };
    if entry.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::Unauthenticated(INVALID));
    }
    if entry
        .last_used_at
        .is_none_or(|at| at < now - LAST_USED_RESOLUTION)
    {
        keys.used(&hash, now);
        // Best effort: failing to record use must not fail the request.
        if let Err(e) =
            store::api_keys::touch(store.conn(), entry.key_id, now, now - LAST_USED_RESOLUTION)
                .await
        {
            tracing::warn!(error = ?e, "could not record api key use");
        }
    }
    Ok(entry.principal)
}

fn principal_of(key: &entity::api_key::Model) -> AppResult<Principal> {
    let scopes = ScopeSet::from_stored(&key.scopes);
    let clients: Option<Vec<Uuid>> = serde_json::from_str(&key.client_ids).unwrap_or(Some(vec![]));
    let locations: Option<Vec<Uuid>> =
        serde_json::from_str(&key.location_ids).unwrap_or(Some(vec![]));
    let environment = parse_stored::<Environment>(&key.environment)?;
    let limits = store::api_keys::limits(key);
    Ok(Principal {
        actor: Actor::ApiKey {
            id: key.id,
            name: key.name.clone(),
        },
        grant: Grant {
            scopes,
            rows: RowScope {
                clients,
                locations,
                environment: Some(environment),
                clients_in_environment: false,
            },
            allowed_ips: limits.allowed_ips,
            rate_limit: limits.rate,
        },
    })
}

/// Keeps of a key's client list only the clients of its environment, and records that they
/// are, so that queries need not check each row's environment (see `RowScope`). Keys are
/// made with clients of their environment only; this holds even for a key that was not.
async fn confine_clients(store: &Store, rows: &mut RowScope) -> AppResult<()> {
    let (Some(clients), Some(env)) = (&rows.clients, rows.environment) else {
        return Ok(());
    };
    let confined = if clients.is_empty() {
        Vec::new()
    } else {
        store::clients::in_environment(store.conn(), clients, env).await?
    };
    rows.clients = Some(confined);
    rows.clients_in_environment = true;
    Ok(())
}

async fn session(store: &Store, token: &str) -> AppResult<Principal> {
    let (session, user) = store::admins::find_session(store.conn(), &hash_secret(token))
        .await?
        .ok_or(AppError::Unauthenticated(INVALID))?;
    if session.revoked_at.is_some() || session.expires_at <= Utc::now() {
        return Err(AppError::Unauthenticated(
            "the session has expired; log in again",
        ));
    }
    let role = parse_stored::<Role>(&user.role)?;
    Ok(Principal {
        actor: Actor::Admin {
            id: user.id,
            email: user.email,
            role,
            session_id: session.id,
        },
        // Portal users work across all clients; what they may change in settings is decided
        // by role, not scope.
        grant: Grant::everything(),
    })
}

/// Hashes a password with argon2id on a blocking thread (it is deliberately slow).
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing password: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
}

/// Verifies a password; with no stored hash it still spends the same work so that response
/// time does not reveal which emails have accounts.
pub async fn verify_password(password: String, stored: Option<String>) -> AppResult<bool> {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        Argon2::default()
            .hash_password(b"switchboard-timing-equaliser")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    tokio::task::spawn_blocking(move || {
        let hash = stored.clone().unwrap_or_else(|| DUMMY.clone());
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        ok && stored.is_some()
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}
