//! Switchboard's admin portal: client-side rendered Leptos over the public GraphQL API.

mod api;
mod pages;
/// Every GraphQL operation the portal sends, typed from the schema.
mod queries;
mod scopes;
mod session;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use pages::{ApiConsole, Audit, Home, KeyDetail, Login, NotFound, Settings, Shell};
use session::Session;

/// The signed-in session, shared by every screen.
pub type SessionSignal = RwSignal<Option<Session>>;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let session: SessionSignal = RwSignal::new(session::load());
    provide_context(session);
    view! {
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=Login/>
                <Route path=path!("/") view=|| view! { <Shell><Home/></Shell> }/>
                <Route path=path!("/settings/api-console") view=|| view! { <Shell settings=true><ApiConsole/></Shell> }/>
                <Route path=path!("/settings/api-console/keys/:id") view=|| view! { <Shell settings=true><KeyDetail/></Shell> }/>
                <Route path=path!("/settings/audit") view=|| view! { <Shell settings=true><Audit/></Shell> }/>
                <Route path=path!("/settings/general") view=|| view! { <Shell settings=true><Settings/></Shell> }/>
            </Routes>
        </Router>
    }
}
