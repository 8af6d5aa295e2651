use leptos::prelude::*;

use super::{confirm, send, utc};
use crate::api::name_of;
use crate::queries::{
    ApiKeys, CreateApiKey, EndApiKeyRotation, RevokeApiKey, RotateApiKey, api_keys, create_api_key,
    end_api_key_rotation, revoke_api_key, rotate_api_key,
};
use crate::scopes::{CATEGORY_SCOPES, PERMISSION_SCOPES};

/// `patients.contact:read` → `scope-patients-contact-read`, an id usable in the DOM.
fn scope_id(scope: &str) -> String {
    format!("scope-{}", scope.replace([':', '.'], "-"))
}

/// A value the answer may leave out, for display.
fn text(value: Option<String>) -> String {
    value.unwrap_or_else(|| "—".into())
}

/// The environment chosen in the form, as the API's enum.
fn environment_of(raw: &str) -> create_api_key::Environment {
    match raw {
        "PRODUCTION" => create_api_key::Environment::PRODUCTION,
        _ => create_api_key::Environment::SANDBOX,
    }
}

/// The form's checks, before anything is sent.
fn check_form(name: &str, scopes: &[String]) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("Give the key a name, so you can recognise it later.")
    } else if name.chars().count() > 100 {
        Some("The name can be at most 100 characters.")
    } else if scopes.is_empty() {
        Some("Choose at least one scope.")
    } else {
        None
    }
}

