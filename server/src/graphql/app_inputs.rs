//! The connection directory's inputs, converted at the edge into checked forms.

use async_graphql::{ID, InputObject};

use super::inputs::{GrantParts, key_name};
use crate::access::directory::{AppForm, ConnectionFilter};
use crate::domain::environment::Environment;
use crate::domain::partner_app::{AppCategory, ClientType, ConnectionKind, ConnectionStatus};
use crate::domain::validate::bounded_text;
use crate::error::AppError;

const DESCRIPTION_MAX: usize = 1000;
const URL_MAX: usize = 2000;

/// What is registered for a partner app.
#[derive(InputObject)]
pub struct PartnerAppInput {
    /// The name users see on the consent page, 1 to 100 characters.
    pub name: String,
    /// What the app does for the clinic.
    pub category: AppCategory,
    /// What the app does, for the consent page (up to 1000 characters).
    #[graphql(default)]
    pub description: String,
    /// The vendor's site (https).
    pub homepage: Option<String>,
    /// Where the app may be sent back after authorization (exact match; https, or a loopback
    /// address for sandbox and public apps).
    #[graphql(default)]
    pub redirect_uris: Vec<String>,
    /// The most the app can ever be granted: scope names, as API keys'.
    pub scopes: Vec<String>,
    /// Limit the app to these clients; omit for all clients of its environment.
    pub client_ids: Option<Vec<ID>>,
    /// Limit the app to these locations; omit for all locations.
    pub location_ids: Option<Vec<ID>>,
}

impl PartnerAppInput {
    pub fn parse(self) -> Result<AppForm, AppError> {
        let grant = GrantParts::parse(&self.scopes, self.client_ids, self.location_ids)?;
        let description = if self.description.trim().is_empty() {
            String::new()
        } else {
            bounded_text("input.description", &self.description, DESCRIPTION_MAX)?
        };
        let homepage = match self.homepage.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let ok = raw.len() <= URL_MAX
                    && url::Url::parse(raw).is_ok_and(|u| u.scheme() == "https");
                if !ok {
                    return Err(AppError::invalid("input.homepage", "must be an https URL"));
                }
                Some(raw.to_owned())
            }
        };
        Ok(AppForm {
            name: key_name("input.name", &self.name)?,
            category: self.category,
            description,
            homepage,
            redirect_uris: self.redirect_uris,
            scopes: grant.scopes,
            client_ids: grant.client_ids,
            location_ids: grant.location_ids,
        })
    }
}

/// A new partner app: what is registered, and what cannot change later.
#[derive(InputObject)]
pub struct RegisterPartnerAppInput {
    /// What is registered (it can be changed later).
    pub app: PartnerAppInput,
    /// The environment whose data the app reaches; it cannot change.
    pub environment: Environment,
    /// `CONFIDENTIAL` (a server, gets a secret) or `PUBLIC` (a browser or mobile app, PKCE
    /// only); it cannot change.
    pub client_type: ClientType,
}

/// Narrows the connection directory.
#[derive(InputObject, Default)]
pub struct ConnectionFilterInput {
    /// Only partner apps, or only API keys.
    pub kind: Option<ConnectionKind>,
    /// Only partner apps of this category.
    pub category: Option<AppCategory>,
    /// Only connections to this environment's data.
    pub environment: Option<Environment>,
    /// Only connections in this state.
    pub status: Option<ConnectionStatus>,
}

impl From<ConnectionFilterInput> for ConnectionFilter {
    fn from(f: ConnectionFilterInput) -> Self {
        ConnectionFilter {
            kind: f.kind,
            category: f.category,
            environment: f.environment,
            status: f.status,
        }
    }
}
