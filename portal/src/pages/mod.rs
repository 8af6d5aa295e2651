mod api_console;
mod app_detail;
mod app_form;
mod audit;
mod audit_integrity;
mod connections;
mod dialog;
mod imports;
mod integration_logs;
mod key_detail;
mod key_form;
mod keys;
mod lab_intake;
mod limits;
mod login;
mod protection;
mod scope_checks;
mod secret;
mod service_detail;
mod service_health;
mod service_polling;
mod services;
mod settings;
mod shell;
mod webhook_detail;
mod webhooks;

pub use api_console::ApiConsole;
pub use app_detail::AppDetail;
pub use audit::Audit;
pub use connections::ActiveConnections;
pub use dialog::{Ask, ConfirmDialog};
pub use imports::Imports;
pub use integration_logs::IntegrationLogs;
pub use key_detail::KeyDetail;
pub use lab_intake::LabIntake;
pub use login::Login;
pub use service_detail::ServiceDetail;
pub use service_health::ServiceHealth;
pub use services::ExternalServices;
pub use settings::Settings;
pub use shell::{Home, Shell};
pub use webhook_detail::WebhookDetail;
pub use webhooks::Webhooks;

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
    send_with::<Q>(variables, busy, done, move |e| handle_error(e, set_message));
}

/// `send`, with the caller's own handling of errors (a form shows a refused field next to
/// the field).
pub fn send_with<Q: GraphQLQuery + 'static>(
    variables: Q::Variables,
    busy: Option<WriteSignal<bool>>,
    done: impl FnOnce(Q::ResponseData) + 'static,
    failed: impl FnOnce(ApiError) + 'static,
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
            Err(e) => failed(e),
        }
    });
}

/// A link that the router follows within this app, and a plain page load when `href` belongs
/// to another of the portal's apps (`crate::Area`).
#[component]
pub fn NavLink(
    #[prop(into)] href: String,
    #[prop(optional)] id: &'static str,
    #[prop(optional)] class: &'static str,
    children: Children,
) -> impl IntoView {
    let here = use_context::<crate::Area>().unwrap_or(crate::Area(crate::areas::MAIN));
    if crate::Area::of(&href) == here {
        view! { <leptos_router::components::A href=href attr:id=id attr:class=class>{children()}</leptos_router::components::A> }
            .into_any()
    } else {
        view! { <a href=href id=id class=class rel="external">{children()}</a> }.into_any()
    }
}

/// Moves the keyboard focus to the element with this id.
pub fn focus(id: &str) {
    use wasm_bindgen::JsCast;
    if let Some(el) = document().get_element_by_id(id)
        && let Ok(el) = el.dyn_into::<web_sys::HtmlElement>()
    {
        let _ = el.focus();
    }
}

/// Names the browser tab after the screen, so that tabs, history and screen readers tell
/// screens apart.
pub fn set_title(screen: &str) {
    document().set_title(&format!("{screen} · Switchboard"));
}

/// A screen's heading: names the tab after it and takes the focus when the screen opens, so
/// that a screen reader announces where a navigation led and the keyboard starts there.
#[component]
pub fn PageHeading(#[prop(into)] title: String) -> impl IntoView {
    set_title(&title);
    let heading = NodeRef::<leptos::html::H1>::new();
    Effect::new(move |_| {
        if let Some(h) = heading.get() {
            let _ = h.focus();
        }
    });
    view! { <h1 id="page-heading" tabindex="-1" node_ref=heading>{title}</h1> }
}

/// What roles without integration settings see in their place.
#[component]
pub fn NoSettings() -> impl IntoView {
    view! {
        <PageHeading title="Integration settings"/>
        <p id="no-settings" class="notice">
            "Integration settings are available to System Administrators and Technical Leads."
        </p>
    }
}

/// An unknown address.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="centered" id="main">
            <div class="card">
                <PageHeading title="Page not found"/>
                <p>"There is no page at this address."</p>
                <a href="/">"Back to Switchboard"</a>
            </div>
        </main>
    }
}

/// An API timestamp (`2026-11-21T14:03:07.123Z`) as `2026-11-21 14:03 UTC` (or with seconds);
/// a dash when there is none.
pub fn utc(raw: Option<&str>, with_seconds: bool) -> String {
    let len = if with_seconds { 19 } else { 16 };
    raw.map(|s| format!("{} UTC", s.get(..len).unwrap_or(s).replace('T', " ")))
        .unwrap_or_else(|| "—".into())
}

/// An environment as the API spells it, in words.
pub fn environment_words(raw: &str) -> &'static str {
    match raw {
        "PRODUCTION" => "Production (live data)",
        "SANDBOX" => "Sandbox (test data)",
        _ => "Unknown environment",
    }
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

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_carry_their_zone() {
        assert_eq!(
            utc(Some("2026-11-21T14:03:07.123Z"), false),
            "2026-11-21 14:03 UTC"
        );
        assert_eq!(
            utc(Some("2026-11-21T14:03:07.123Z"), true),
            "2026-11-21 14:03:07 UTC"
        );
        assert_eq!(utc(None, true), "—");
    }
}
