//! Who is calling the token, revocation and introspection endpoints: client authentication
//! (RFC 6749 §2.3) by `client_secret_basic` or `client_secret_post`, or a public client
//! naming itself.

use chrono::Utc;
use entity::partner_app;
use uuid::Uuid;

use super::Outcome;
use crate::domain::api_key::hash_secret;
use crate::domain::oauth::OAuthError;
use crate::domain::partner_app::{AppStatus, ClientType};
use crate::store::{Store, partner_apps};

/// The client credentials a request presented. `Debug` never prints the secret.
#[derive(Clone, Default)]
pub struct Presented {
    pub client_id: Option<String>,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An authenticated client.
pub struct Client {
    pub app: partner_app::Model,
    /// The secret it authenticated with: none exactly for a public client.
    pub secret_id: Option<Uuid>,
}

impl Client {
    pub fn status(&self) -> AppStatus {
        self.app.status.parse().unwrap_or(AppStatus::Revoked)
    }

    /// Suspended and revoked apps authenticate (so that they hear why) but get nothing.
    pub fn require_active(&self) -> Outcome<()> {
        match self.status() {
            AppStatus::Active => Ok(()),
            AppStatus::Suspended => {
                Err(OAuthError::unauthorized_client("this application is suspended").into())
            }
            AppStatus::Revoked => {
                Err(OAuthError::unauthorized_client("this application was revoked").into())
            }
        }
    }
}

const UNKNOWN: &str = "unknown client or wrong client secret";

pub async fn authenticate(store: &Store, presented: &Presented) -> Outcome<Client> {
    let client_id = presented
        .client_id
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    let db = store.conn();
    let app = partner_apps::find_by_client_id(db, client_id).await?;
    let Some(secret) = &presented.secret else {
        // Only a public client may come without a secret.
        return match app {
            Some(app) if app.client_type == ClientType::Public.as_str() => Ok(Client {
                app,
                secret_id: None,
            }),
            _ => Err(OAuthError::invalid_client(UNKNOWN).into()),
        };
    };
    let stored = partner_apps::find_secret(db, &hash_secret(secret)).await?;
    let now = Utc::now();
    match (app, stored) {
        (Some(app), Some(stored))
            if stored.app_id == app.id && stored.expires_at.is_none_or(|at| at > now) =>
        {
            Ok(Client {
                app,
                secret_id: Some(stored.id),
            })
        }
        _ => Err(OAuthError::invalid_client(UNKNOWN).into()),
    }
}
