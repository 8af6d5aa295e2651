//! The portal's audit trail: the events, their export and the hash chain's verification. An
//! app of its own so that the first visit (the main app) does not carry it.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{Audit, NotFound, Shell};

fn main() {
    portal::start(Area("audit"), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/settings/audit") view=|| view! { <Shell settings=true><Audit/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
