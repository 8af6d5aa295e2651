use uuid::Uuid;

use super::rules::Rule;
use crate::domain::role::Role;
use crate::domain::row_scope::RowScope;
use crate::domain::scope::{Scope, ScopeSet};
use crate::error::{AppError, AppResult};

/// Who is calling. API keys, admin sessions (and later OAuth tokens) all become one of these,
/// and every check is made against it the same way.
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
}

/// What a `FORBIDDEN` names when only a settings administrator may do something.
pub const SETTINGS_ROLES: &str = "role:SYSTEM_ADMINISTRATOR|TECHNICAL_LEAD";
/// What a `FORBIDDEN` names when only a portal session (any role) may do something.
pub const PORTAL_SESSION: &str = "role:SYSTEM_ADMINISTRATOR|TECHNICAL_LEAD|STAFF";

#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    pub scopes: ScopeSet,
    pub rows: RowScope,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal {
            actor: Actor::Anonymous,
            scopes: ScopeSet::default(),
            rows: RowScope::unrestricted(),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        !matches!(self.actor, Actor::Anonymous)
    }

    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::Admin { role, .. } => Some(*role),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.actor {
            Actor::Anonymous => "ANONYMOUS",
            Actor::ApiKey { .. } => "API_KEY",
            Actor::Admin { .. } => "ADMIN",
        }
    }

    pub fn id(&self) -> String {
        match &self.actor {
            Actor::Anonymous => String::new(),
            Actor::ApiKey { id, .. } | Actor::Admin { id, .. } => id.to_string(),
        }
    }

    pub fn label(&self) -> String {
        match &self.actor {
            Actor::Anonymous => "anonymous".into(),
            Actor::ApiKey { name, .. } => name.clone(),
            Actor::Admin { email, .. } => email.clone(),
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
        if self.scopes.contains(scope) {
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
                if scopes.iter().any(|s| self.scopes.contains(*s)) {
                    Ok(())
                } else {
                    Err(AppError::missing_scope(scopes[0]))
                }
            }
            Rule::AllOf(scopes) => scopes.iter().try_for_each(|s| self.require(*s)),
            Rule::SettingsAdmin => self.require_settings_admin(),
        }
    }
}
