use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{A, Redirect};
use leptos_router::hooks::use_navigate;

use crate::Area;

use crate::SessionSignal;
use crate::api::run;
use crate::queries::{Logout, logout};
use crate::session;

use super::{Ask, ConfirmDialog, NavLink, NoSettings, PageHeading, focus};

/// To the sign-in screen: within the main app, or a page load from another area's, whose
/// router has no such route.
fn to_login(area: Option<Area>, navigate: &impl Fn(&str, NavigateOptions)) {
    if area == Some(Area::of("/login")) {
        navigate("/login", NavigateOptions::default());
    } else if let Some(window) = web_sys::window() {
        let _ = window.location().set_href("/login");
    }
}

/// Shown instead of a screen when nobody is signed in: the sign-in screen.
#[component]
fn SignIn() -> impl IntoView {
    let area = use_context::<Area>();
    if area == Some(Area::of("/login")) {
        view! { <Redirect path="/login"/> }.into_any()
    } else {
        to_login(area, &|_: &str, _: NavigateOptions| {});
        ().into_any()
    }
}

/// The frame of every signed-in screen: navigation, who is signed in, log out. Screens of
/// integration settings (`settings=true`) are not shown to roles that may not use them.
#[component]
pub fn Shell(children: ChildrenFn, #[prop(optional)] settings: bool) -> impl IntoView {
    let session = expect_context::<SessionSignal>();
    let navigate = use_navigate();
    let area = use_context::<Area>();
    let logout = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            // Ends the session on the server; the local copy goes either way.
            let _ = run::<Logout>(logout::Variables).await;
            session::clear();
            session.set(None);
            to_login(area, &navigate);
        });
    };
    let children = StoredValue::new(children);
    let ask = RwSignal::new(None::<Ask>);
    provide_context(ask);
    // The skip link moves focus itself: the router would treat `#main` as a navigation.
    let skip = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        focus("main");
    };
    // Every screen reads in the chosen environment (`api::signed`); a page load shows them
    // all anew in it.
    let env = session::environment().unwrap_or_default();
    let sandbox = env == "SANDBOX";
    let switch = |ev: leptos::ev::Event| {
        session::set_environment(&event_target_value(&ev));
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    let option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=env == value>{label}</option> }
    };
    view! {
        <Show when=move || session.get().is_some() fallback=SignIn>
            <a href="#main" class="skip-link" id="skip-link" on:click=skip>"Skip to main content"</a>
            <div class="layout">
                <header class="topbar" class:sandbox=sandbox>
                    <span class="brand">"Switchboard"</span>
                    <label class="environment">"Environment "
                        <select id="environment" on:change=switch>
                            {option("", "All")}
                            {option("SANDBOX", "Sandbox")}
                            {option("PRODUCTION", "Production")}
                        </select>
                    </label>
                    <span class="who" id="who">
                        {move || session.get().map(|s| format!("{} · {}", s.email, s.role.replace('_', " ").to_lowercase()))}
                    </span>
                    <button id="logout" class="link" on:click=logout.clone()>"Log out"</button>
                </header>
                <div class="body">
                    <Show when=move || session.get().is_some_and(|s| s.manages_settings())>
                        <nav aria-label="Integration settings">
                            <p class="nav-title">"Settings › Integration Settings"</p>
                            <NavLink href="/settings/connections" id="nav-connections">"Active Connections"</NavLink>
                            <NavLink href="/settings/api-console" id="nav-api-console">"API Console"</NavLink>
                            <NavLink href="/settings/services" id="nav-services">"External Services"</NavLink>
                            <NavLink href="/settings/audit" id="nav-audit">"Audit"</NavLink>
                            <NavLink href="/settings/general" id="nav-settings">"Settings"</NavLink>
                        </nav>
                    </Show>
                    <main class="content" id="main" tabindex="-1">
                        <Show
                            when=move || !settings || session.get().is_some_and(|s| s.manages_settings())
                            fallback=NoSettings
                        >
                            {children.with_value(|c| c())}
                        </Show>
                    </main>
                </div>
            </div>
            <ConfirmDialog ask=ask/>
        </Show>
    }
}

/// The landing page after sign-in.
#[component]
pub fn Home() -> impl IntoView {
    let session = expect_context::<SessionSignal>();
    view! {
        <PageHeading title="Welcome"/>
        <Show
            when=move || session.get().is_some_and(|s| s.manages_settings())
            fallback=NoSettings
        >
            <p>"Manage API keys in the " <A href="/settings/api-console">"API Console"</A> "."</p>
        </Show>
    }
}
