//! The portal's connection directory: "Active Connections" and each partner app's page.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{ActiveConnections, AppDetail, NotFound, Shell};

fn main() {
    portal::start(Area("connections"), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/settings/connections") view=|| view! { <Shell settings=true><ActiveConnections/></Shell> }/>
                    <Route path=path!("/settings/connections/apps/:id") view=|| view! { <Shell settings=true><AppDetail/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
