//! The portal's connection directory: "Active Connections" and each partner app's page; and
//! the server-wide settings of who may connect (Settings: the developer portal, allowed
//! addresses and request rates).

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{ActiveConnections, AppDetail, NotFound, Settings, Shell};

fn main() {
    portal::start(Area("connections"), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/settings/connections") view=|| view! { <Shell settings=true><ActiveConnections/></Shell> }/>
                    <Route path=path!("/settings/connections/apps/:id") view=|| view! { <Shell settings=true><AppDetail/></Shell> }/>
                    <Route path=path!("/settings/general") view=|| view! { <Shell settings=true><Settings/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
