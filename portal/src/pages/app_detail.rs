//! One partner app: what it is, its secrets and grants, what it may ever have (edited), and
//! its actions: suspend or reactivate, rotate the secret, revoke a grant or the whole app.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::app_form::{AppForm, Draft};
use super::connections::{category_words, status_words};
use super::dialog::{Ask, use_ask};
use super::keys::{DEFAULT_GRACE, GRACE_CHOICES};
use super::limits::{LimitsCard, LimitsForm};
use super::secret::SecretPanel;
use super::{PageHeading, environment_words, send, utc};
use crate::api::{ApiError, name_of};
use crate::queries::{
    PartnerApp, ReactivatePartnerApp, RevokePartnerApp, RevokePartnerAppGrant,
    RotatePartnerAppSecret, SetPartnerAppLimits, SuspendPartnerApp, partner_app,
    reactivate_partner_app, revoke_partner_app, revoke_partner_app_grant,
    rotate_partner_app_secret, set_partner_app_limits, suspend_partner_app,
};

#[component]
pub fn AppDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let (data, set_data) = signal(None::<partner_app::PartnerAppPartnerApp>);
    let (loaded, set_loaded) = signal(false);
    let (message, set_message) = signal(None::<String>);
    let (saved, set_saved) = signal(false);
    let secret = RwSignal::new(None::<(String, String)>);
    let ask = use_ask();

    let load = Callback::new(move |_| {
        send::<PartnerApp>(
            partner_app::Variables { id: id() },
            set_message,
            None,
            move |d| {
                set_data.set(d.partner_app);
                set_loaded.set(true);
            },
        )
    });
    load.run(());
    let on_saved = Callback::new(move |_| {
        set_saved.set(true);
        load.run(());
    });

    // Suspend or reactivate, asked first.
    let toggle = move |_| {
        let Some(app) = data.get_untracked() else {
            return;
        };
        let active = name_of(&app.status) == "ACTIVE";
        let id = app.id.clone();
        let then = Callback::new(move |_| {
            let id = id.clone();
            if active {
                send::<SuspendPartnerApp>(
                    suspend_partner_app::Variables { id },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            } else {
                send::<ReactivatePartnerApp>(
                    reactivate_partner_app::Variables { id },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            }
        });
        ask.set(Some(Ask {
            title: format!(
                "{} \"{}\"?",
                if active { "Suspend" } else { "Reactivate" },
                app.name
            ),
            text: if active {
                "Every token of the app is refused from its next request, until you reactivate it."
                    .into()
            } else {
                "The app's grants work again.".into()
            },
            confirm: if active {
                "Suspend app"
            } else {
                "Reactivate app"
            },
            danger: active,
            extra: None,
            then,
        }));
    };
    let rotate = move |_| {
        let Some(app) = data.get_untracked() else {
            return;
        };
        let overlap = RwSignal::new(DEFAULT_GRACE);
        let (id, name) = (app.id.clone(), app.name.clone());
        ask.set(Some(Ask {
            title: format!("Rotate the secret of \"{}\"?", app.name),
            text: "A new client secret is issued and shown once. Give it to the vendor; the old secret stops working when the overlap ends.".into(),
            confirm: "Rotate secret",
            danger: false,
            extra: Some(ViewFn::from(move || view! {
                <label for="rotate-grace">"The old secret keeps working for"</label>
                <select id="rotate-grace" on:change=move |ev| {
                    overlap.set(event_target_value(&ev).parse().unwrap_or(DEFAULT_GRACE))
                }>
                    {GRACE_CHOICES.iter().map(|(secs, words)| view! {
                        <option value=secs.to_string() selected=*secs == DEFAULT_GRACE>{*words}</option>
                    }).collect_view()}
                </select>
            })),
            then: Callback::new(move |_| {
                let name = name.clone();
                let vars = rotate_partner_app_secret::Variables { id: id.clone(), overlap: overlap.get_untracked() };
                send::<RotatePartnerAppSecret>(vars, set_message, None, move |d| {
                    if let Some(s) = d.rotate_partner_app_secret.and_then(|r| r.client_secret) {
                        secret.set(Some((name, s)));
                    }
                    load.run(());
                });
            }),
        }));
    };
    let revoke_app = move |_| {
        let Some(app) = data.get_untracked() else {
            return;
        };
        let id = app.id.clone();
        ask.set(Some(Ask {
            title: format!("Revoke \"{}\"?", app.name),
            text: "Every grant and secret of the app stop working at once, for good.".into(),
            confirm: "Revoke app",
            danger: true,
            extra: None,
            then: Callback::new(move |_| {
                send::<RevokePartnerApp>(
                    revoke_partner_app::Variables { id: id.clone() },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            }),
        }));
    };
    let revoke_grant = move |grant: String, who: String| {
        ask.set(Some(Ask {
            title: format!("Revoke the grant of {who}?"),
            text: "The app's tokens from this authorization are refused from their next request."
                .into(),
            confirm: "Revoke grant",
            danger: true,
            extra: None,
            then: Callback::new(move |_| {
                send::<RevokePartnerAppGrant>(
                    revoke_partner_app_grant::Variables { id: grant.clone() },
                    set_message,
                    None,
                    move |_| load.run(()),
                );
            }),
        }));
    };

    let facts = move || {
        data.get().map(|app| {
            let state = name_of(&app.status);
            let confidential = name_of(&app.client_type) == "CONFIDENTIAL";
            let secrets = app.secrets.iter().map(|s| {
                let state = if s.active {
                    s.expires_at.as_deref().map_or_else(|| "current".to_owned(), |e| format!("works until {}", utc(Some(e), false)))
                } else {
                    "ended".to_owned()
                };
                format!("{}… ({state})", s.prefix)
            }).collect::<Vec<_>>().join(", ");
            view! {
                <dl class="facts">
                    <dt>"Status"</dt><dd id="app-status">{status_words(&state)}</dd>
                    <dt>"Category"</dt><dd>{category_words(&name_of(&app.category))}</dd>
                    <dt>"Environment"</dt><dd>{environment_words(&name_of(&app.environment))}</dd>
                    <dt>"Client ID"</dt><dd><code id="app-client-id">{app.client_id.clone()}</code></dd>
                    <dt>"Kind"</dt><dd>{if confidential { "Server-side (client secret)" } else { "Browser or mobile (PKCE, no secret)" }}</dd>
                    <dt>"Secrets"</dt><dd id="app-secrets">{if confidential { secrets } else { "none".into() }}</dd>
                    <dt>"Redirect URIs"</dt><dd>{app.redirect_uris.join(", ")}</dd>
                    <dt>"Registered"</dt><dd>{utc(Some(&app.created_at), false)}" by "{app.created_by.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Last used"</dt><dd>{utc(app.last_used_at.as_deref(), false)}</dd>
                </dl>
                <Show when=move || state != "REVOKED">
                    <div class="row">
                        <button id="app-toggle" type="button" class="secondary" on:click=toggle>
                            {if name_of(&app.status) == "ACTIVE" { "Suspend" } else { "Reactivate" }}
                        </button>
                        <Show when=move || confidential>
                            <button id="app-rotate" type="button" class="secondary" on:click=rotate>"Rotate secret"</button>
                        </Show>
                        <button id="app-revoke" type="button" class="danger" on:click=revoke_app>"Revoke app"</button>
                    </div>
                </Show>
            }
        })
    };
    let grants = move || {
        data.get().map(|app| app.grants).unwrap_or_default().into_iter().map(|g| {
            let who = g.granted_by.clone().unwrap_or_else(|| "the app's own server".into());
            let label = format!("Revoke the grant of {who}");
            let (grant, who_for) = (g.id.clone(), who.clone());
            let live = g.revoked_at.is_none();
            view! {
                <tr data-grant=g.id.clone()>
                    <td>{who}</td>
                    <td>{g.scopes.join(", ")}</td>
                    <td>{utc(Some(&g.created_at), false)}</td>
                    <td>{utc(g.last_used_at.as_deref(), false)}</td>
                    <td class="status">{g.revoked_at.as_deref().map_or_else(|| "Active".to_owned(), |r| format!("Revoked {}", utc(Some(r), false)))}</td>
                    <td><Show when=move || live>
                        <button type="button" class="danger" aria-label=label.clone()
                            on:click={
                                let (grant, who) = (grant.clone(), who_for.clone());
                                move |_| revoke_grant(grant.clone(), who.clone())
                            }>"Revoke"</button>
                    </Show></td>
                </tr>
            }
        }).collect_view()
    };
    let editor = move || {
        data.get()
            .filter(|a| name_of(&a.status) != "REVOKED")
            .map(|app| {
                let draft = Draft {
                    name: app.name.clone(),
                    category: name_of(&app.category),
                    description: app.description.clone(),
                    homepage: app.homepage.clone().unwrap_or_default(),
                    redirect_uris: app.redirect_uris.join("\n"),
                    scopes: app.scopes.clone(),
                };
                view! { <AppForm editing=app.id.clone() initial=draft on_done=on_saved/> }
            })
    };
    let title = move || {
        data.get()
            .map_or_else(|| "Partner app".to_owned(), |a| a.name)
    };

    // The app's allowed addresses and rate; saved without reloading, so the card says so.
    let limits_card = move || {
        let app = data.get()?;
        let app_id = app.id.clone();
        let current = LimitsForm {
            allowed_ips: app.allowed_ips.clone(),
            rate: app.rate_limit.as_ref().map(|r| (r.per_minute, r.burst)),
        };
        let save = Callback::new(
            move |(form, reply): (LimitsForm, Callback<Option<ApiError>>)| {
                let input = set_partner_app_limits::CredentialLimitsInput {
                    allowed_ips: form.allowed_ips,
                    rate_limit: form.rate.map(|(per_minute, burst)| {
                        set_partner_app_limits::RateLimitInput { per_minute, burst }
                    }),
                };
                super::send_with::<SetPartnerAppLimits>(
                    set_partner_app_limits::Variables {
                        id: app_id.clone(),
                        input,
                    },
                    None,
                    move |_| reply.run(None),
                    move |err| super::limits::refused(err, reply),
                );
            },
        );
        Some(view! { <LimitsCard prefix="app" current save/> })
    };

    view! {
        <p><A href="/settings/connections">"‹ Active Connections"</A></p>
        {move || view! { <PageHeading title=title()/> }}
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="app-message">{move || message.get()}</p>
        </Show>
        <Show when=move || saved.get()>
            <p role="status" id="app-saved">"Saved. Tokens already issued are held to the new ceiling from their next request."</p>
        </Show>
        <SecretPanel secret/>
        <Show when=move || !loaded.get() || data.get().is_some()
            fallback=|| view! { <p id="app-missing">"There is no such app."</p> }>
            <section class="card" aria-label="About the app">{facts}</section>
            <section class="card" aria-labelledby="grants-heading">
                <h2 id="grants-heading">"Grants"</h2>
                <table id="grants">
                    <thead><tr>
                        <th scope="col">"Given by"</th><th scope="col">"Scopes"</th><th scope="col">"Given"</th>
                        <th scope="col">"Last used"</th><th scope="col">"Status"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{grants}</tbody>
                </table>
            </section>
            {limits_card}
            {editor}
        </Show>
    }
}
