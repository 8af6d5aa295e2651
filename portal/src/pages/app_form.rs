//! The partner-app form: registering an app, or changing what an app may ever have. Refusals
//! are shown next to their field, with the focus moved there.

use leptos::prelude::*;

use super::scope_checks::ScopeChecks;
use super::{focus, send_with};
use crate::api::ApiError;
use crate::queries::{
    RegisterPartnerApp, UpdatePartnerApp, register_partner_app, update_partner_app,
};

/// What the form holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draft {
    pub name: String,
    pub category: String,
    pub description: String,
    pub homepage: String,
    /// One per line.
    pub redirect_uris: String,
    pub scopes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Name,
    Homepage,
    Redirects,
    Scopes,
}

impl Field {
    fn id(self) -> &'static str {
        match self {
            Field::Name => "app-name",
            Field::Homepage => "app-homepage",
            Field::Redirects => "app-redirects",
            Field::Scopes => "scope-patients-read",
        }
    }
    fn error_id(self) -> &'static str {
        match self {
            Field::Name => "app-name-error",
            Field::Homepage => "app-homepage-error",
            Field::Redirects => "app-redirects-error",
            Field::Scopes => "app-scopes-error",
        }
    }
    fn of_path(path: &str) -> Option<Field> {
        let path = path.trim_start_matches("input.").trim_start_matches("app.");
        match path.split(['[', '.']).next()? {
            "name" => Some(Field::Name),
            "homepage" => Some(Field::Homepage),
            "redirectUris" => Some(Field::Redirects),
            "scopes" => Some(Field::Scopes),
            _ => None,
        }
    }
}

fn check(d: &Draft) -> Vec<(Field, String)> {
    let mut problems = Vec::new();
    if d.name.trim().is_empty() {
        problems.push((Field::Name, "Give the app the name users will see.".into()));
    }
    if d.scopes.is_empty() {
        problems.push((Field::Scopes, "Choose at least one permission.".into()));
    }
    problems
}

fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The typed input of one of the two operations, built from a draft.
macro_rules! app_input {
    ($m:ident, $d:expr) => {
        $m::PartnerAppInput {
            name: $d.name.trim().to_owned(),
            category: match $d.category.as_str() {
                "CRM" => $m::AppCategory::CRM,
                "DIAGNOSTICS" => $m::AppCategory::DIAGNOSTICS,
                "OTHER" => $m::AppCategory::OTHER,
                _ => $m::AppCategory::ACCOUNTING,
            },
            description: $d.description.trim().to_owned(),
            homepage: Some($d.homepage.trim().to_owned()).filter(|h| !h.is_empty()),
            redirect_uris: lines(&$d.redirect_uris),
            scopes: $d.scopes.clone(),
            client_ids: None,
            location_ids: None,
        }
    };
}