#[component]
pub fn ApiConsole() -> impl IntoView {
    let (data, set_data) = signal(None::<api_keys::ResponseData>);
    let (message, set_message) = signal(None::<String>);
    let (secret, set_secret) = signal(None::<(String, String)>);
    let (copied, set_copied) = signal(false);
    let (busy, set_busy) = signal(false);

    let (name, set_name) = signal(String::new());
    let (environment, set_environment) = signal("SANDBOX".to_owned());
    let (scopes, set_scopes) = signal(Vec::<String>::new());
    let (clients, set_clients) = signal(Vec::<String>::new());
    let (expires, set_expires) = signal(String::new());

    let load = move || {
        send::<ApiKeys>(api_keys::Variables, set_message, None, move |d| {
            set_data.set(Some(d))
        })
    };
    // A new or rotated key's secret, shown once.
    let show_secret = move |name: String, secret: String| {
        set_copied.set(false);
        set_secret.set(Some((name, secret)));
    };
    load();

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = scopes.get_untracked();
        if let Some(problem) = check_form(&name.get_untracked(), &chosen) {
            set_message.set(Some(problem.into()));
            return;
        }
        let restrict = clients.get_untracked();
        let exp = expires.get_untracked();
        let input = create_api_key::CreateApiKeyInput {
            name: name.get_untracked().trim().to_owned(),
            scopes: chosen,
            environment: environment_of(&environment.get_untracked()),
            client_ids: (!restrict.is_empty()).then_some(restrict),
            location_ids: None,
            // datetime-local gives local wall time without a zone; the portal treats it as UTC
            // and says so next to the field.
            expires_at: (!exp.is_empty()).then(|| format!("{exp}:00Z")),
        };
        set_message.set(None);
        send::<CreateApiKey>(
            create_api_key::Variables { input },
            set_message,
            Some(set_busy),
            move |d| {
                if let Some(issued) = d.create_api_key {
                    show_secret(text(issued.api_key.name), issued.secret);
                }
                set_name.set(String::new());
                set_scopes.set(Vec::new());
                set_clients.set(Vec::new());
                set_expires.set(String::new());
                load();
            },
        );
    };

    let rotate = move |id: String, key_name: String| {
        if !confirm(&format!(
            "Rotate \"{key_name}\"? A new secret is issued; the current one keeps working for 24 hours, then stops."
        )) {
            return;
        }
        let vars = rotate_api_key::Variables { id, grace: 86400 };
        send::<RotateApiKey>(vars, set_message, None, move |d| {
            if let Some(issued) = d.rotate_api_key {
                show_secret(text(issued.api_key.name), issued.secret);
            }
            load();
        });
    };

    let revoke = move |id: String, key_name: String| {
        if !confirm(&format!(
            "Revoke \"{key_name}\"? Every secret of this key, the old and the new one of a rotation included, stops working immediately. This cannot be undone."
        )) {
            return;
        }
        send::<RevokeApiKey>(
            revoke_api_key::Variables { id },
            set_message,
            None,
            move |_| load(),
        );
    };

    // A leaked old secret should not have to wait out the grace period.
    let end_rotation = move |id: String, key_name: String| {
        if !confirm(&format!(
            "End the rotation of \"{key_name}\" now? Its old secret stops working immediately; the new one keeps working."
        )) {
            return;
        }
        send::<EndApiKeyRotation>(
            end_api_key_rotation::Variables { id },
            set_message,
            None,
            move |_| load(),
        );
    };

    let copy = move |_| {
        if let (Some((_, s)), Some(window)) = (secret.get_untracked(), web_sys::window()) {
            let _ = window.navigator().clipboard().write_text(&s);
            set_copied.set(true);
        }
    };

    let scope_box = move |scope: &'static str| {
        let id = scope_id(scope);
        let label_for = id.clone();
        view! {
            <label class="check" for=label_for>
                <input type="checkbox" id=id value=scope
                    prop:checked=move || scopes.get().iter().any(|s| s == scope)
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        set_scopes.update(|list| {
                            list.retain(|s| s != scope);
                            if on { list.push(scope.to_owned()); }
                        });
                    }/>
                <code>{scope}</code>
            </label>
        }
    };

    let client_boxes = move || {
        let env = environment.get();
        let list = data.get().and_then(|d| d.clients).unwrap_or_default();
        list.into_iter()
            .filter(|c| name_of(&c.environment) == env)
            .map(|c| {
                let id = c.id;
                let dom_id = format!("client-{id}");
                let label_for = dom_id.clone();
                let id_for_check = id.clone();
                view! {
                    <label class="check" for=label_for>
                        <input type="checkbox" id=dom_id
                            prop:checked=move || clients.get().contains(&id_for_check)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let id = id.clone();
                                set_clients.update(|l| { l.retain(|c| *c != id); if on { l.push(id); } });
                            }/>
                        {c.name}
                    </label>
                }
            })
            .collect_view()
    };

    let rows = move || {
        let keys = data.get().and_then(|d| d.api_keys).unwrap_or_default();
        keys.into_iter()
            .rev()
            .map(|k| {
                let id = text(k.id.clone());
                let key_name = text(k.name.clone());
                let status = k.status.as_ref().map(name_of).unwrap_or_default();
                let usable = status == "ACTIVE";
                let scopes = k.scopes.clone().unwrap_or_default().join(", ");
                let (rid, rname) = (id.clone(), key_name.clone());
                let (vid, vname) = (id.clone(), key_name.clone());
                let (eid, ename) = (id.clone(), key_name.clone());
                let rotating = status == "ROTATING";
                let row_name = key_name.clone();
                view! {
                    <tr data-key-name=row_name data-key-id=id>
                        <td>{key_name}<br/><code class="muted">{text(k.prefix.clone())}"…"</code></td>
                        <td>{text(k.environment.as_ref().map(name_of))}</td>
                        <td class="scopes">{scopes}</td>
                        <td class="status">{status.clone()}</td>
                        <td>{utc(k.last_used_at.as_deref(), false)}</td>
                        <td>{utc(k.expires_at.as_deref(), false)}</td>
                        <td class="actions">
                            <Show when=move || usable>
                                <button class="rotate" on:click={
                                    let (rid, rname) = (rid.clone(), rname.clone());
                                    move |_| rotate(rid.clone(), rname.clone())
                                }>"Rotate"</button>
                            </Show>
                            <Show when=move || rotating>
                                <button class="end-rotation" on:click={
                                    let (eid, ename) = (eid.clone(), ename.clone());
                                    move |_| end_rotation(eid.clone(), ename.clone())
                                }>"Expire old secret now"</button>
                            </Show>
                            <Show when={let s = status.clone(); move || s != "REVOKED"}>
                                <button class="revoke danger" on:click={
                                    let (vid, vname) = (vid.clone(), vname.clone());
                                    move |_| revoke(vid.clone(), vname.clone())
                                }>"Revoke"</button>
                            </Show>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };

    view! {
        <h1>"API Console"</h1>
        <p class="muted">"API keys let private integrations call the GraphQL API. A key's secret is shown once, when it is created or rotated; only a hash is stored."</p>
        <Show when=move || message.get().is_some()>
            <p class="error" role="alert" id="console-message">{move || message.get()}</p>
        </Show>
        <Show when=move || secret.get().is_some()>
            <section class="card secret" aria-live="polite" id="secret-panel">
                <h2>{move || secret.get().map(|(n, _)| format!("Secret of \"{n}\""))}</h2>
                <p><strong>"Copy this secret now. It will not be shown again."</strong></p>
                <code id="new-secret">{move || secret.get().map(|(_, s)| s)}</code>
                <div class="row">
                    <button id="copy-secret" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                    <button id="secret-done" class="link" on:click=move |_| set_secret.set(None)>"I have stored it"</button>
                </div>
            </section>
        </Show>
        <section class="card">
            <h2>"Create a key"</h2>
            <form on:submit=create novalidate>
                <label for="key-name">"Name"</label>
                <input id="key-name" type="text" maxlength="100" placeholder="e.g. LIS results feed"
                    prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev))/>
                <label for="key-environment">"Environment"</label>
                <select id="key-environment" on:change=move |ev| { set_environment.set(event_target_value(&ev)); set_clients.set(Vec::new()); }>
                    <option value="SANDBOX" selected=move || environment.get() == "SANDBOX">"Sandbox (test data)"</option>
                    <option value="PRODUCTION" selected=move || environment.get() == "PRODUCTION">"Production"</option>
                </select>
                <fieldset>
                    <legend>"Permissions"</legend>
                    {PERMISSION_SCOPES.iter().map(|s| scope_box(s)).collect_view()}
                </fieldset>
                <fieldset>
                    <legend>"Patient data categories"</legend>
                    {CATEGORY_SCOPES.iter().map(|s| scope_box(s)).collect_view()}
                </fieldset>
                <fieldset>
                    <legend>"Limit to clients (none chosen: all clients of the environment)"</legend>
                    {client_boxes}
                </fieldset>
                <label for="key-expires">"Expires (UTC, optional)"</label>
                <input id="key-expires" type="datetime-local"
                    prop:value=expires on:input=move |ev| set_expires.set(event_target_value(&ev))/>
                <button id="create-key" type="submit" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create key" }}
                </button>
            </form>
        </section>
        <section class="card">
            <h2>"Keys"</h2>
            <Show when=move || data.get().is_some() fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <table id="keys">
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Environment"</th><th scope="col">"Scopes"</th>
                        <th scope="col">"Status"</th><th scope="col">"Last used"</th><th scope="col">"Expires"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{check_form, scope_id};

    #[test]
    fn form_checks() {
        assert!(check_form("", &["patients:read".into()]).is_some());
        assert!(check_form("feed", &[]).is_some());
        assert!(check_form("feed", &["patients:read".into()]).is_none());
        assert_eq!(
            scope_id("patients.contact:read"),
            "scope-patients-contact-read"
        );
    }
}
