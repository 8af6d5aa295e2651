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

pub fn token() -> Option<String> {
    load().map(|s| s.token)
}
