//! The Settings card of server-wide protection: the addresses every integration must call
//! from, and the request rates of credentials and of anonymous addresses.

use leptos::prelude::*;

use super::limits::{address_list, address_text, parse_rate};
use super::{focus, send, send_with};
use crate::api::ApiError;
use crate::queries::{
    ProtectionSettings, SetProtectionSettings, protection_settings, set_protection_settings,
};

/// The two numbers of a rate as typed.
#[derive(Clone, Copy)]
struct RateFields {
    per_minute: RwSignal<String>,
    burst: RwSignal<String>,
}

impl RateFields {
    fn new() -> Self {
        RateFields {
            per_minute: RwSignal::new(String::new()),
            burst: RwSignal::new(String::new()),
        }
    }
    fn show(&self, per_minute: i64, burst: i64) {
        self.per_minute.set(per_minute.to_string());
        self.burst.set(burst.to_string());
    }
    fn read(&self) -> Result<set_protection_settings::RateLimitInput, &'static str> {
        let (per_minute, burst) = parse_rate(
            &self.per_minute.get_untracked(),
            &self.burst.get_untracked(),
        )?;
        Ok(set_protection_settings::RateLimitInput { per_minute, burst })
    }
}

#[component]
fn RateInputs(
    id: &'static str,
    legend: &'static str,
    help: &'static str,
    fields: RateFields,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    view! {
        <fieldset aria-describedby=move || error.with(Option::is_some).then(|| format!("{id}-error"))>
            <legend>{legend}</legend>
            <p class="muted">{help}</p>
            <label for=format!("{id}-per-minute")>"Requests a minute"</label>
            <input id=format!("{id}-per-minute") type="number" min="1" max="1000000"
                aria-invalid=move || error.with(Option::is_some).to_string()
                prop:value=fields.per_minute on:input=move |ev| fields.per_minute.set(event_target_value(&ev))/>
            <label for=format!("{id}-burst")>"At once, after a quiet spell"</label>
            <input id=format!("{id}-burst") type="number" min="1" max="100000"
                aria-invalid=move || error.with(Option::is_some).to_string()
                prop:value=fields.burst on:input=move |ev| fields.burst.set(event_target_value(&ev))/>
        </fieldset>
        <Show when=move || error.with(Option::is_some)>
            <p class="field-error" id=error_id.clone()>{move || error.get()}</p>
        </Show>
    }
}

#[component]
pub fn ProtectionCard() -> impl IntoView {
    let (message, set_message) = signal(None::<String>);
    let (loaded, set_loaded) = signal(false);
    let (busy, set_busy) = signal(false);
    let saved = RwSignal::new(false);
    let addresses = RwSignal::new(String::new());
    let proxies = RwSignal::new(Vec::<String>::new());
    let credential = RateFields::new();
    let address = RateFields::new();
    // (field, text): "addresses", "credential" or "address".
    let error = RwSignal::new(None::<(&'static str, String)>);
    let error_on = move |field: &'static str| {
        Signal::derive(move || {
            error.with(|e| {
                e.as_ref()
                    .filter(|(f, _)| *f == field)
                    .map(|(_, t)| t.clone())
            })
        })
    };
    let refuse = move |field: &'static str, text: String| {
        error.set(Some((field, text)));
        let target = match field {
            "credential" => "credential-rate-per-minute",
            "address" => "address-rate-per-minute",
            _ => "protection-addresses",
        };
        request_animation_frame(move || focus(target));
    };

    send::<ProtectionSettings>(
        protection_settings::Variables,
        set_message,
        None,
        move |d| {
            if let Some(p) = d.protection_settings {
                addresses.set(address_text(p.allowed_ips.as_deref()));
                proxies.set(p.trusted_proxies);
                credential.show(
                    p.credential_rate_limit.per_minute,
                    p.credential_rate_limit.burst,
                );
                address.show(p.address_rate_limit.per_minute, p.address_rate_limit.burst);
                set_loaded.set(true);
            }
        },
    );

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        error.set(None);
        let credential_rate = match credential.read() {
            Ok(rate) => rate,
            Err(text) => return refuse("credential", text.to_owned()),
        };
        let address_rate = match address.read() {
            Ok(rate) => rate,
            Err(text) => return refuse("address", text.to_owned()),
        };
        let input = set_protection_settings::ProtectionSettingsInput {
            allowed_ips: address_list(&addresses.get_untracked()),
            credential_rate_limit: credential_rate,
            address_rate_limit: address_rate,
        };
        send_with::<SetProtectionSettings>(
            set_protection_settings::Variables { input },
            Some(set_busy),
            move |d| {
                if let Some(p) = d.set_protection_settings {
                    addresses.set(address_text(p.allowed_ips.as_deref()));
                }
                saved.set(true);
            },
            move |err| match err {
                ApiError::Invalid { field, text } => refuse(
                    if field.contains("credentialRateLimit") {
                        "credential"
                    } else if field.contains("addressRateLimit") {
                        "address"
                    } else {
                        "addresses"
                    },
                    text,
                ),
                other => super::handle_error(other, set_message),
            },
        );
    };

    view! {
        <section class="card" aria-labelledby="protection-heading">
            <h2 id="protection-heading">"Allowed addresses and request rates"</h2>
            <Show when=move || message.get().is_some()>
                <p class="error" role="alert">{move || message.get()}</p>
            </Show>
            <Show when=move || loaded.get() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <form on:submit=submit novalidate id="protection-form">
                    <label for="protection-addresses">"Addresses every integration must call from"</label>
                    <p class="muted" id="protection-addresses-help">
                        "One address or CIDR range per line, IPv4 or IPv6. Every API key and partner app is held to it, besides its own list; portal sign-ins are not. Empty: anywhere."
                    </p>
                    <textarea id="protection-addresses" rows="4"
                        aria-invalid=move || error_on("addresses").with(Option::is_some).to_string()
                        aria-describedby=move || if error_on("addresses").with(Option::is_some) { "protection-addresses-help protection-addresses-error" } else { "protection-addresses-help" }
                        prop:value=addresses on:input=move |ev| addresses.set(event_target_value(&ev))></textarea>
                    <Show when=move || error_on("addresses").with(Option::is_some)>
                        <p class="field-error" id="protection-addresses-error">{move || error_on("addresses").get()}</p>
                    </Show>
                    <RateInputs id="credential-rate" legend="Rate of a credential without its own"
                        help="Each API key, partner app and portal user. Past it, requests are answered 429 with when to retry."
                        fields=credential error=error_on("credential")/>
                    <RateInputs id="address-rate" legend="Rate of one address without a credential"
                        help="Sign-ins, the token endpoint and wrong keys, counted per client address (IPv6 per /64)."
                        fields=address error=error_on("address")/>
                    <p class="muted" id="trusted-proxies">
                        {move || {
                            let list = proxies.get();
                            if list.is_empty() {
                                "Trusted proxies: none (server.trusted_proxies). The client's address is the connection's.".to_owned()
                            } else {
                                format!("Trusted proxies (server.trusted_proxies): {}. Behind them, X-Forwarded-For and Forwarded name the client.", list.join(", "))
                            }
                        }}
                    </p>
                    <button id="protection-save" type="submit" disabled=busy>"Save"</button>
                    <span role="status" id="protection-saved" class="muted">{move || saved.get().then_some(" Saved.")}</span>
                </form>
            </Show>
        </section>
    }
}
