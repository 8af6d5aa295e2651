//! What the key list and a key's page share: a rotated key shown as one key with several
//! secrets, its limits and status in words, and the actions on it (each confirmed in the
//! shell's dialog).

use leptos::prelude::*;

use super::dialog::{Ask, use_ask};
use super::{send, utc};
use crate::api::name_of;
use crate::queries::{
    EndApiKeyRotation, RevokeApiKey, RotateApiKey, api_keys, end_api_key_rotation, revoke_api_key,
    rotate_api_key,
};

pub type Key = api_keys::ApiKeysApiKeys;
pub type ClientInfo = api_keys::ApiKeysClients;

/// A value the answer may leave out, for display.
pub fn text(value: Option<String>) -> String {
    value.unwrap_or_else(|| "—".into())
}

/// One key as an administrator sees it: its newest secret (`key`, whose id the actions use)
/// and the older secrets of its rotation that still work.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyView {
    pub key: Key,
    pub old: Vec<Key>,
}

impl KeyView {
    pub fn id(&self) -> String {
        text(self.key.id.clone())
    }
    pub fn name(&self) -> String {
        text(self.key.name.clone())
    }
    pub fn status(&self) -> String {
        self.key.status.as_ref().map(name_of).unwrap_or_default()
    }
    pub fn revoked(&self) -> bool {
        self.status() == "REVOKED"
    }
    pub fn environment(&self) -> String {
        self.key
            .environment
            .as_ref()
            .map(name_of)
            .unwrap_or_default()
    }
    /// The status in words, with how long an old secret keeps working.
    pub fn status_words(&self) -> String {
        let mut words = match self.status().as_str() {
            "ACTIVE" => "Active".to_owned(),
            "EXPIRED" => "Expired".to_owned(),
            "REVOKED" => "Revoked".to_owned(),
            other => other.to_lowercase(),
        };
        if !self.old.is_empty() {
            words.push_str(" · rotating: the old secret works until ");
            words.push_str(&utc(self.old[0].expires_at.as_deref(), false));
        }
        words
    }
}

/// Folds each rotation chain into the key at its end (the newest secret). Older secrets are
/// kept while they still work; expired or revoked ones are history, in the audit trail.
pub fn group(keys: Vec<Key>) -> Vec<KeyView> {
    let newest_of = |start: &Key| {
        let mut current = start.clone();
        // A chain is short; the bound only guards against a malformed answer.
        for _ in 0..keys.len() {
            let Some(next) = current
                .rotated_to_id
                .as_ref()
                .and_then(|to| keys.iter().find(|k| k.id.as_ref() == Some(to)))
            else {
                break;
            };
            current = next.clone();
        }
        current.id
    };
    let mut views: Vec<KeyView> = keys
        .iter()
        .filter(|k| k.rotated_to_id.is_none())
        .map(|k| KeyView {
            key: k.clone(),
            old: Vec::new(),
        })
        .collect();
    for old in keys.iter().filter(|k| k.rotated_to_id.is_some()) {
        let still_works = old.status.as_ref().map(name_of).as_deref() == Some("ROTATING");
        let head = newest_of(old);
        if let Some(view) = views.iter_mut().find(|v| v.key.id == head)
            && still_works
        {
            view.old.push(old.clone());
        }
    }
    views
}

