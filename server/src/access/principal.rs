//! The one credential model. Every kind of credential (API keys, portal sessions and partner
//! apps' OAuth access tokens) is resolved, once per HTTP request (`http::auth`), to a
//! `Principal`: who is acting (`Actor`) and what they may reach (`Grant`). Every check is made
//! against it the same way, whatever the credential was.

use std::net::IpAddr;

use ipnet::IpNet;
use uuid::Uuid;

use super::rules::Rule;
use crate::domain::actor::{ActorKind, Who};
use crate::domain::environment::Environment;
use crate::domain::role::Role;
use crate::domain::row_scope::RowScope;
use crate::domain::scope::{Scope, ScopeSet};
use crate::error::{AppError, AppResult};

/// Who is calling. A new kind of credential is a new variant here, resolved in
/// `access::credentials`; the checks below need no change.
#[derive(Clone, Debug)]
pub enum Actor {
    Anonymous,
    ApiKey {
        id: Uuid,
        name: String,
    },
    Admin {
        id: Uuid,
        email: String,
        role: Role,
        session_id: Uuid,
    },
    /// A partner app by an access token of one of its grants.
    PartnerApp {
        app_id: Uuid,
        grant_id: Uuid,
        name: String,
        /// The portal user who consented; none for the app's own backend (client
        /// credentials).
        on_behalf_of: Option<Uuid>,
    },
}

pub use crate::domain::network::RateLimit;

/// What a credential may reach, the same for every kind of credential: its scopes, the rows
/// it may see (clients, locations, environment), and the network and rate limits it is held
/// to (`None`: none of its own; the server-wide ones still apply, `access::protection`).
#[derive(Clone, Debug, Default)]
pub struct Grant {
    pub scopes: ScopeSet,
    pub rows: RowScope,
    /// The addresses the credential may be used from; `None` is anywhere.
    pub allowed_ips: Option<Vec<IpNet>>,
    /// Its own request rate; `None`: the server-wide default.
    pub rate_limit: Option<RateLimit>,
}

impl Grant {
    /// Everything: what a portal user's session may reach (their role decides settings).
    pub fn everything() -> Self {
        Grant {
            scopes: ScopeSet::all(),
            ..Grant::default()
        }
    }

    /// Whether a request from `ip` may use this grant.
    pub fn admits(&self, ip: Option<IpAddr>) -> bool {
        match (&self.allowed_ips, ip) {
            (None, _) => true,
            (Some(nets), Some(ip)) => crate::domain::network::contains(nets, ip),
            (Some(_), None) => false,
        }
    }
}

/// What a `FORBIDDEN` names when only a settings administrator may do something.
pub const SETTINGS_ROLES: &str = "role:SYSTEM_ADMINISTRATOR|TECHNICAL_LEAD";
/// What a `FORBIDDEN` names when only a portal session (any role) may do something.
pub const PORTAL_SESSION: &str = "role:SYSTEM_ADMINISTRATOR|TECHNICAL_LEAD|STAFF";

