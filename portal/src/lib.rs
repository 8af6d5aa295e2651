//! Switchboard's admin portal: client-side rendered Leptos over the public GraphQL API.
//!
//! It is built as one WebAssembly app per area (`src/main.rs`: sign-in and keys;
//! `src/bin/audit.rs`: the audit trail;
//! `src/bin/connections.rs`: the connection directory and settings; `src/bin/webhooks.rs`: webhook
//! endpoints and their delivery logs; `src/bin/services.rs`: external services, their logs and
//! health), from this one library, so a
//! first visit downloads only the first app and each area only the screens it shows. Links
//! between areas are plain page loads (`pages::NavLink`); the session is in localStorage and
//! survives them.

pub mod api;
pub mod areas;
pub mod pages;
/// Every GraphQL operation the portal sends, typed from the schema.
pub mod queries;
pub mod scopes;
pub mod session;
pub mod webhook_events;

use leptos::prelude::*;

/// The signed-in session, shared by every screen.
pub type SessionSignal = RwSignal<Option<Session>>;
pub use session::Session;

/// Which app a page is part of (an area's name, `areas.rs`): a link to another app's path is
/// a page load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area(pub &'static str);

impl Area {
    /// The app that serves `path` (the server serves the same pages: `http/portal.rs`).
    pub fn of(path: &str) -> Area {
        Area(areas::area_of(path))
    }
}

/// Mounts an app: its session, its area, and its routes.
pub fn start<V: IntoView + 'static>(area: Area, routes: fn() -> V) {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(move || {
        let session: SessionSignal = RwSignal::new(session::load());
        provide_context(session);
        provide_context(area);
        routes()
    });
}
