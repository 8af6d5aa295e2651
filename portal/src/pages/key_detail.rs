//! One key: everything about it, its name edited, its actions, and a way to what it did.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::keys::{KeyActions, KeyView, group, limits, text};
use super::limits::{LimitsCard, LimitsForm};
use super::secret::SecretPanel;
use super::{NavLink, PageHeading, environment_words, focus, send, send_with, utc};
use crate::api::ApiError;
use crate::queries::{
    ApiKeys, RenameApiKey, SetApiKeyLimits, api_keys, rename_api_key, set_api_key_limits,
};
use crate::scopes::SCOPE_HELP;

#[component]
pub fn KeyDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let (data, set_data) = signal(None::<api_keys::ResponseData>);
    let (message, set_message) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let new_name = RwSignal::new(String::new());
    let name_error = RwSignal::new(None::<String>);
    let (saved, set_saved) = signal(false);
    let (renaming, set_renaming) = signal(false);

    let load = Callback::new(move |_| {
        send::<ApiKeys>(api_keys::Variables, set_message, None, move |d| {
            set_data.set(Some(d))
        })
    });
    load.run(());
    let on_secret = Callback::new(move |s| secret.set(Some(s)));
    // The key this page is about: the one whose secrets include `id` (after a rotation the
    // page of the old id shows the key it became).
    let view = Memo::new(move |_| {
        let id = id();
        let keys = data.get()?.api_keys.unwrap_or_default();
        group(keys).into_iter().find(|v: &KeyView| {
            std::iter::once(&v.key)
                .chain(v.old.iter())
                .any(|k| k.id.as_deref() == Some(id.as_str()))
        })
    });
    Effect::new(move |_| {
        if let Some(v) = view.get() {
            new_name.set(v.name());
        }
    });

    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_saved.set(false);
        let Some(v) = view.get_untracked() else {
            return;
        };
        let name = new_name.get_untracked().trim().to_owned();
        if name.is_empty() {
            name_error.set(Some(
                "Give the key a name, so you can recognise it later.".into(),
            ));
            request_animation_frame(|| focus("rename-name"));
            return;
        }
        name_error.set(None);
        send_with::<RenameApiKey>(
            rename_api_key::Variables { id: v.id(), name },
            Some(set_renaming),
            move |_| {
                set_saved.set(true);
                load.run(());
            },
            move |err| match err {
                ApiError::Invalid { text, .. } => {
                    name_error.set(Some(text));
                    request_animation_frame(|| focus("rename-name"));
                }
                other => super::handle_error(other, set_message),
            },
        );
    };

    // Saved without reloading the page's data, so the card keeps saying so.
    let limits_card = move || {
        let v = view.get()?;
        let key_id = v.id();
        let current = LimitsForm {
            allowed_ips: v.key.allowed_ips.clone(),
            rate: v.key.rate_limit.as_ref().map(|r| (r.per_minute, r.burst)),
        };
        let save = Callback::new(
            move |(form, reply): (LimitsForm, Callback<Option<ApiError>>)| {
                let input = set_api_key_limits::CredentialLimitsInput {
                    allowed_ips: form.allowed_ips,
                    rate_limit: form.rate.map(|(per_minute, burst)| {
                        set_api_key_limits::RateLimitInput { per_minute, burst }
                    }),
                };
                send_with::<SetApiKeyLimits>(
                    set_api_key_limits::Variables {
                        id: key_id.clone(),
                        input,
                    },
                    None,
                    move |_| reply.run(None),
                    move |err| super::limits::refused(err, reply),
                );
            },
        );
        Some(view! { <LimitsCard prefix="key" current save/> })
    };

    let details = move || {
        let v = view.get()?;
        let clients = data.get().and_then(|d| d.clients).unwrap_or_default();
        let (client_limits, location_limits) = limits(&v.key, &clients);
        let k = v.key.clone();
        let scopes = k.scopes.clone().unwrap_or_default();
        let secrets = std::iter::once((k.prefix.clone(), "current".to_owned()))
            .chain(v.old.iter().map(|o| {
                (
                    o.prefix.clone(),
                    format!("old, works until {}", utc(o.expires_at.as_deref(), false)),
                )
            }))
            .map(|(p, what)| view! { <li><code>{text(p)}"…"</code>" — "{what}</li> })
            .collect_view();
        let audit = format!("/settings/audit?actor={}", v.id());
        Some(view! {
            <section class="card" aria-labelledby="key-name-heading">
                <h2 id="key-name-heading">{v.name()}</h2>
                <dl class="facts" id="key-facts">
                    <dt>"Status"</dt><dd id="key-status">{v.status_words()}</dd>
                    <dt>"Environment"</dt><dd>{environment_words(&v.environment())}</dd>
                    <dt>"Secrets"</dt><dd><ul class="plain" id="key-secrets">{secrets}</ul></dd>
                    <dt>"Clients"</dt><dd id="key-clients">{client_limits}</dd>
                    <dt>"Locations"</dt><dd id="key-locations">{location_limits}</dd>
                    <dt>"Created"</dt><dd>{utc(k.created_at.as_deref(), false)}" by "{k.created_by.clone().unwrap_or_else(|| "the command line".into())}</dd>
                    <dt>"Last used"</dt><dd>{utc(k.last_used_at.as_deref(), false)}</dd>
                    <dt>"Expires"</dt><dd>{k.expires_at.as_deref().map_or_else(|| "never".to_owned(), |e| utc(Some(e), false))}</dd>
                    <dt>"Revoked"</dt><dd>{k.revoked_at.as_deref().map_or_else(|| "no".to_owned(), |e| utc(Some(e), false))}</dd>
                </dl>
                <div class="row actions">
                    <KeyActions view=v.clone() set_message on_secret reload=load/>
                </div>
                <p><NavLink href=audit id="key-activity">"What this key did, in the audit trail"</NavLink></p>
            </section>
            <section class="card" aria-labelledby="scopes-heading">
                <h2 id="scopes-heading">"Permissions"</h2>
                <ul class="plain" id="key-scopes">
                    {scopes.into_iter().map(|s| {
                        let help = SCOPE_HELP.iter().find(|(n, _)| *n == s).map(|(_, h)| *h).unwrap_or("");
                        view! { <li><code>{s.clone()}</code>" — "{help}</li> }
                    }).collect_view()}
                </ul>
            </section>
        })
    };

    view! {
        <PageHeading title="API key"/>
        <p><A href="/settings/api-console">"← All keys"</A></p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="key-message">{move || message.get()}</p>
        </Show>
        <SecretPanel secret/>
        <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
            <Show when=move || view.with(Option::is_some) fallback=|| view! { <p class="notice" id="key-missing">"There is no such key."</p> }>
                {details}
                {limits_card}
                <section class="card" aria-labelledby="rename-heading">
                    <h2 id="rename-heading">"Rename"</h2>
                    <form on:submit=rename novalidate>
                        <label for="rename-name">"Name"</label>
                        <input id="rename-name" type="text" maxlength="100"
                            aria-invalid=move || name_error.with(Option::is_some).to_string()
                            aria-describedby=move || name_error.with(Option::is_some).then_some("rename-error")
                            prop:value=new_name on:input=move |ev| new_name.set(event_target_value(&ev))/>
                        <Show when=move || name_error.with(Option::is_some)>
                            <p class="field-error" id="rename-error">{move || name_error.get()}</p>
                        </Show>
                        <button id="rename-save" type="submit" disabled=renaming>"Save name"</button>
                        <span role="status" id="rename-saved" class="muted">{move || saved.get().then_some(" Saved.")}</span>
                    </form>
                </section>
            </Show>
        </Show>
    }
}