#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    pub grant: Grant,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal {
            actor: Actor::Anonymous,
            grant: Grant::default(),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        !matches!(self.actor, Actor::Anonymous)
    }

    /// The portal user behind a session (who created what an administrator makes).
    pub fn portal_user_id(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::Admin { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::Admin { role, .. } => Some(*role),
            _ => None,
        }
    }

    pub fn kind(&self) -> ActorKind {
        match self.actor {
            Actor::Anonymous => ActorKind::Anonymous,
            Actor::ApiKey { .. } => ActorKind::ApiKey,
            Actor::Admin { .. } => ActorKind::Admin,
            Actor::PartnerApp { .. } => ActorKind::PartnerApp,
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::Anonymous => None,
            Actor::ApiKey { id, .. } | Actor::Admin { id, .. } => Some(*id),
            Actor::PartnerApp { app_id, .. } => Some(*app_id),
        }
    }

    pub fn label(&self) -> &str {
        match &self.actor {
            Actor::Anonymous => "anonymous",
            Actor::ApiKey { name, .. } | Actor::PartnerApp { name, .. } => name,
            Actor::Admin { email, .. } => email,
        }
    }

    /// Who this principal is, as the audit trail records it.
    pub fn who(&self) -> Who {
        match &self.actor {
            Actor::Admin {
                id, email, role, ..
            } => Who::portal_user(*id, email, *role),
            Actor::PartnerApp { on_behalf_of, .. } => Who {
                on_behalf_of: *on_behalf_of,
                ..Who::new(self.kind(), self.id(), self.label())
            },
            _ => Who::new(self.kind(), self.id(), self.label()),
        }
    }

    /// The principal working in one environment only (`X-Environment`, the portal's switch).
    /// A portal user sees and changes only that environment's records from then on, as a key
    /// of that environment would; a key or app, already held to its own, may name it but not
    /// the other one.
    pub fn in_environment(mut self, env: Environment) -> AppResult<Self> {
        match (&self.actor, self.grant.rows.environment) {
            (Actor::Admin { .. }, _) => {
                self.grant.rows.environment = Some(env);
                Ok(self)
            }
            (_, Some(own)) if own != env => Err(AppError::EnvironmentMismatch(format!(
                "X-Environment: this credential works in {own}, not {env}"
            ))),
            _ => Ok(self),
        }
    }

    pub fn authenticated(&self) -> AppResult<()> {
        if self.is_authenticated() {
            Ok(())
        } else {
            Err(AppError::Unauthenticated(
                "authentication required: send an API key or a session token",
            ))
        }
    }

    pub fn require(&self, scope: Scope) -> AppResult<()> {
        self.authenticated()?;
        if self.grant.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AppError::missing_scope(scope))
        }
    }

    pub fn require_settings_admin(&self) -> AppResult<()> {
        self.authenticated()?;
        match self.role() {
            Some(role) if role.manages_settings() => Ok(()),
            _ => Err(AppError::forbidden(
                SETTINGS_ROLES,
                "only a System Administrator or Technical Lead may do this",
            )),
        }
    }

    pub fn check(&self, rule: &Rule) -> AppResult<()> {
        match rule {
            Rule::Public => Ok(()),
            Rule::Authenticated => self.authenticated(),
            Rule::Scope(scope) => self.require(*scope),
            Rule::AnyOf(scopes) => {
                self.authenticated()?;
                if scopes.iter().any(|s| self.grant.scopes.contains(*s)) {
                    Ok(())
                } else {
                    Err(AppError::missing_scope(scopes[0]))
                }
            }
            Rule::AllOf(scopes) => scopes.iter().try_for_each(|s| self.require(*s)),
            Rule::SettingsAdmin => self.require_settings_admin(),
            Rule::WebhookManager => match self.actor {
                Actor::PartnerApp { .. } => Ok(()),
                _ => self.require_settings_admin(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scope::Scope::*;

    fn key(scopes: &[Scope]) -> Principal {
        Principal {
            actor: Actor::ApiKey {
                id: Uuid::now_v7(),
                name: "k".into(),
            },
            grant: Grant {
                scopes: scopes.iter().copied().collect(),
                ..Grant::default()
            },
        }
    }

    fn admin(role: Role) -> Principal {
        Principal {
            actor: Actor::Admin {
                id: Uuid::now_v7(),
                email: "a@example.org".into(),
                role,
                session_id: Uuid::now_v7(),
            },
            grant: Grant::everything(),
        }
    }

    fn code(result: AppResult<()>) -> &'static str {
        result.err().map_or("OK", |e| e.code())
    }

    fn required(result: AppResult<()>) -> String {
        match result {
            Err(AppError::Forbidden { required_scope, .. }) => required_scope,
            other => panic!("expected FORBIDDEN, got {other:?}"),
        }
    }

    #[test]
    fn anonymous_callers_pass_public_rules_only() {
        let nobody = Principal::anonymous();
        assert_eq!(code(nobody.check(&Rule::Public)), "OK");
        for rule in [
            Rule::Authenticated,
            Rule::Scope(PatientsRead),
            Rule::AnyOf(&[PatientsRead]),
            Rule::AllOf(&[PatientsRead]),
            Rule::SettingsAdmin,
        ] {
            assert_eq!(code(nobody.check(&rule)), "UNAUTHENTICATED", "{rule:?}");
        }
    }

    #[test]
    fn scopes_are_checked_one_by_one_and_the_missing_one_is_named() {
        let reader = key(&[PatientsRead, ContactRead]);
        assert_eq!(code(reader.check(&Rule::Scope(PatientsRead))), "OK");
        assert_eq!(
            required(reader.check(&Rule::Scope(TestsRead))),
            "tests:read"
        );
        assert_eq!(
            code(reader.check(&Rule::AllOf(&[PatientsRead, ContactRead]))),
            "OK"
        );
        assert_eq!(
            required(reader.check(&Rule::AllOf(&[PatientsRead, BillingRead]))),
            "patients.billing:read"
        );
        assert_eq!(
            code(reader.check(&Rule::AnyOf(&[TestsRead, PatientsRead]))),
            "OK"
        );
        assert_eq!(
            required(reader.check(&Rule::AnyOf(&[TestsRead, TestsCreate]))),
            "tests:read",
            "the first of the alternatives is named"
        );
        assert_eq!(code(key(&[]).check(&Rule::Authenticated)), "OK");
    }

    #[test]
    fn settings_need_an_administrator_role_not_scopes() {
        let every_scope = key(&ScopeSet::all().iter().collect::<Vec<_>>());
        assert_eq!(
            required(every_scope.check(&Rule::SettingsAdmin)),
            SETTINGS_ROLES
        );
        assert_eq!(
            required(admin(Role::Staff).check(&Rule::SettingsAdmin)),
            SETTINGS_ROLES
        );
        assert_eq!(
            code(admin(Role::SystemAdministrator).check(&Rule::SettingsAdmin)),
            "OK"
        );
        assert_eq!(
            code(admin(Role::TechnicalLead).check(&Rule::SettingsAdmin)),
            "OK"
        );
    }

    #[test]
    fn who_names_the_actor() {
        let k = key(&[]);
        let who = k.who();
        assert_eq!(who.kind, ActorKind::ApiKey);
        assert_eq!(who.id, k.id());
        assert_eq!(who.label, "k");
        assert_eq!(Principal::anonymous().who().id_text(), "");
        let staff = admin(Role::Staff).who();
        assert_eq!(staff.kind.as_str(), "ADMIN");
        assert_eq!(
            staff.role,
            Some(Role::Staff),
            "a STAFF user is not labelled an administrator"
        );
        assert_eq!(k.who().role, None);
    }

    #[test]
    fn a_grant_limited_to_networks_admits_only_their_addresses() {
        let open = Grant::default();
        assert!(open.admits(None) && open.admits(Some("203.0.113.9".parse().unwrap())));
        let limited = Grant {
            allowed_ips: Some(vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ]),
            ..Grant::default()
        };
        assert!(limited.admits(Some("10.1.2.3".parse().unwrap())));
        assert!(limited.admits(Some("2001:db8::1".parse().unwrap())));
        assert!(!limited.admits(Some("11.0.0.1".parse().unwrap())));
        assert!(!limited.admits(None), "an unknown address is not admitted");
    }
}
