//! Who did something, as the audit trail records it: a typed value, built from the caller's
//! principal (`access::Principal::who`) and stored as plain columns.

use uuid::Uuid;

use super::role::Role;

/// The kind of party behind a request. The stored names are part of the audit trail's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// No credential (a failed login, a refused anonymous request).
    Anonymous,
    ApiKey,
    /// A portal user's session.
    Admin,
    /// A partner app, by an OAuth access token (on behalf of a user, or its own backend's).
    PartnerApp,
    /// An external service, by a message signed with its connection's inbound secret (a
    /// records service's answer).
    ServiceConnection,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Anonymous => "ANONYMOUS",
            ActorKind::ApiKey => "API_KEY",
            ActorKind::Admin => "ADMIN",
            ActorKind::PartnerApp => "PARTNER_APP",
            ActorKind::ServiceConnection => "SERVICE_CONNECTION",
        }
    }

    /// As stored; an unknown name reads as anonymous (which may do nothing).
    pub fn from_stored(raw: &str) -> Self {
        [
            ActorKind::ApiKey,
            ActorKind::Admin,
            ActorKind::PartnerApp,
            ActorKind::ServiceConnection,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
        .unwrap_or(ActorKind::Anonymous)
    }
}

/// Who an audit event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    pub kind: ActorKind,
    /// The credential's or user's id; none for anonymous callers.
    pub id: Option<Uuid>,
    /// A human label: a key's name, a user's email, or the email a failed login named.
    pub label: String,
    /// The user on whose behalf a delegated credential acted (a partner app's grant).
    pub on_behalf_of: Option<Uuid>,
    /// A portal user's role when they acted.
    pub role: Option<Role>,
}

/// Characters of a label kept (an email's longest form).
const LABEL_MAX: usize = 254;

impl Who {
    pub fn new(kind: ActorKind, id: Option<Uuid>, label: &str) -> Self {
        Who {
            kind,
            id,
            label: label.chars().take(LABEL_MAX).collect(),
            on_behalf_of: None,
            role: None,
        }
    }

    /// The same actor under another label (a failed login is labelled with the email tried).
    pub fn labelled(self, label: &str) -> Self {
        Who {
            label: label.chars().take(LABEL_MAX).collect(),
            ..self
        }
    }

    /// A portal user in their role.
    pub fn portal_user(id: Uuid, email: &str, role: Role) -> Self {
        Who {
            role: Some(role),
            ..Who::new(ActorKind::Admin, Some(id), email)
        }
    }

    pub fn anonymous(label: &str) -> Self {
        Who::new(ActorKind::Anonymous, None, label)
    }

    /// The stored actor id: empty for anonymous callers.
    pub fn id_text(&self) -> String {
        self.id.map(|id| id.to_string()).unwrap_or_default()
    }
}
