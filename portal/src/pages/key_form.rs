//! The form that creates a key: everything `createApiKey` takes, each scope explained, common
//! sets as presets, and every refusal — the form's own or the server's — shown next to its
//! field, with the focus moved there.

use leptos::prelude::*;

use super::keys::{ClientInfo, text};
use super::scope_checks::ScopeChecks;
use super::{focus, send_with};
use crate::api::{ApiError, name_of};
use crate::queries::{CreateApiKey, create_api_key};
use crate::scopes::PRESETS;

/// The form's fields that a refusal can point at, with the element that takes the focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Name,
    Scopes,
    Limits,
    Expires,
    Addresses,
}

impl Field {
    fn focus_id(self) -> &'static str {
        match self {
            Field::Name => "key-name",
            Field::Scopes => "scope-patients-read",
            Field::Limits => "key-limits",
            Field::Expires => "key-expires",
            Field::Addresses => "key-addresses",
        }
    }
    fn error_id(self) -> &'static str {
        match self {
            Field::Name => "key-name-error",
            Field::Scopes => "key-scopes-error",
            Field::Limits => "key-limits-error",
            Field::Expires => "key-expires-error",
            Field::Addresses => "key-addresses-error",
        }
    }
    /// The field a server refusal names (`input.expiresAt`).
    fn of_path(path: &str) -> Option<Field> {
        match path.trim_start_matches("input.").split(['[', '.']).next()? {
            "name" => Some(Field::Name),
            "scopes" => Some(Field::Scopes),
            "clientIds" | "locationIds" => Some(Field::Limits),
            "expiresAt" => Some(Field::Expires),
            "allowedIps" => Some(Field::Addresses),
            _ => None,
        }
    }
}

/// The form's own checks, before anything is sent: every problem, by field. `now` is the
/// current UTC time as `YYYY-MM-DDTHH:MM`, the form of a datetime-local value.
fn check(name: &str, scopes: &[String], expires: &str, now: &str) -> Vec<(Field, &'static str)> {
    let mut problems = Vec::new();
    if name.trim().is_empty() {
        problems.push((
            Field::Name,
            "Give the key a name, so you can recognise it later.",
        ));
    } else if name.trim().chars().count() > 100 {
        problems.push((Field::Name, "The name can be at most 100 characters."));
    }
    if scopes.is_empty() {
        problems.push((Field::Scopes, "Choose at least one permission."));
    }
    if !expires.is_empty() && expires <= now {
        problems.push((Field::Expires, "The expiry must be in the future."));
    }
    problems
}

/// Now, in UTC, as a datetime-local value.
fn now_utc() -> String {
    let iso: String = js_sys::Date::new_0().to_iso_string().into();
    iso.get(..16).unwrap_or_default().to_owned()
}

