//! The scope checklist of the key and partner-app forms: permissions, then the patient data
//! categories, each explained in one line.

use leptos::prelude::*;

use crate::scopes::{CATEGORY_SCOPES, PERMISSION_SCOPES, SCOPE_HELP};

/// `patients.contact:read` → `scope-patients-contact-read`, an id usable in the DOM.
pub fn scope_id(scope: &str) -> String {
    format!("scope-{}", scope.replace([':', '.'], "-"))
}

#[component]
pub fn ScopeChecks(
    scopes: RwSignal<Vec<String>>,
    /// The id of the text that describes a problem with the choice, when there is one.
    described_by: Signal<Option<&'static str>>,
) -> impl IntoView {
    let scope_box = move |scope: &'static str| {
        let id = scope_id(scope);
        let label_for = id.clone();
        let help = SCOPE_HELP
            .iter()
            .find(|(s, _)| *s == scope)
            .map(|(_, h)| *h)
            .unwrap_or("");
        view! {
            <label class="scope" for=label_for>
                <input type="checkbox" id=id value=scope
                    prop:checked=move || scopes.with(|l| l.iter().any(|s| s == scope))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        scopes.update(|list| {
                            list.retain(|s| s != scope);
                            if on { list.push(scope.to_owned()); }
                        });
                    }/>
                <span><code>{scope}</code><span class="muted">" — "{help}</span></span>
            </label>
        }
    };
    view! {
        <fieldset aria-describedby=described_by>
            <legend>"Permissions"</legend>
            {PERMISSION_SCOPES.iter().map(|s| scope_box(s)).collect_view()}
        </fieldset>
        <fieldset aria-describedby=described_by>
            <legend>"Patient data categories"</legend>
            {CATEGORY_SCOPES.iter().map(|s| scope_box(s)).collect_view()}
        </fieldset>
    }
}
