use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::SessionSignal;
use crate::api::{name_of, run};
use crate::queries::{Login as LoginOperation, login};
use crate::session::{self, Session};

/// Checks the form before anything is sent.
fn check(email: &str, password: &str) -> Option<&'static str> {
    if !email.contains('@') || email.trim().len() < 3 {
        Some("Enter your email address.")
    } else if password.is_empty() {
        Some("Enter your password.")
    } else {
        None
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let session = expect_context::<SessionSignal>();
    let navigate = use_navigate();
    let query = use_query_map();
    let expired = move || query.read().get("expired").is_some();
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (e, p) = (email.get_untracked(), password.get_untracked());
        if let Some(problem) = check(&e, &p) {
            set_error.set(Some(problem.into()));
            return;
        }
        set_error.set(None);
        set_busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let result = run::<LoginOperation>(login::Variables {
                email: e,
                password: p,
            })
            .await;
            set_busy.set(false);
            match result.map(|data| data.login) {
                Ok(Some(login)) => {
                    let s = Session {
                        token: login.token,
                        email: login.user.email,
                        role: name_of(&login.user.role),
                    };
                    session::save(&s);
                    let target = if s.manages_settings() {
                        "/settings/api-console"
                    } else {
                        "/"
                    };
                    session.set(Some(s));
                    navigate(target, NavigateOptions::default());
                }
                Ok(None) | Err(_) => {
                    set_error.set(Some("The email or password is not right.".into()))
                }
            }
        });
    };

    super::set_title("Sign in");
    // The one thing to do here is to type: the cursor starts in the first field.
    let first = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = first.get() {
            let _ = input.focus();
        }
    });

    view! {
        <main class="centered" id="main">
            <form class="card login" on:submit=submit novalidate aria-labelledby="login-heading">
                <h1 id="login-heading">"Sign in to Switchboard"</h1>
                <p class="muted">"Sign in to manage integrations."</p>
                <Show when=expired>
                    <p class="notice" role="status">"Your session has expired. Please sign in again."</p>
                </Show>
                <label for="email">"Email"</label>
                <input id="email" type="email" autocomplete="username" required node_ref=first
                    prop:value=email on:input=move |ev| set_email.set(event_target_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" type="password" autocomplete="current-password" required
                    prop:value=password on:input=move |ev| set_password.set(event_target_value(&ev))/>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert" id="login-error">{move || error.get()}</p>
                </Show>
                <button id="login-submit" type="submit" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </main>
    }
}