/// The form. With `editing` (an app's id) it changes that app; otherwise it registers one and
/// hands `on_done` the new app's name and secret (none for a public app).
#[component]
pub fn AppForm(
    #[prop(optional)] editing: Option<String>,
    #[prop(optional)] initial: Option<Draft>,
    on_done: Callback<(String, Option<String>)>,
) -> impl IntoView {
    let initial = initial.unwrap_or_else(|| Draft {
        category: "ACCOUNTING".into(),
        ..Draft::default()
    });
    let (busy, set_busy) = signal(false);
    let name = RwSignal::new(initial.name);
    let category = RwSignal::new(initial.category);
    let description = RwSignal::new(initial.description);
    let homepage = RwSignal::new(initial.homepage);
    let redirects = RwSignal::new(initial.redirect_uris);
    let scopes = RwSignal::new(initial.scopes);
    let environment = RwSignal::new(crate::session::new_record_environment());
    let client_type = RwSignal::new("CONFIDENTIAL".to_owned());
    let errors = RwSignal::new(Vec::<(Field, String)>::new());
    let general = RwSignal::new(None::<String>);
    let registering = editing.is_none();

    let refuse = move |problems: Vec<(Field, String)>| {
        let first = problems.first().map(|(f, _)| *f);
        errors.set(problems);
        if let Some(f) = first {
            request_animation_frame(move || focus(f.id()));
        }
    };
    let failed = move |err: ApiError| match &err {
        ApiError::Invalid { field, text } => match Field::of_path(field) {
            Some(f) => refuse(vec![(f, text.clone())]),
            None => general.set(Some(text.clone())),
        },
        ApiError::SessionExpired => super::expire_session(),
        ApiError::Message(m) => general.set(Some(m.clone())),
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        general.set(None);
        let draft = Draft {
            name: name.get_untracked(),
            category: category.get_untracked(),
            description: description.get_untracked(),
            homepage: homepage.get_untracked(),
            redirect_uris: redirects.get_untracked(),
            scopes: scopes.get_untracked(),
        };
        let problems = check(&draft);
        if !problems.is_empty() {
            refuse(problems);
            return;
        }
        errors.set(Vec::new());
        let app_name = draft.name.trim().to_owned();
        match editing.clone() {
            Some(id) => send_with::<UpdatePartnerApp>(
                update_partner_app::Variables {
                    id,
                    input: app_input!(update_partner_app, draft),
                },
                Some(set_busy),
                move |_| on_done.run((app_name, None)),
                failed,
            ),
            None => {
                use register_partner_app as m;
                let input = m::RegisterPartnerAppInput {
                    app: app_input!(m, draft),
                    environment: if environment.get_untracked() == "PRODUCTION" {
                        m::Environment::PRODUCTION
                    } else {
                        m::Environment::SANDBOX
                    },
                    client_type: if client_type.get_untracked() == "PUBLIC" {
                        m::ClientType::PUBLIC
                    } else {
                        m::ClientType::CONFIDENTIAL
                    },
                };
                send_with::<RegisterPartnerApp>(
                    m::Variables { input },
                    Some(set_busy),
                    move |d| {
                        let secret = d.register_partner_app.and_then(|r| r.client_secret);
                        name.set(String::new());
                        description.set(String::new());
                        homepage.set(String::new());
                        redirects.set(String::new());
                        scopes.set(Vec::new());
                        on_done.run((app_name, secret));
                    },
                    failed,
                );
            }
        }
    };

    let invalid = move |f: Field| move || errors.with(|e| e.iter().any(|(x, _)| *x == f));
    let described = move |f: Field| move || invalid(f)().then_some(f.error_id());
    let error_text = move |f: Field| {
        view! {
            <Show when=invalid(f)>
                <p class="field-error" id=f.error_id()>
                    {move || errors.with(|e| e.iter().find(|(x, _)| *x == f).map(|(_, m)| m.clone()))}
                </p>
            </Show>
        }
    };
    let text_field =
        move |f: Field, label: &'static str, value: RwSignal<String>, hint: &'static str| {
            view! {
                <label for=f.id()>{label}</label>
                <input id=f.id() type="text" placeholder=hint
                    aria-invalid=move || invalid(f)().to_string()
                    aria-describedby=described(f)
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                {error_text(f)}
            }
        };
    let choice = move |id: &'static str,
                       value: RwSignal<String>,
                       options: &'static [(&'static str, &'static str)]| {
        view! {
            <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
                {options.iter().map(|(v, words)| view! {
                    <option value=*v selected=move || value.get() == *v>{*words}</option>
                }).collect_view()}
            </select>
        }
    };
    let (heading, button, working) = if registering {
        ("Register an app", "Register app", "Registering…")
    } else {
        ("What the app may ever have", "Save changes", "Saving…")
    };

    view! {
        <section class="card" aria-labelledby="app-form-heading">
            <h2 id="app-form-heading">{heading}</h2>
            <Show when=move || general.get().is_some()>
                <p class="error" role="alert" id="app-form-message">{move || general.get()}</p>
            </Show>
            <form on:submit=submit novalidate>
                {text_field(Field::Name, "Name (shown on the consent page)", name, "e.g. Ledger Books")}
                <label for="app-category">"Category"</label>
                {choice("app-category", category, &[
                    ("ACCOUNTING", "Accounting"), ("CRM", "CRM"),
                    ("DIAGNOSTICS", "Diagnostics"), ("OTHER", "Other"),
                ])}
                <Show when=move || registering>
                    <label for="app-environment">"Environment"</label>
                    {choice("app-environment", environment, &[
                        ("SANDBOX", "Sandbox (test data)"), ("PRODUCTION", "Production (live data)"),
                    ])}
                    <label for="app-type">"Kind of app"</label>
                    {choice("app-type", client_type, &[
                        ("CONFIDENTIAL", "Server-side (gets a client secret)"),
                        ("PUBLIC", "Browser or mobile (no secret, PKCE)"),
                    ])}
                </Show>
                <label for="app-description">"Description (shown on the consent page)"</label>
                <textarea id="app-description" rows="2" prop:value=description
                    on:input=move |ev| description.set(event_target_value(&ev))></textarea>
                {text_field(Field::Homepage, "Vendor's site (https, optional)", homepage, "https://vendor.example")}
                <label for=Field::Redirects.id()>"Redirect URIs, one per line (exact match)"</label>
                <textarea id=Field::Redirects.id() rows="2"
                    aria-invalid=move || invalid(Field::Redirects)().to_string()
                    aria-describedby=described(Field::Redirects)
                    prop:value=redirects on:input=move |ev| redirects.set(event_target_value(&ev))></textarea>
                {error_text(Field::Redirects)}
                <ScopeChecks scopes described_by=Signal::derive(described(Field::Scopes))/>
                {error_text(Field::Scopes)}
                <button id="app-submit" type="submit" disabled=busy>
                    {move || if busy.get() { working } else { button }}
                </button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_named_by_field_and_server_paths_map_back() {
        let fields: Vec<Field> = check(&Draft::default())
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, vec![Field::Name, Field::Scopes]);
        assert_eq!(
            Field::of_path("input.app.redirectUris[1]"),
            Some(Field::Redirects)
        );
        assert_eq!(Field::of_path("input.homepage"), Some(Field::Homepage));
        assert_eq!(lines(" a \n\n b"), vec!["a", "b"]);
    }
}
