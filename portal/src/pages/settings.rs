use leptos::prelude::*;

use super::protection::ProtectionCard;
use super::{PageHeading, send};
use crate::queries::{
    SetDeveloperPortal, Settings as SettingsQuery, set_developer_portal, settings,
};

#[component]
pub fn Settings() -> impl IntoView {
    let (enabled, set_enabled) = signal(None::<bool>);
    let (message, set_message) = signal(None::<String>);
    let (saving, set_saving) = signal(false);
    let (saved, set_saved) = signal(None::<bool>);

    send::<SettingsQuery>(settings::Variables, set_message, None, move |d| {
        set_enabled.set(d.integration_settings.map(|s| s.developer_portal_enabled))
    });

    let toggle = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        set_message.set(None);
        set_saved.set(None);
        send::<SetDeveloperPortal>(
            set_developer_portal::Variables { enabled: on },
            set_message,
            Some(set_saving),
            move |d| {
                let now = d
                    .set_developer_portal_enabled
                    .map(|s| s.developer_portal_enabled);
                set_enabled.set(now);
                set_saved.set(now);
            },
        );
    };

    view! {
        <PageHeading title="Settings"/>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert">{move || message.get()}</p>
        </Show>
        <section class="card">
            <h2>"Developer portal"</h2>
            <p class="muted">
                "When on, developers can explore the documented API in the GraphQL playground and read the schema with their own keys. When off, the playground is gone and only administrators can read the schema; API calls keep working."
            </p>
            <Show when=move || enabled.get().unwrap_or(false)>
                <p><a href="/graphiql" target="_blank" id="graphiql-link">"Open the GraphQL playground"</a></p>
            </Show>
            <Show when=move || enabled.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <label class="check" for="developer-portal">
                    <input type="checkbox" id="developer-portal" role="switch"
                        prop:checked=move || enabled.get().unwrap_or(false)
                        disabled=saving on:change=toggle/>
                    {move || if enabled.get().unwrap_or(false) { "Developer documentation is on" } else { "Developer documentation is off" }}
                </label>
            </Show>
            <p role="status" aria-live="polite" id="settings-saved" class="muted">
                {move || saved.get().map(|on| if on { "Saved: the developer documentation is on." } else { "Saved: the developer documentation is off." })}
            </p>
        </section>
        <ProtectionCard/>
    }
}
