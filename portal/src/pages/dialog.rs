//! Confirmations in a modal `<dialog>`: the browser keeps focus inside it, Escape cancels, it
//! is announced with its title and text, and focus returns where it was when it closes. One per
//! signed-in screen (the shell's); a screen asks through `use_ask`.

use leptos::prelude::*;

/// A question before something that cannot be undone.
#[derive(Clone)]
pub struct Ask {
    pub title: String,
    pub text: String,
    /// The confirming button's words ("Revoke key").
    pub confirm: &'static str,
    /// Whether confirming destroys something (the button is styled as a warning).
    pub danger: bool,
    /// More of the question, e.g. a choice the action needs.
    pub extra: Option<ViewFn>,
    /// What confirming does.
    pub then: Callback<()>,
}

/// The shell's question slot: setting it opens the dialog.
pub fn use_ask() -> RwSignal<Option<Ask>> {
    expect_context::<RwSignal<Option<Ask>>>()
}

#[component]
pub fn ConfirmDialog(ask: RwSignal<Option<Ask>>) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        let open = ask.with(Option::is_some);
        if let Some(d) = dialog.get() {
            if open && !d.open() {
                let _ = d.show_modal();
            } else if !open && d.open() {
                d.close();
            }
        }
    });
    let confirm = move |_| {
        if let Some(a) = ask.get_untracked() {
            ask.set(None);
            a.then.run(());
        }
    };
    let field = move |f: fn(&Ask) -> String| move || ask.with(|a| a.as_ref().map(f));
    view! {
        <dialog node_ref=dialog id="confirm-dialog" aria-labelledby="dialog-title"
            aria-describedby="dialog-text" on:close=move |_| ask.set(None)>
            <h2 id="dialog-title">{field(|a| a.title.clone())}</h2>
            <p id="dialog-text">{field(|a| a.text.clone())}</p>
            {move || ask.with(|a| a.as_ref().and_then(|a| a.extra.clone())).map(|v| v.run())}
            <div class="row">
                // First and focused: the safe answer is the default one.
                <button id="dialog-cancel" type="button" class="secondary" autofocus
                    on:click=move |_| ask.set(None)>"Cancel"</button>
                <button id="dialog-confirm" type="button"
                    class=move || if ask.with(|a| a.as_ref().is_some_and(|a| a.danger)) { "danger" } else { "" }
                    on:click=confirm>{field(|a| a.confirm.to_owned())}</button>
            </div>
        </dialog>
    }
}
