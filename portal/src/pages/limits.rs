//! Allowed addresses and a request rate: the card on a key's and on a partner app's page, and
//! the pieces the server-wide settings use too.

use leptos::prelude::*;

use super::focus;
use crate::api::ApiError;

/// The addresses typed in a text box (one per line, or separated by commas); none typed is
/// `None`: anywhere.
pub fn address_list(text: &str) -> Option<Vec<String>> {
    let list: Vec<String> = text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// A list as the text box shows it.
pub fn address_text(list: Option<&[String]>) -> String {
    list.map(|l| l.join("\n")).unwrap_or_default()
}

/// What the card saves.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsForm {
    pub allowed_ips: Option<Vec<String>>,
    pub rate: Option<(i64, i64)>,
}

/// Hands a refused save back to the card, or leaves for the sign-in page when the session is
/// gone.
pub fn refused(err: ApiError, reply: Callback<Option<ApiError>>) {
    if err == ApiError::SessionExpired {
        super::expire_session();
    } else {
        reply.run(Some(err));
    }
}

/// Which of the card's fields a refusal points at.
fn field_of(path: &str) -> &'static str {
    if path.contains("rateLimit") {
        "rate"
    } else {
        "addresses"
    }
}

/// Two numbers typed for a rate: both whole and positive, or the field's complaint.
pub fn parse_rate(per_minute: &str, burst: &str) -> Result<(i64, i64), &'static str> {
    let per_minute = per_minute.trim().parse::<i64>().ok().filter(|n| *n > 0);
    let burst = burst.trim().parse::<i64>().ok().filter(|n| *n > 0);
    match (per_minute, burst) {
        (Some(p), Some(b)) => Ok((p, b)),
        _ => Err("Give the rate as two whole numbers above zero: requests a minute, and at once."),
    }
}

/// The card. `save` is given what to save and a callback to report the server's answer
/// (`None`: saved).
#[component]
pub fn LimitsCard(
    /// Prefix of the element ids (`key`, `app`).
    prefix: &'static str,
    current: LimitsForm,
    save: Callback<(LimitsForm, Callback<Option<ApiError>>)>,
) -> impl IntoView {
    let id = move |what: &str| format!("{prefix}-{what}");
    let addresses = RwSignal::new(address_text(current.allowed_ips.as_deref()));
    let own_rate = RwSignal::new(current.rate.is_some());
    let (per_minute, burst) = current.rate.unwrap_or((600, 100));
    let per_minute = RwSignal::new(per_minute.to_string());
    let burst = RwSignal::new(burst.to_string());
    let error = RwSignal::new(None::<(&'static str, String)>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error_on = move |field: &'static str| {
        move || {
            error.with(|e| {
                e.as_ref()
                    .filter(|(f, _)| *f == field)
                    .map(|(_, t)| t.clone())
            })
        }
    };
    let refuse = move |field: &'static str, text: String| {
        error.set(Some((field, text)));
        let target = if field == "rate" {
            id("per-minute")
        } else {
            id("addresses")
        };
        request_animation_frame(move || focus(&target));
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        error.set(None);
        let rate = if own_rate.get_untracked() {
            match parse_rate(&per_minute.get_untracked(), &burst.get_untracked()) {
                Ok(rate) => Some(rate),
                Err(text) => return refuse("rate", text.to_owned()),
            }
        } else {
            None
        };
        let form = LimitsForm {
            allowed_ips: address_list(&addresses.get_untracked()),
            rate,
        };
        busy.set(true);
        save.run((
            form,
            Callback::new(move |answer: Option<ApiError>| {
                busy.set(false);
                match answer {
                    None => saved.set(true),
                    Some(ApiError::Invalid { field, text }) => refuse(field_of(&field), text),
                    Some(other) => error.set(Some(("addresses", other.text()))),
                }
            }),
        ));
    };

    view! {
        <section class="card" aria-labelledby=id("limits-heading")>
            <h2 id=id("limits-heading")>"Addresses and rate"</h2>
            <form on:submit=submit novalidate>
                <label for=id("addresses")>"Allowed addresses"</label>
                <p class="muted" id=id("addresses-help")>
                    "One address or CIDR range per line, IPv4 or IPv6. Empty: anywhere the server-wide list allows. A request from elsewhere is refused (IP_NOT_ALLOWED) and recorded in the audit trail."
                </p>
                <textarea id=id("addresses") rows="4"
                    aria-invalid=move || error_on("addresses")().is_some().to_string()
                    aria-describedby=move || {
                        let help = id("addresses-help");
                        if error_on("addresses")().is_some() { format!("{help} {}", id("addresses-error")) } else { help }
                    }
                    prop:value=addresses on:input=move |ev| addresses.set(event_target_value(&ev))></textarea>
                <Show when=move || error_on("addresses")().is_some()>
                    <p class="field-error" id=id("addresses-error")>{error_on("addresses")}</p>
                </Show>
                <label class="check" for=id("own-rate")>
                    <input type="checkbox" id=id("own-rate")
                        prop:checked=own_rate on:change=move |ev| own_rate.set(event_target_checked(&ev))/>
                    "Its own request rate (otherwise the server-wide default)"
                </label>
                <Show when=move || own_rate.get()>
                    <fieldset aria-describedby=move || error_on("rate")().is_some().then(|| id("rate-error"))>
                        <legend>"Rate"</legend>
                        <label for=id("per-minute")>"Requests a minute"</label>
                        <input id=id("per-minute") type="number" min="1" max="1000000"
                            aria-invalid=move || error_on("rate")().is_some().to_string()
                            prop:value=per_minute on:input=move |ev| per_minute.set(event_target_value(&ev))/>
                        <label for=id("burst")>"At once, after a quiet spell"</label>
                        <input id=id("burst") type="number" min="1" max="100000"
                            aria-invalid=move || error_on("rate")().is_some().to_string()
                            prop:value=burst on:input=move |ev| burst.set(event_target_value(&ev))/>
                    </fieldset>
                </Show>
                <Show when=move || error_on("rate")().is_some()>
                    <p class="field-error" id=id("rate-error")>{error_on("rate")}</p>
                </Show>
                <button id=id("limits-save") type="submit" disabled=busy>"Save addresses and rate"</button>
                <span role="status" id=id("limits-saved") class="muted">{move || saved.get().then_some(" Saved.")}</span>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_per_line_or_comma() {
        assert_eq!(address_list("  \n "), None);
        assert_eq!(
            address_list("10.0.0.0/8\n 2001:db8::/32 ,192.0.2.1\n"),
            Some(vec![
                "10.0.0.0/8".to_owned(),
                "2001:db8::/32".to_owned(),
                "192.0.2.1".to_owned()
            ])
        );
        assert_eq!(address_text(Some(&["a".into(), "b".into()])), "a\nb");
    }

    #[test]
    fn rates_are_two_positive_numbers() {
        assert_eq!(parse_rate("60", " 5 "), Ok((60, 5)));
        assert!(parse_rate("0", "5").is_err());
        assert!(parse_rate("sixty", "5").is_err());
        assert_eq!(field_of("input.rateLimit.burst"), "rate");
        assert_eq!(field_of("input.allowedIps[2]"), "addresses");
    }
}