#[component]
pub fn KeyForm(
    clients: Signal<Vec<ClientInfo>>,
    /// Called with the new key's name and its secret, to show once.
    on_created: Callback<(String, String)>,
) -> impl IntoView {
    let (busy, set_busy) = signal(false);
    let name = RwSignal::new(String::new());
    let environment = RwSignal::new(crate::session::new_record_environment());
    let scopes = RwSignal::new(Vec::<String>::new());
    let chosen_clients = RwSignal::new(Vec::<String>::new());
    let chosen_locations = RwSignal::new(Vec::<String>::new());
    let expires = RwSignal::new(String::new());
    let addresses = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<(Field, String)>::new());
    let general = RwSignal::new(None::<String>);

    let error_of = move |field: Field| {
        move || errors.with(|e| e.iter().find(|(f, _)| *f == field).map(|(_, m)| m.clone()))
    };
    let invalid = move |field: Field| move || errors.with(|e| e.iter().any(|(f, _)| *f == field));
    // Shows the problems and moves the focus to the first.
    let refuse = move |problems: Vec<(Field, String)>| {
        let first = problems.first().map(|(f, _)| *f);
        errors.set(problems);
        if let Some(f) = first {
            // After the error text is in the page, so that it is read with the field.
            request_animation_frame(move || focus(f.focus_id()));
        }
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        general.set(None);
        let chosen = scopes.get_untracked();
        let exp = expires.get_untracked();
        let problems = check(&name.get_untracked(), &chosen, &exp, &now_utc());
        if !problems.is_empty() {
            refuse(
                problems
                    .into_iter()
                    .map(|(f, m)| (f, m.to_owned()))
                    .collect(),
            );
            return;
        }
        errors.set(Vec::new());
        let list = |ids: Vec<String>| (!ids.is_empty()).then_some(ids);
        let input = create_api_key::CreateApiKeyInput {
            name: name.get_untracked().trim().to_owned(),
            scopes: chosen,
            environment: match environment.get_untracked().as_str() {
                "PRODUCTION" => create_api_key::Environment::PRODUCTION,
                _ => create_api_key::Environment::SANDBOX,
            },
            client_ids: list(chosen_clients.get_untracked()),
            location_ids: list(chosen_locations.get_untracked()),
            // datetime-local gives a wall time without a zone; the form asks for UTC.
            expires_at: (!exp.is_empty()).then(|| format!("{exp}:00Z")),
            allowed_ips: super::limits::address_list(&addresses.get_untracked()),
            // The server-wide rate until one is set on the key's page.
            rate_limit: None,
        };
        send_with::<CreateApiKey>(
            create_api_key::Variables { input },
            Some(set_busy),
            move |d| {
                if let Some(issued) = d.create_api_key {
                    on_created.run((text(issued.api_key.name), issued.secret));
                }
                name.set(String::new());
                scopes.set(Vec::new());
                chosen_clients.set(Vec::new());
                chosen_locations.set(Vec::new());
                expires.set(String::new());
                addresses.set(String::new());
            },
            move |err| match &err {
                ApiError::Invalid { field, text } => match Field::of_path(field) {
                    Some(f) => refuse(vec![(f, text.clone())]),
                    None => general.set(Some(text.clone())),
                },
                ApiError::SessionExpired => super::expire_session(),
                ApiError::Message(m) => general.set(Some(m.clone())),
            },
        );
    };

    let preset = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev);
        if let Some((_, _, set)) = PRESETS.iter().find(|(p, _, _)| *p == id) {
            scopes.set(set.iter().map(|s| (*s).to_owned()).collect());
        }
    };

    // The environment's clients, and the locations of the chosen ones (of all of them while
    // none is chosen).
    let env_clients = move || {
        let env = environment.get();
        clients
            .get()
            .into_iter()
            .filter(|c| name_of(&c.environment) == env)
            .collect::<Vec<_>>()
    };
    let toggle = |list: RwSignal<Vec<String>>, id: String, on: bool| {
        list.update(|l| {
            l.retain(|c| *c != id);
            if on {
                l.push(id);
            }
        })
    };
    let client_boxes = move || {
        env_clients()
            .into_iter()
            .map(|c| {
                let dom_id = format!("client-{}", c.id);
                let label_for = dom_id.clone();
                let (id, id_for_check) = (c.id.clone(), c.id.clone());
                let locations: Vec<String> = c.locations.iter().map(|l| l.id.clone()).collect();
                view! {
                    <label class="check" for=label_for>
                        <input type="checkbox" id=dom_id
                            prop:checked=move || chosen_clients.with(|l| l.contains(&id_for_check))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                toggle(chosen_clients, id.clone(), on);
                                if !on {
                                    // A location limit outside the key's clients could never match.
                                    chosen_locations.update(|l| l.retain(|x| !locations.contains(x)));
                                }
                            }/>
                        {c.name}
                    </label>
                }
            })
            .collect_view()
    };
    let location_boxes = move || {
        let chosen = chosen_clients.get();
        env_clients()
            .into_iter()
            .filter(|c| chosen.is_empty() || chosen.contains(&c.id))
            .flat_map(|c| {
                let client = c.name.clone();
                c.locations.into_iter().map(move |l| (client.clone(), l))
            })
            .map(|(client, l)| {
                let dom_id = format!("location-{}", l.id);
                let label_for = dom_id.clone();
                let (id, id_for_check) = (l.id.clone(), l.id.clone());
                view! {
                    <label class="check" for=label_for>
                        <input type="checkbox" id=dom_id
                            prop:checked=move || chosen_locations.with(|l| l.contains(&id_for_check))
                            on:change=move |ev| toggle(chosen_locations, id.clone(), event_target_checked(&ev))/>
                        {format!("{} ({client})", l.name)}
                    </label>
                }
            })
            .collect_view()
    };

    let error_text = move |field: Field| {
        view! {
            <Show when=invalid(field)>
                <p class="field-error" id=field.error_id()>{error_of(field)}</p>
            </Show>
        }
    };
    let described = move |field: Field| move || invalid(field)().then_some(field.error_id());

    view! {
        <section class="card" aria-labelledby="create-heading">
            <h2 id="create-heading">"Create a key"</h2>
            <Show when=move || general.get().is_some()>
                <p class="error" role="alert" id="console-message">{move || general.get()}</p>
            </Show>
            <form on:submit=submit novalidate>
                <label for="key-name">"Name"</label>
                <input id="key-name" type="text" maxlength="100" placeholder="e.g. LIS results feed"
                    aria-invalid=move || invalid(Field::Name)().to_string()
                    aria-describedby=described(Field::Name)
                    prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                {error_text(Field::Name)}
                <label for="key-environment">"Environment"</label>
                <select id="key-environment" on:change=move |ev| {
                    environment.set(event_target_value(&ev));
                    chosen_clients.set(Vec::new());
                    chosen_locations.set(Vec::new());
                }>
                    <option value="SANDBOX" selected=move || environment.get() == "SANDBOX">"Sandbox (test data)"</option>
                    <option value="PRODUCTION" selected=move || environment.get() == "PRODUCTION">"Production (live data)"</option>
                </select>
                <label for="key-preset">"Start from a common set (optional)"</label>
                <select id="key-preset" on:change=preset>
                    <option value="">"Choose permissions yourself"</option>
                    {PRESETS.iter().map(|(id, label, _)| view! { <option value=*id>{*label}</option> }).collect_view()}
                </select>
                <ScopeChecks scopes described_by=Signal::derive(described(Field::Scopes))/>
                {error_text(Field::Scopes)}
                <fieldset id="key-limits" tabindex="-1" aria-describedby=described(Field::Limits)>
                    <legend>"Limits (none chosen: every client or location of the environment)"</legend>
                    <p class="muted">"Clients"</p>
                    {client_boxes}
                    <p class="muted">"Locations"</p>
                    {location_boxes}
                </fieldset>
                {error_text(Field::Limits)}
                <label for="key-expires">"Expires (UTC, optional)"</label>
                <input id="key-expires" type="datetime-local"
                    aria-invalid=move || invalid(Field::Expires)().to_string()
                    aria-describedby=described(Field::Expires)
                    prop:value=expires on:input=move |ev| expires.set(event_target_value(&ev))/>
                {error_text(Field::Expires)}
                <label for="key-addresses">"Allowed addresses (optional)"</label>
                <p class="muted" id="key-addresses-help">"One address or CIDR range per line, IPv4 or IPv6 (203.0.113.0/24). Empty: the key works from anywhere the server-wide list allows."</p>
                <textarea id="key-addresses" rows="3"
                    aria-invalid=move || invalid(Field::Addresses)().to_string()
                    aria-describedby=move || if invalid(Field::Addresses)() { "key-addresses-help key-addresses-error" } else { "key-addresses-help" }
                    prop:value=addresses on:input=move |ev| addresses.set(event_target_value(&ev))></textarea>
                {error_text(Field::Addresses)}
                <button id="create-key" type="submit" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create key" }}
                </button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope_checks::scope_id;
    use super::{Field, check};

    #[test]
    fn the_form_names_every_problem_by_field() {
        let now = "2026-11-29T12:00";
        let fields = |p: Vec<(Field, &str)>| p.into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(
            fields(check("", &[], "2026-11-29T11:00", now)),
            vec![Field::Name, Field::Scopes, Field::Expires]
        );
        assert!(check("feed", &["patients:read".into()], "2026-12-01T00:00", now).is_empty());
        assert!(check("feed", &["patients:read".into()], "", now).is_empty());
        assert_eq!(Field::of_path("input.expiresAt"), Some(Field::Expires));
        assert_eq!(Field::of_path("input.locationIds[0]"), Some(Field::Limits));
        assert_eq!(Field::of_path("input.environment"), None);
        assert_eq!(
            scope_id("patients.contact:read"),
            "scope-patients-contact-read"
        );
    }
}
