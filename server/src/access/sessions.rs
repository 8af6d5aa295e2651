//! Portal users' sessions: logging in and out. Kept apart from the settings handle (`admin`):
//! logging in is open to anyone and throttled, settings are for administrators only.

use chrono::{DateTime, Utc};
use entity::admin_user;
use uuid::Uuid;

use super::Access;
use super::credentials::verify_password;
use super::principal::{Actor, PORTAL_SESSION};
use crate::domain::actor::Who;
use crate::domain::api_key::new_session_token;
use crate::domain::role::Role;
use crate::error::{AppError, AppResult, parse_stored};
use crate::store::Effects;
use crate::store::admins;

pub struct Sessions<'a> {
    access: &'a Access,
}

impl<'a> Sessions<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Sessions { access }
    }

    /// Logs a portal user in. The same answer for an unknown email and a wrong password.
    /// One attempt per request, and locked accounts and addresses are refused before the
    /// password is checked (`login_throttle`).
    pub async fn login(
        &self,
        email: &str,
        password: String,
    ) -> AppResult<(String, DateTime<Utc>, admin_user::Model)> {
        if !self.access.first_login_attempt() {
            return Err(AppError::invalid(
                "login",
                "one login per request: aliases and batches cannot carry more",
            ));
        }
        let email = email.trim().to_lowercase();
        let ip = self.access.ip();
        if let Some(wait) = self.access.logins().wait(&email, ip) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(AppError::RateLimited {
                retry_after_secs: secs.max(1),
                message: format!(
                    "too many failed logins for this account or from this address; try again in {secs} s"
                ),
            });
        }
        let db = self.access.store().conn();
        let user = admins::find_user_by_email(db, &email).await?;
        let ok = verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => {
                self.access.logins().failed(&email, ip);
                let mut event = self.access.event(
                    "LOGIN_FAILED",
                    "login",
                    "admin_user",
                    Vec::<Uuid>::new(),
                    vec![],
                );
                // Labelled with the email tried: whose account is being guessed at.
                event.who = event.who.labelled(&email);
                self.access.store().insert_audit_events(&[event]).await?;
                return Err(AppError::Unauthenticated("invalid email or password"));
            }
        };
        self.access.logins().succeeded(&email);
        let token = new_session_token();
        let expires_at = Utc::now() + self.access.session_ttl();
        let txn = self.access.store().begin_write().await?;
        admins::insert_session(&txn.txn, user.id, &token.hash, expires_at).await?;
        let mut event = self
            .access
            .event("LOGIN", "login", "admin_user", vec![user.id], vec![]);
        let role = parse_stored::<Role>(&user.role)?;
        event.who = Who::portal_user(user.id, &user.email, role);
        txn.commit(Effects::audited(event)).await?;
        Ok((token.secret, expires_at, user))
    }

    pub async fn logout(&self) -> AppResult<bool> {
        let Actor::Admin { session_id, .. } = &self.access.principal().actor else {
            return Err(AppError::forbidden(
                PORTAL_SESSION,
                "only a portal session can log out",
            ));
        };
        admins::revoke_session(self.access.store().conn(), *session_id).await?;
        Ok(true)
    }
}
