mod api_console;
mod audit;
mod login;
mod settings;
mod shell;

pub use api_console::ApiConsole;
pub use audit::Audit;
pub use login::Login;
pub use settings::Settings;
pub use shell::{Home, Shell};

use leptos::prelude::*;

use crate::api::ApiError;
use crate::session;

/// Shows an API error; an expired session returns to the login screen with a message.
pub fn handle_error(err: ApiError, set_message: WriteSignal<Option<String>>) {
    if err == ApiError::SessionExpired {
        expire_session();
    } else {
        set_message.set(Some(err.text()));
    }
}

/// Leaves for the login screen with the expiry message. A full page load, because this runs
/// in async callbacks where the router's context is not available; the stored session is
/// dropped first so the reloaded portal starts signed out.
pub fn expire_session() {
    session::clear();
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href("/login?expired=1");
    }
}

/// Asks before something that cannot be undone.
pub fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}
