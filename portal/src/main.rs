//! The portal's main app: sign-in and the API Console.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{ApiConsole, Home, KeyDetail, Login, NotFound, Shell};

fn main() {
    portal::start(Area(portal::areas::MAIN), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/login") view=Login/>
                    <Route path=path!("/") view=|| view! { <Shell><Home/></Shell> }/>
                    <Route path=path!("/settings/api-console") view=|| view! { <Shell settings=true><ApiConsole/></Shell> }/>
                    <Route path=path!("/settings/api-console/keys/:id") view=|| view! { <Shell settings=true><KeyDetail/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
