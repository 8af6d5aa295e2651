//! The signed-in session, kept in localStorage so it survives a reload.

use serde::{Deserialize, Serialize};

const KEY: &str = "switchboard.session";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub email: String,
    pub role: String,
}

impl Session {
    /// Integration settings belong to these roles; the server enforces the same rule.
    pub fn manages_settings(&self) -> bool {
        matches!(
            self.role.as_str(),
            "SYSTEM_ADMINISTRATOR" | "TECHNICAL_LEAD"
        )
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load() -> Option<Session> {
    let raw = storage()?.get_item(KEY).ok()??;
    serde_json::from_str(&raw).ok()
}

pub fn save(session: &Session) {
    if let (Some(s), Ok(raw)) = (storage(), serde_json::to_string(session)) {
        let _ = s.set_item(KEY, &raw);
    }
}

pub fn clear() {
    if let Some(s) = storage() {
        let _ = s.remove_item(KEY);
    }
}

/// Where the environment switch is kept: every area's app reads it, so it survives the page
/// loads between them.
const ENVIRONMENT: &str = "switchboard.environment";

/// The environment the portal works in (`SANDBOX` or `PRODUCTION`); none: both. Sent with
/// every request as `X-Environment`, so the server filters every screen the same way.
pub fn environment() -> Option<String> {
    storage()?
        .get_item(ENVIRONMENT)
        .ok()?
        .filter(|e| e == "SANDBOX" || e == "PRODUCTION")
}

pub fn set_environment(env: &str) {
    if let Some(s) = storage() {
        let _ = if env.is_empty() {
            s.remove_item(ENVIRONMENT)
        } else {
            s.set_item(ENVIRONMENT, env)
        };
    }
}

/// What a new record's environment starts as: the one worked in, or sandbox.
pub fn new_record_environment() -> String {
    environment().unwrap_or_else(|| "SANDBOX".to_owned())
}

pub fn token() -> Option<String> {
    load().map(|s| s.token)
}
