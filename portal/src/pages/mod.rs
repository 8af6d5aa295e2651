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

use graphql_client::GraphQLQuery;
use leptos::prelude::*;

use crate::api::{ApiError, run};
use crate::session;

/// Sends operation `Q` and hands its data to `done`. Errors are shown in `set_message`; an
/// expired session returns to the login screen. `busy`, when given, is set for the duration,
/// so a button can show progress and not be pressed twice.
pub fn send<Q: GraphQLQuery + 'static>(
    variables: Q::Variables,
    set_message: WriteSignal<Option<String>>,
    busy: Option<WriteSignal<bool>>,
    done: impl FnOnce(Q::ResponseData) + 'static,
) {
    if let Some(b) = busy {
        b.set(true);
    }
    leptos::task::spawn_local(async move {
        let result = run::<Q>(variables).await;
        if let Some(b) = busy {
            b.set(false);
        }
        match result {
            Ok(data) => done(data),
            Err(e) => handle_error(e, set_message),
        }
    });
}

/// What roles without integration settings see in their place.
#[component]
pub fn NoSettings() -> impl IntoView {
    view! {
        <p id="no-settings" class="notice">
            "Integration settings are available to System Administrators and Technical Leads."
        </p>
    }
}

/// An API timestamp (`2026-11-21T14:03:07.123Z`) as `2026-11-21 14:03` (or with seconds),
/// UTC; a dash when there is none.
pub fn utc(raw: Option<&str>, with_seconds: bool) -> String {
    let len = if with_seconds { 19 } else { 16 };
    raw.map(|s| s.get(..len).unwrap_or(s).replace('T', " "))
        .unwrap_or_else(|| "—".into())
}

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
