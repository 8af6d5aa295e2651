//! A new secret, shown once, with a copy button that works — or says plainly that it cannot —
//! also where the browser keeps the clipboard API from the page (a plain-HTTP address).

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Why copying failed, in words, with what to do instead.
const CANNOT_COPY: &str = "This browser does not let the page copy here (the portal is not on an HTTPS address). The secret is selected: press Ctrl+C (⌘C on a Mac) to copy it.";

/// Selects the element's text, so that the fallback copies it or the user can.
fn select(el: &web_sys::Element) -> Option<()> {
    let selection = web_sys::window()?.get_selection().ok()??;
    selection.select_all_children(el).ok()
}

/// Copies `secret`: the clipboard API where the page may use it (HTTPS, localhost); elsewhere
/// the selected text with the older copy command. Err when neither worked.
async fn copy(secret: &str, shown_in: &web_sys::Element) -> Result<(), ()> {
    let window = web_sys::window().ok_or(())?;
    let navigator = window.navigator();
    let has_clipboard =
        js_sys::Reflect::get(&navigator, &"clipboard".into()).is_ok_and(|c| !c.is_undefined());
    if window.is_secure_context() && has_clipboard {
        let promise = navigator.clipboard().write_text(secret);
        return wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map(|_| ())
            .map_err(|_| ());
    }
    select(shown_in).ok_or(())?;
    let document = window
        .document()
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .ok_or(())?;
    match document.exec_command("copy") {
        Ok(true) => Ok(()),
        _ => Err(()),
    }
}

#[component]
pub fn SecretPanel(secret: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let (copied, set_copied) = signal(None::<Result<(), ()>>);
    let shown = NodeRef::<leptos::html::Code>::new();
    // A new secret starts uncopied, and the focus goes to its copy button: the one thing to
    // do next, and where a screen reader reads the panel from.
    Effect::new(move |_| {
        if secret.with(Option::is_some) {
            request_animation_frame(|| super::focus("copy-secret"));
        }
        set_copied.set(None);
    });
    let press = move |_| {
        let (Some((_, value)), Some(el)) = (secret.get_untracked(), shown.get_untracked()) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let outcome = copy(&value, &el).await;
            if outcome.is_err() {
                // Whatever failed, leave the secret selected for Ctrl+C.
                let _ = select(&el);
            }
            set_copied.set(Some(outcome));
        });
    };
    view! {
        <Show when=move || secret.get().is_some()>
            <section class="card secret" id="secret-panel" aria-labelledby="secret-heading">
                <h2 id="secret-heading">{move || secret.get().map(|(n, _)| format!("Secret of \"{n}\""))}</h2>
                <p><strong>"Copy this secret now. It will not be shown again."</strong></p>
                <code id="new-secret" node_ref=shown>{move || secret.get().map(|(_, s)| s)}</code>
                <div class="row">
                    <button id="copy-secret" type="button" on:click=press>
                        {move || if copied.get() == Some(Ok(())) { "Copied" } else { "Copy" }}
                    </button>
                    <button id="secret-done" type="button" class="link" on:click=move |_| secret.set(None)>"I have stored it"</button>
                </div>
                <p id="copy-status" role="status" class=move || if copied.get() == Some(Err(())) { "error" } else { "muted" }>
                    {move || match copied.get() {
                        Some(Ok(())) => "Copied to the clipboard.",
                        Some(Err(())) => CANNOT_COPY,
                        None => "",
                    }}
                </p>
            </section>
        </Show>
    }
}
