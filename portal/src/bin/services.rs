//! The portal's external services: connections and Test Connection, the integration logs,
//! and each connection's health.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use portal::Area;
use portal::pages::{
    ExternalServices, Imports, IntegrationLogs, LabIntake, NotFound, ServiceDetail, ServiceHealth,
    Shell,
};

fn main() {
    portal::start(Area("services"), || {
        view! {
            <Router>
                <Routes fallback=NotFound>
                    <Route path=path!("/settings/services") view=|| view! { <Shell settings=true><ExternalServices/></Shell> }/>
                    <Route path=path!("/settings/services/logs") view=|| view! { <Shell settings=true><IntegrationLogs/></Shell> }/>
                    <Route path=path!("/settings/services/health") view=|| view! { <Shell settings=true><ServiceHealth/></Shell> }/>
                    <Route path=path!("/settings/services/imports") view=|| view! { <Shell settings=true><Imports/></Shell> }/>
                    <Route path=path!("/settings/services/lab-intake") view=|| view! { <Shell settings=true><LabIntake/></Shell> }/>
                    <Route path=path!("/settings/services/connection/:id") view=|| view! { <Shell settings=true><ServiceDetail/></Shell> }/>
                </Routes>
            </Router>
        }
    });
}
