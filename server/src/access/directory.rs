//! The connection directory: partner apps, their secrets and grants, and every connection
//! that can reach patient data (apps and API keys) in one list. Settings administrators only.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{api_key, oauth_grant, partner_app, partner_app_secret};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::Access;
use crate::domain::environment::Environment;
use crate::domain::network::Limits;
use crate::domain::partner_app::{
    AppCategory, AppStatus, ClientType, ConnectionKind, ConnectionStatus, RedirectUri,
    new_client_id, new_client_secret,
};
use crate::domain::scope::ScopeSet;
use crate::domain::webhook_delivery::DisabledReason;
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::{AppError, AppResult, parse_stored};
use crate::store::partner_apps::{AppFields, NewApp};
use crate::store::{Effect, Effects, admins, oauth as grants, partner_apps, webhook_endpoints};

pub struct Directory<'a> {
    access: &'a Access,
}

/// What an administrator registers for an app (checked by `graphql::inputs`, whose shapes are
/// already valid values).
pub struct AppForm {
    pub name: String,
    pub category: AppCategory,
    pub description: String,
    pub homepage: Option<String>,
    /// Raw: checked here, against the app's environment and type.
    pub redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub client_ids: Option<Vec<Uuid>>,
    pub location_ids: Option<Vec<Uuid>>,
}

/// A grant with the email of the user who gave it.
#[derive(Clone, Debug)]
pub struct GrantView {
    pub grant: oauth_grant::Model,
    pub user_email: Option<String>,
}

/// An app with its secrets (newest first) and grants (newest first), and its creator's email.
#[derive(Clone, Debug)]
pub struct AppView {
    pub app: partner_app::Model,
    pub secrets: Vec<partner_app_secret::Model>,
    pub grants: Vec<GrantView>,
    pub created_by: Option<String>,
}

/// Everything that can reach patient data.
pub enum Connection {
    App(AppView),
    Key(api_key::Model, Option<String>),
}

impl Connection {
    pub fn kind(&self) -> ConnectionKind {
        match self {
            Connection::App(_) => ConnectionKind::PartnerApp,
            Connection::Key(..) => ConnectionKind::ApiKey,
        }
    }

    pub fn environment(&self) -> Environment {
        match self {
            Connection::App(a) => Environment::from_stored(&a.app.environment),
            Connection::Key(k, _) => Environment::from_stored(&k.environment),
        }
    }

    pub fn category(&self) -> Option<AppCategory> {
        match self {
            Connection::App(a) => a.app.category.parse().ok(),
            Connection::Key(..) => None,
        }
    }

    pub fn status(&self, now: DateTime<Utc>) -> ConnectionStatus {
        match self {
            Connection::App(a) => match a.app.status.parse() {
                Ok(AppStatus::Active) => ConnectionStatus::Active,
                Ok(AppStatus::Suspended) => ConnectionStatus::Suspended,
                _ => ConnectionStatus::Revoked,
            },
            Connection::Key(k, _) => {
                if k.revoked_at.is_some() {
                    ConnectionStatus::Revoked
                } else if k.expires_at.is_some_and(|at| at <= now) {
                    ConnectionStatus::Expired
                } else {
                    ConnectionStatus::Active
                }
            }
        }
    }
}

/// Which connections a directory listing keeps; `None` keeps all.
#[derive(Clone, Debug, Default)]
pub struct ConnectionFilter {
    pub kind: Option<ConnectionKind>,
    pub category: Option<AppCategory>,
    pub environment: Option<Environment>,
    pub status: Option<ConnectionStatus>,
}

impl ConnectionFilter {
    fn keeps(&self, c: &Connection, now: DateTime<Utc>) -> bool {
        self.kind.is_none_or(|k| k == c.kind())
            && self.category.is_none_or(|cat| Some(cat) == c.category())
            && self.environment.is_none_or(|e| e == c.environment())
            && self.status.is_none_or(|s| s == c.status(now))
    }
}

