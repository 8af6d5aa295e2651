//! "Active Connections": everything that can reach patient data, partner apps and API keys side
//! by side, filtered by kind, environment and status, each revocable from here; and registering
//! a partner app.

use leptos::prelude::*;

use super::app_form::AppForm;
use super::dialog::{Ask, use_ask};
use super::secret::SecretPanel;
use super::{NavLink, PageHeading, environment_words, send, utc};
use crate::api::name_of;
use crate::queries::{
    Connections, RevokeApiKey, RevokePartnerApp, connections, revoke_api_key, revoke_partner_app,
};

/// A status in words.
pub fn status_words(raw: &str) -> &'static str {
    match raw {
        "ACTIVE" => "Active",
        "SUSPENDED" => "Suspended",
        "EXPIRED" => "Expired",
        "REVOKED" => "Revoked",
        _ => "Unknown",
    }
}

/// A category in words.
pub fn category_words(raw: &str) -> &'static str {
    match raw {
        "ACCOUNTING" => "Accounting",
        "CRM" => "CRM",
        "DIAGNOSTICS" => "Diagnostics",
        "OTHER" => "Other",
        _ => "API key",
    }
}

#[component]
pub fn ActiveConnections() -> impl IntoView {
    let (data, set_data) = signal(None::<connections::ResponseData>);
    let (message, set_message) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let kind = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let status = RwSignal::new("ACTIVE".to_owned());
    let ask = use_ask();

    let load = Callback::new(move |_| {
        use connections as c;
        let pick = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.is_empty());
        let filter = c::ConnectionFilterInput {
            kind: pick(kind).map(|k| match k.as_str() {
                "API_KEY" => c::ConnectionKind::API_KEY,
                _ => c::ConnectionKind::PARTNER_APP,
            }),
            category: None,
            environment: pick(environment).map(|e| match e.as_str() {
                "PRODUCTION" => c::Environment::PRODUCTION,
                _ => c::Environment::SANDBOX,
            }),
            status: pick(status).map(|s| match s.as_str() {
                "SUSPENDED" => c::ConnectionStatus::SUSPENDED,
                "EXPIRED" => c::ConnectionStatus::EXPIRED,
                "REVOKED" => c::ConnectionStatus::REVOKED,
                _ => c::ConnectionStatus::ACTIVE,
            }),
        };
        send::<Connections>(
            c::Variables {
                filter: Some(filter),
            },
            set_message,
            None,
            move |d| set_data.set(Some(d)),
        )
    });
    load.run(());
    let on_done = Callback::new(move |(name, new_secret): (String, Option<String>)| {
        if let Some(s) = new_secret {
            secret.set(Some((name, s)));
        }
        load.run(());
    });

    let revoke = move |id: String, name: String, app: bool| {
        let then = Callback::new(move |_| {
            let id = id.clone();
            if app {
                send::<RevokePartnerApp>(
                    revoke_partner_app::Variables { id },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            } else {
                send::<RevokeApiKey>(
                    revoke_api_key::Variables { id },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            }
        });
        ask.set(Some(Ask {
            title: format!("Revoke \"{name}\"?"),
            text: if app {
                "The app's every grant and secret stop working at once, for good. Its users would have to authorize a newly registered app.".into()
            } else {
                "The key stops working at once, with every secret of its rotation.".into()
            },
            confirm: if app { "Revoke app" } else { "Revoke key" },
            danger: true,
            extra: None,
            then,
        }));
    };

    let rows = move || {
        data.get()
            .and_then(|d| d.active_connections)
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let is_app = name_of(&c.kind) == "PARTNER_APP";
                let href = if is_app {
                    format!("/settings/connections/apps/{}", c.id)
                } else {
                    format!("/settings/api-console/keys/{}", c.id)
                };
                let state = name_of(&c.status);
                let category = c.category.as_ref().map(name_of).unwrap_or_default();
                let env = environment_words(&name_of(&c.environment));
                let grants = c.active_grants.map(|n| format!(" · {n} active grant{}", if n == 1 { "" } else { "s" }));
                let (id, name, row_name) = (c.id.clone(), c.name.clone(), c.name.clone());
                let revocable = state != "REVOKED";
                let label = format!("Revoke {}", c.name);
                view! {
                    <tr data-connection=row_name>
                        <td><NavLink href=href class="connection-link">{c.name.clone()}</NavLink><br/>
                            <span class="muted">{category_words(&category)}</span></td>
                        <td>{env}</td>
                        <td class="status">{status_words(&state)}{grants}</td>
                        <td class="muted">{utc(c.last_used_at.as_deref(), false)}</td>
                        <td class="scopes">{c.scopes.join(", ")}</td>
                        <td class="actions">
                            <Show when=move || revocable>
                                <button type="button" class="danger" aria-label=label.clone()
                                    on:click={
                                        let (id, name) = (id.clone(), name.clone());
                                        move |_| revoke(id.clone(), name.clone(), is_app)
                                    }>"Revoke"</button>
                            </Show>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let filter = move |id: &'static str,
                       label: &'static str,
                       value: RwSignal<String>,
                       options: &'static [(&'static str, &'static str)]| {
        view! {
            <label for=id>{label}
                <select id=id on:change=move |ev| { value.set(event_target_value(&ev)); load.run(()); }>
                    {options.iter().map(|(v, words)| view! {
                        <option value=*v selected=move || value.get() == *v>{*words}</option>
                    }).collect_view()}
                </select>
            </label>
        }
    };

    view! {
        <PageHeading title="Active Connections"/>
        <p class="muted">"Everything that can reach patient data: partner apps authorized through OAuth, and API keys. Revoking takes effect on the very next request."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="connections-message">{move || message.get()}</p>
        </Show>
        <SecretPanel secret/>
        <section class="card" aria-labelledby="directory-heading">
            <h2 id="directory-heading">"Connections"</h2>
            <div class="row filters">
                {filter("filter-kind", "Kind ", kind, &[("", "All"), ("PARTNER_APP", "Partner apps"), ("API_KEY", "API keys")])}
                {filter("filter-environment", "Environment ", environment, &[("", "All"), ("SANDBOX", "Sandbox"), ("PRODUCTION", "Production")])}
                {filter("filter-status", "Status ", status, &[("", "All"), ("ACTIVE", "Active"), ("SUSPENDED", "Suspended"), ("EXPIRED", "Expired"), ("REVOKED", "Revoked")])}
            </div>
            <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <table id="connections">
                    <thead><tr>
                        <th scope="col">"Connection"</th><th scope="col">"Environment"</th>
                        <th scope="col">"Status"</th><th scope="col">"Last used"</th>
                        <th scope="col">"May reach"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
        </section>
        <AppForm on_done/>
    }
}
