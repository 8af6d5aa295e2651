use leptos::prelude::*;
use leptos_router::components::A;

use super::key_form::KeyForm;
use super::keys::{KeyActions, KeyView, group, limits, text};
use super::secret::SecretPanel;
use super::{NavLink, PageHeading, environment_words, send, utc};
use crate::queries::{ApiKeys, api_keys};

/// The secrets' prefixes of a key: the newest, then the old ones still working.
fn prefixes(view: &KeyView) -> String {
    std::iter::once(&view.key)
        .chain(view.old.iter())
        .map(|k| format!("{}…", text(k.prefix.clone())))
        .collect::<Vec<_>>()
        .join(" + ")
}

#[component]
pub fn ApiConsole() -> impl IntoView {
    let (data, set_data) = signal(None::<api_keys::ResponseData>);
    let (message, set_message) = signal(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let (show_revoked, set_show_revoked) = signal(false);

    let load = Callback::new(move |_| {
        send::<ApiKeys>(api_keys::Variables, set_message, None, move |d| {
            set_data.set(Some(d))
        })
    });
    load.run(());
    let on_secret = Callback::new(move |s| secret.set(Some(s)));
    let on_created = Callback::new(move |s| {
        secret.set(Some(s));
        load.run(());
    });
    let clients = Signal::derive(move || data.get().and_then(|d| d.clients).unwrap_or_default());
    let views = move || group(data.get().and_then(|d| d.api_keys).unwrap_or_default());
    let revoked_count = move || views().iter().filter(|v| v.revoked()).count();

    let rows = move || {
        let clients = clients.get();
        let show_revoked = show_revoked.get();
        let mut list = views();
        // Newest first.
        list.reverse();
        list.into_iter()
            .filter(|v| show_revoked || !v.revoked())
            .map(|v| {
                let (client_limits, location_limits) = limits(&v.key, &clients);
                let k = v.key.clone();
                let scopes = k.scopes.clone().unwrap_or_default();
                let detail = format!("/settings/api-console/keys/{}", v.id());
                let (name, row_name, id, secrets) = (v.name(), v.name(), v.id(), prefixes(&v));
                let (status, environment) = (v.status_words(), environment_words(&v.environment()));
                view! {
                    <tr data-key-name=row_name data-key-id=id>
                        <td>
                            <A href=detail attr:class="key-link">{name}</A><br/>
                            <code class="muted prefixes">{secrets}</code><br/>
                            <span class="environment">{environment}</span>
                        </td>
                        <td class="access">
                            <span class="scopes">{scopes.join(", ")}</span><br/>
                            <span class="limits">"Clients: "{client_limits}<br/>"Locations: "{location_limits}</span>
                        </td>
                        <td>
                            <span class="status">{status}</span><br/>
                            <span class="muted">"Last used: "{utc(k.last_used_at.as_deref(), false)}</span><br/>
                            <span class="muted">"Expires: "{k.expires_at.as_deref().map_or_else(|| "never".to_owned(), |e| utc(Some(e), false))}</span>
                        </td>
                        <td class="created">
                            {utc(k.created_at.as_deref(), false)}<br/>
                            <span class="muted">"by "{k.created_by.clone().unwrap_or_else(|| "the command line".into())}</span>
                        </td>
                        <td class="actions">
                            <KeyActions view=v set_message on_secret reload=load/>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };

    view! {
        <PageHeading title="API Console"/>
        <p class="muted">"API keys let private integrations call the GraphQL API. A key's secret is shown once, when it is created or rotated; only a hash is stored."</p>
        <p><NavLink href="/settings/api-console/webhooks" id="nav-webhooks">"Webhooks ›"</NavLink>" — endpoints that receive system events, and their delivery logs."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="keys-message">{move || message.get()}</p>
        </Show>
        <SecretPanel secret/>
        <KeyForm clients on_created/>
        <section class="card" aria-labelledby="keys-heading">
            <h2 id="keys-heading">"Keys"</h2>
            <label class="check" for="show-revoked">
                <input type="checkbox" id="show-revoked" prop:checked=show_revoked
                    on:change=move |ev| set_show_revoked.set(event_target_checked(&ev))/>
                {move || format!("Show revoked keys ({})", revoked_count())}
            </label>
            <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <table id="keys">
                    <thead><tr>
                        <th scope="col">"Key"</th><th scope="col">"Access"</th><th scope="col">"Status"</th>
                        <th scope="col">"Created"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
        </section>
    }
}