/// The longest overlap a secret rotation may give the old secret.
const MAX_OVERLAP: Duration = Duration::days(30);
const MAX_REDIRECT_URIS: usize = 10;

impl<'a> Directory<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Directory { access }
    }

    fn settings(&self) -> AppResult<()> {
        self.access.principal().require_settings_admin()
    }

    fn admin_id(&self) -> Option<Uuid> {
        self.access.principal().portal_user_id()
    }

    /// The apps' secrets, grants and emails, read in four queries for the whole list.
    async fn views(&self, apps: Vec<partner_app::Model>) -> AppResult<Vec<AppView>> {
        let db = self.access.store().conn();
        let ids: Vec<Uuid> = apps.iter().map(|a| a.id).collect();
        let mut secrets: HashMap<Uuid, Vec<_>> = HashMap::new();
        for s in partner_apps::secrets_of(db, &ids).await? {
            secrets.entry(s.app_id).or_default().push(s);
        }
        let all_grants = grants::grants_of(db, &ids).await?;
        let people = all_grants
            .iter()
            .filter_map(|g| g.user_id)
            .chain(apps.iter().filter_map(|a| a.created_by));
        let emails = admins::emails(db, people).await?;
        let mut by_app: HashMap<Uuid, Vec<GrantView>> = HashMap::new();
        for grant in all_grants {
            let user_email = grant.user_id.and_then(|u| emails.get(&u).cloned());
            by_app
                .entry(grant.app_id)
                .or_default()
                .push(GrantView { grant, user_email });
        }
        Ok(apps
            .into_iter()
            .map(|app| AppView {
                secrets: secrets.remove(&app.id).unwrap_or_default(),
                grants: by_app.remove(&app.id).unwrap_or_default(),
                created_by: app.created_by.and_then(|u| emails.get(&u).cloned()),
                app,
            })
            .collect())
    }

    async fn view(&self, app: partner_app::Model) -> AppResult<AppView> {
        let mut views = self.views(vec![app]).await?;
        views.pop().ok_or(AppError::NotFound("partner app"))
    }

    pub async fn apps(&self) -> AppResult<Vec<AppView>> {
        self.settings()?;
        let mut apps = partner_apps::list(self.access.store().conn()).await?;
        apps.retain(|a| self.access.sees_environment(&a.environment));
        self.views(apps).await
    }

    pub async fn app(&self, id: Uuid) -> AppResult<Option<AppView>> {
        self.settings()?;
        match self.find_app(self.access.store().conn(), id).await {
            Ok(app) => Ok(Some(self.view(app).await?)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// An app of the caller's environment (`X-Environment`); another's is not found.
    async fn find_app(&self, db: &impl ConnectionTrait, id: Uuid) -> AppResult<partner_app::Model> {
        partner_apps::find(db, id)
            .await?
            .filter(|a| self.access.sees_environment(&a.environment))
            .ok_or(AppError::NotFound("partner app"))
    }

    /// Every connection, apps and keys, newest first, that `filter` keeps.
    pub async fn connections(&self, filter: &ConnectionFilter) -> AppResult<Vec<Connection>> {
        let apps = self.apps().await?;
        let keys = self.access.admin().keys(true).await?;
        let mut all: Vec<(Uuid, Connection)> = apps
            .into_iter()
            .map(|a| (a.app.id, Connection::App(a)))
            .chain(
                keys.into_iter()
                    // A rotated key's old secret is part of its successor's connection.
                    .filter(|(k, _)| k.rotated_to.is_none())
                    .map(|(k, by)| (k.id, Connection::Key(k, by))),
            )
            .collect();
        all.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        let now = Utc::now();
        Ok(all
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| filter.keeps(c, now))
            .collect())
    }

    async fn fields(
        &self,
        form: AppForm,
        env: Environment,
        client_type: ClientType,
    ) -> AppResult<AppFields> {
        if form.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(AppError::invalid(
                "input.redirectUris",
                format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
            ));
        }
        let mut uris = Vec::new();
        for (i, raw) in form.redirect_uris.iter().enumerate() {
            let uri = RedirectUri::parse(raw, env, client_type)
                .map_err(|e| AppError::invalid(format!("input.redirectUris[{i}]"), e))?;
            uris.push(uri.as_str().to_owned());
        }
        if client_type == ClientType::Public && uris.is_empty() {
            return Err(AppError::invalid(
                "input.redirectUris",
                "a public app needs at least one redirect URI",
            ));
        }
        self.access
            .admin()
            .check_grants(
                env,
                form.client_ids.as_deref(),
                form.location_ids.as_deref(),
            )
            .await?;
        Ok(AppFields {
            name: form.name,
            category: form.category.as_str().into(),
            description: form.description,
            homepage: form.homepage,
            redirect_uris: uris,
            scopes: form.scopes.names(),
            client_ids: form.client_ids,
            location_ids: form.location_ids,
        })
    }

    /// Registers an app; a confidential app's secret is returned here and never again.
    pub async fn register(
        &self,
        form: AppForm,
        env: Environment,
        client_type: ClientType,
    ) -> AppResult<(AppView, Option<String>)> {
        self.settings()?;
        self.access.within_environment("input.environment", env)?;
        let fields = self.fields(form, env, client_type).await?;
        let txn = self.access.store().begin_write().await?;
        let app = partner_apps::insert(
            &txn.txn,
            NewApp {
                fields,
                client_id: new_client_id(),
                client_type: client_type.as_str().into(),
                environment: env.as_str().into(),
                created_by: self.admin_id(),
            },
        )
        .await?;
        let secret = match client_type {
            ClientType::Confidential => {
                let secret = new_client_secret(env);
                partner_apps::insert_secret(&txn.txn, app.id, secret.prefix, secret.hash).await?;
                Some(secret.secret)
            }
            ClientType::Public => None,
        };
        let event = self.access.event(
            "CREATE",
            "registerPartnerApp",
            "partner_app",
            vec![app.id],
            vec![
                "scopes".into(),
                "clientIds".into(),
                "locationIds".into(),
                "redirectUris".into(),
            ],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok((self.view(app).await?, secret))
    }

    /// Changes what is registered for an app. A lowered ceiling applies to its existing
    /// tokens at their next request (`access::credentials`).
    pub async fn update(&self, id: Uuid, form: AppForm) -> AppResult<AppView> {
        self.settings()?;
        let db = self.access.store().conn();
        let app = self.find_app(db, id).await?;
        let env: Environment = parse_stored(&app.environment)?;
        let client_type: ClientType = parse_stored(&app.client_type)?;
        let fields = self.fields(form, env, client_type).await?;
        let txn = self.access.store().begin_write().await?;
        let app = partner_apps::update_fields(&txn.txn, app, fields).await?;
        let event = self.access.event(
            "UPDATE",
            "updatePartnerApp",
            "partner_app",
            vec![app.id],
            vec![
                "name".into(),
                "scopes".into(),
                "clientIds".into(),
                "locationIds".into(),
                "redirectUris".into(),
            ],
        );
        txn.commit(Effects::audited(event)).await?;
        // What the app's webhook endpoints hear follows its ceiling and limits.
        self.access.store().webhook_endpoints_changed();
        self.view(app).await
    }

    /// Holds an app to these addresses and this rate; its tokens' next requests are.
    pub async fn set_limits(&self, id: Uuid, limits: Limits) -> AppResult<AppView> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        let app = self.find_app(&txn.txn, id).await?;
        let app = partner_apps::set_limits(&txn.txn, app, &limits).await?;
        let event = self.access.event(
            "UPDATE",
            "setPartnerAppLimits",
            "partner_app",
            vec![app.id],
            vec!["allowedIps".into(), "rateLimit".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.view(app).await
    }

    /// Suspends, reactivates or revokes an app; revoking also revokes every grant. Takes
    /// effect at the next request of any of its tokens.
    pub async fn set_status(&self, id: Uuid, status: AppStatus) -> AppResult<AppView> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        let app = self.find_app(&txn.txn, id).await?;
        let current: AppStatus = parse_stored(&app.status)?;
        if current == AppStatus::Revoked {
            return Err(AppError::Conflict(
                "a revoked app cannot change; register it again".into(),
            ));
        }
        let (action, operation) = match status {
            AppStatus::Suspended => ("SUSPEND", "suspendPartnerApp"),
            AppStatus::Active => ("REACTIVATE", "reactivatePartnerApp"),
            AppStatus::Revoked => ("REVOKE", "revokePartnerApp"),
        };
        let mut ids = vec![app.id];
        let mut revoked = None;
        if status == AppStatus::Revoked {
            let now = Utc::now();
            ids.extend(grants::revoke_grants_of_app(&txn.txn, app.id, now).await?);
            partner_apps::expire_secrets(&txn.txn, app.id, now).await?;
            webhook_endpoints::disable_of_app(
                &txn.txn,
                app.id,
                DisabledReason::AppRevoked.as_str(),
            )
            .await?;
            revoked = Some(Effect::Webhook(NewEvent::about_setting(
                EventType::PartnerAppRevoked,
                "partner_app",
                app.id,
                Environment::from_stored(&app.environment),
                vec!["status".into()],
            )));
        }
        let app = partner_apps::set_status(&txn.txn, app, status.as_str()).await?;
        let event = self
            .access
            .event(action, operation, "partner_app", ids, vec!["status".into()]);
        let effects = revoked
            .into_iter()
            .fold(Effects::audited(event), Effects::and);
        txn.commit(effects).await?;
        self.access.store().webhook_endpoints_changed();
        self.view(app).await
    }

    /// Issues a new client secret; the old ones keep working until `overlap` ends.
    pub async fn rotate_secret(&self, id: Uuid, overlap: Duration) -> AppResult<(AppView, String)> {
        self.settings()?;
        if overlap < Duration::zero() || overlap > MAX_OVERLAP {
            return Err(AppError::invalid(
                "overlapSeconds",
                "must be between 0 and 2592000 (30 days)",
            ));
        }
        let txn = self.access.store().begin_write().await?;
        let app = self.find_app(&txn.txn, id).await?;
        if app.client_type != ClientType::Confidential.as_str() {
            return Err(AppError::Conflict("a public app has no secret".into()));
        }
        if app.status == AppStatus::Revoked.as_str() {
            return Err(AppError::Conflict(
                "a revoked app cannot be given a secret".into(),
            ));
        }
        let env: Environment = parse_stored(&app.environment)?;
        partner_apps::expire_secrets(&txn.txn, app.id, Utc::now() + overlap).await?;
        let secret = new_client_secret(env);
        let stored =
            partner_apps::insert_secret(&txn.txn, app.id, secret.prefix, secret.hash).await?;
        let event = self.access.event(
            "ROTATE",
            "rotatePartnerAppSecret",
            "partner_app",
            vec![app.id, stored.id],
            vec![],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok((self.view(app).await?, secret.secret))
    }

    /// Revokes one grant: its tokens are refused from their next request.
    pub async fn revoke_grant(&self, id: Uuid) -> AppResult<GrantView> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        let grant = grants::find_grant(&txn.txn, id)
            .await?
            .ok_or(AppError::NotFound("grant"))?;
        grants::revoke_grants(&txn.txn, &[grant.id], Utc::now()).await?;
        let event = self.access.event(
            "REVOKE",
            "revokePartnerAppGrant",
            "oauth_grant",
            vec![grant.id, grant.app_id],
            vec![],
        );
        let grant = grants::find_grant(&txn.txn, id)
            .await?
            .ok_or(AppError::NotFound("grant"))?;
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        let user_email = match grant.user_id {
            Some(u) => admins::emails(self.access.store().conn(), [u])
                .await?
                .remove(&u),
            None => None,
        };
        Ok(GrantView { grant, user_email })
    }
}
