//! The portal's webhooks: endpoints and each one's delivery log (in the API Console).

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{NotFound, Shell, WebhookDetail, Webhooks};

fn main() {
    portal::start(Area("webhooks"), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/settings/api-console/webhooks") view=|| view! { <Shell settings=true><Webhooks/></Shell> }/>
                    <Route path=path!("/settings/api-console/webhooks/:id") view=|| view! { <Shell settings=true><WebhookDetail/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