/// A key's client and location limits in words, by name.
pub fn limits(key: &Key, clients: &[ClientInfo]) -> (String, String) {
    let env = key.environment.as_ref().map(name_of).unwrap_or_default();
    let client_words = match &key.client_ids {
        None => format!(
            "All {} clients",
            if env == "PRODUCTION" {
                "production"
            } else {
                "sandbox"
            }
        ),
        Some(ids) => ids
            .iter()
            .map(|id| {
                clients
                    .iter()
                    .find(|c| &c.id == id)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    let location_words = match &key.location_ids {
        None => "All locations".to_owned(),
        Some(ids) => ids
            .iter()
            .map(|id| {
                clients
                    .iter()
                    .flat_map(|c| c.locations.iter())
                    .find(|l| &l.id == id)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    (client_words, location_words)
}

/// How long a rotated key's old secret keeps working: the choices offered, in seconds.
pub(super) const GRACE_CHOICES: &[(i64, &str)] = &[
    (0, "Stop it immediately"),
    (3600, "1 hour"),
    (86_400, "24 hours (recommended)"),
    (604_800, "7 days"),
    (2_592_000, "30 days (the longest allowed)"),
];
pub(super) const DEFAULT_GRACE: i64 = 86_400;

/// Rotate, end a rotation, revoke: the buttons for one key, each asking first.
#[component]
pub fn KeyActions(
    view: KeyView,
    set_message: WriteSignal<Option<String>>,
    /// Called with the key's name and a new secret to show once.
    on_secret: Callback<(String, String)>,
    /// Called after any change, to show the key as it is now.
    reload: Callback<()>,
) -> impl IntoView {
    let ask = use_ask();
    let (id, name) = (view.id(), view.name());
    let usable = view.status() == "ACTIVE";
    let rotating = !view.old.is_empty();
    let revoked = view.revoked();

    let rotate = {
        let (id, name) = (id.clone(), name.clone());
        move |_| {
            let grace = RwSignal::new(DEFAULT_GRACE);
            let id = id.clone();
            ask.set(Some(Ask {
                title: format!("Rotate \"{name}\"?"),
                text: "A new secret is issued with the same permissions and limits. Until the old secret stops working, both work, so the integration can switch over.".into(),
                confirm: "Rotate key",
                danger: false,
                extra: Some(ViewFn::from(move || view! {
                    <label for="rotate-grace">"The old secret keeps working for"</label>
                    <select id="rotate-grace" on:change=move |ev| {
                        grace.set(event_target_value(&ev).parse().unwrap_or(DEFAULT_GRACE))
                    }>
                        {GRACE_CHOICES.iter().map(|(secs, words)| view! {
                            <option value=secs.to_string() selected=*secs == DEFAULT_GRACE>{*words}</option>
                        }).collect_view()}
                    </select>
                })),
                then: Callback::new(move |_| {
                    let vars = rotate_api_key::Variables {
                        id: id.clone(),
                        grace: grace.get_untracked(),
                    };
                    send::<RotateApiKey>(vars, set_message, None, move |d| {
                        if let Some(issued) = d.rotate_api_key {
                            on_secret.run((text(issued.api_key.name), issued.secret));
                        }
                        reload.run(());
                    });
                }),
            }));
        }
    };

    // A leaked old secret should not have to wait out the grace period.
    let end_rotation = {
        let (id, name) = (id.clone(), name.clone());
        move |_| {
            let id = id.clone();
            ask.set(Some(Ask {
                title: format!("Stop the old secret of \"{name}\" now?"),
                text: "The old secret stops working immediately; the new one keeps working.".into(),
                confirm: "Stop old secret",
                danger: true,
                extra: None,
                then: Callback::new(move |_| {
                    let vars = end_api_key_rotation::Variables { id: id.clone() };
                    send::<EndApiKeyRotation>(vars, set_message, None, move |_| reload.run(()));
                }),
            }));
        }
    };

    let revoke = move |_| {
        let id = id.clone();
        ask.set(Some(Ask {
            title: format!("Revoke \"{name}\"?"),
            text: "Every secret of this key, the old and the new one of a rotation included, stops working immediately. This cannot be undone.".into(),
            confirm: "Revoke key",
            danger: true,
            extra: None,
            then: Callback::new(move |_| {
                let vars = revoke_api_key::Variables { id: id.clone() };
                send::<RevokeApiKey>(vars, set_message, None, move |_| reload.run(()));
            }),
        }));
    };

    view! {
        <Show when=move || usable>
            <button type="button" class="rotate secondary" on:click=rotate.clone()>"Rotate"</button>
        </Show>
        <Show when=move || rotating>
            <button type="button" class="end-rotation secondary" on:click=end_rotation.clone()>"Stop old secret"</button>
        </Show>
        <Show when=move || !revoked>
            <button type="button" class="revoke danger" on:click=revoke.clone()>"Revoke"</button>
        </Show>
    }
}
