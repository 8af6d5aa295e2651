//! Settings that only portal administrators manage (keys, clients) and the audit trail.

use chrono::{DateTime, Duration, Utc};
use entity::{api_key, client, location};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::Access;
use super::protection::{POLICY_SETTING, Policy, read_policy};
use crate::domain::api_key::new_api_key;
use crate::domain::environment::Environment;
use crate::domain::network::Limits;
use crate::domain::scope::ScopeSet;
use crate::error::{AppError, AppResult, parse_stored};
use crate::store::Effects;
use crate::store::api_keys::NewApiKey;
use crate::store::changes::{self, Change};
use crate::store::{admins, api_keys, clients, settings};

pub struct Admin<'a> {
    access: &'a Access,
}

pub struct CreateKey {
    pub name: String,
    pub scopes: ScopeSet,
    pub client_ids: Option<Vec<Uuid>>,
    pub location_ids: Option<Vec<Uuid>>,
    pub environment: Environment,
    pub expires_at: Option<DateTime<Utc>>,
    pub limits: Limits,
}

/// A change made to every key of a rotation chain at once.
enum ChainChange {
    Revoke,
    Rename(String),
    Limits(Limits),
}

/// The longest grace period a rotation may give the old secret.
const MAX_GRACE: Duration = Duration::days(30);

impl<'a> Admin<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Admin { access }
    }

    fn settings(&self) -> AppResult<()> {
        self.access.principal().require_settings_admin()
    }

    fn admin_id(&self) -> Option<Uuid> {
        self.access.principal().portal_user_id()
    }

    /// The keys, each with the email of the portal user who created it (null for a key made
    /// on the command line), the emails read in one query for the whole list.
    pub async fn keys(
        &self,
        include_revoked: bool,
    ) -> AppResult<Vec<(api_key::Model, Option<String>)>> {
        self.settings()?;
        let db = self.access.store().conn();
        let mut keys = api_keys::list(db, include_revoked).await?;
        keys.retain(|k| self.access.sees_environment(&k.environment));
        let emails = admins::emails(db, keys.iter().filter_map(|k| k.created_by)).await?;
        Ok(keys
            .into_iter()
            .map(|k| {
                let by = k.created_by.and_then(|id| emails.get(&id).cloned());
                (k, by)
            })
            .collect())
    }

    /// A key's client and location limits must name records of its own environment, and
    /// its locations must belong to its listed clients (when it lists clients): a limit that
    /// can never match is a mistake the administrator should hear about now.
    pub(super) async fn check_grants(
        &self,
        environment: Environment,
        client_ids: Option<&[Uuid]>,
        location_ids: Option<&[Uuid]>,
    ) -> AppResult<()> {
        let db = self.access.store().conn();
        // One query for every client's environment (an administrator's handful), instead of
        // one per listed client and another per location.
        let environments: std::collections::HashMap<Uuid, String> = clients::list_clients(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.environment))
            .collect();
        let other_environment = |what: &str, id: &Uuid| {
            format!(
                "{what} {id} belongs to another environment than {}",
                environment.as_str()
            )
        };
        for (i, id) in client_ids.into_iter().flatten().enumerate() {
            let field = format!("input.clientIds[{i}]");
            match environments.get(id) {
                Some(env) if env == environment.as_str() => {}
                Some(_) => return Err(AppError::invalid(field, other_environment("client", id))),
                None => return Err(AppError::invalid(field, format!("no such client: {id}"))),
            }
        }
        for (i, id) in location_ids.into_iter().flatten().enumerate() {
            let field = format!("input.locationIds[{i}]");
            let Some(location) = clients::find_location(db, *id).await? else {
                return Err(AppError::invalid(field, format!("no such location: {id}")));
            };
            if client_ids.is_some_and(|c| !c.contains(&location.client_id)) {
                return Err(AppError::invalid(
                    field,
                    format!("location {id} belongs to none of the key's clients"),
                ));
            }
            if environments.get(&location.client_id).map(String::as_str)
                != Some(environment.as_str())
            {
                return Err(AppError::invalid(field, other_environment("location", id)));
            }
        }
        Ok(())
    }

    /// Creates a key; the secret is returned here and never again.
    pub async fn create_key(&self, req: CreateKey) -> AppResult<(api_key::Model, String)> {
        self.settings()?;
        self.access
            .within_environment("input.environment", req.environment)?;
        if req.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AppError::invalid(
                "input.expiresAt",
                "must be in the future",
            ));
        }
        self.check_grants(
            req.environment,
            req.client_ids.as_deref(),
            req.location_ids.as_deref(),
        )
        .await?;
        let secret = new_api_key(req.environment);
        let txn = self.access.store().begin_write().await?;
        let key = api_keys::insert(
            &txn.txn,
            NewApiKey {
                name: req.name,
                prefix: secret.prefix,
                secret_hash: secret.hash,
                scopes: req.scopes.names(),
                client_ids: req.client_ids,
                location_ids: req.location_ids,
                environment: req.environment.as_str().to_owned(),
                expires_at: req.expires_at,
                created_by: self.admin_id(),
                limits: req.limits,
            },
        )
        .await?;
        let event = self.access.event(
            "CREATE",
            "createApiKey",
            "api_key",
            vec![key.id],
            vec!["scopes".into(), "clientIds".into(), "locationIds".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok((key, secret.secret))
    }

    /// Issues a new secret with the same grants; the old one keeps working until `grace` ends.
    pub async fn rotate_key(
        &self,
        id: Uuid,
        grace: Duration,
    ) -> AppResult<(api_key::Model, String)> {
        self.settings()?;
        if grace < Duration::zero() || grace > MAX_GRACE {
            return Err(AppError::invalid(
                "gracePeriodSeconds",
                "must be between 0 and 2592000 (30 days)",
            ));
        }
        let now = Utc::now();
        let txn = self.access.store().begin_write().await?;
        let old = api_keys::find(&txn.txn, id)
            .await?
            .filter(|k| self.access.sees_environment(&k.environment))
            .ok_or(AppError::NotFound("api key"))?;
        if old.revoked_at.is_some() || old.expires_at.is_some_and(|at| at <= now) {
            return Err(AppError::Conflict(
                "a revoked or expired key cannot be rotated; create a new one".into(),
            ));
        }
        if old.rotated_to.is_some() {
            return Err(AppError::Conflict(
                "this key was already rotated; rotate its successor instead".into(),
            ));
        }
        let env: Environment = parse_stored(&old.environment)?;
        let json_ids = |raw: &str| {
            serde_json::from_str::<Option<Vec<Uuid>>>(raw)
                .ok()
                .flatten()
        };
        // Keys made before grants were checked this closely must not carry a bad grant on.
        self.check_grants(
            env,
            json_ids(&old.client_ids).as_deref(),
            json_ids(&old.location_ids).as_deref(),
        )
        .await?;
        let secret = new_api_key(env);
        let new_key = api_keys::insert(
            &txn.txn,
            NewApiKey {
                name: old.name.clone(),
                prefix: secret.prefix,
                secret_hash: secret.hash,
                scopes: serde_json::from_str(&old.scopes).unwrap_or_default(),
                client_ids: json_ids(&old.client_ids),
                location_ids: json_ids(&old.location_ids),
                environment: old.environment.clone(),
                expires_at: old.expires_at,
                created_by: self.admin_id(),
                limits: api_keys::limits(&old),
            },
        )
        .await?;
        let old_id = old.id;
        api_keys::retire(&txn.txn, old, new_key.id, now + grace).await?;
        let event = self.access.event(
            "ROTATE",
            "rotateApiKey",
            "api_key",
            vec![old_id, new_key.id],
            vec![],
        );
        changes::announce(&txn.txn, Change::Keys).await?;
        txn.commit(Effects::audited(event)).await?;
        // The old key's shortened life must apply at once on this replica.
        self.access.key_cache().clear();
        Ok((new_key, secret.secret))
    }

    /// Revokes a key with every secret of its rotation chain (the old secret of a rotation
    /// and the new one are one key to an administrator), at once.
    pub async fn revoke_key(&self, id: Uuid) -> AppResult<api_key::Model> {
        self.change_chain(id, ChainChange::Revoke).await
    }

    /// Renames a key: every key of its rotation chain, which are one key to an administrator.
    pub async fn rename_key(&self, id: Uuid, name: String) -> AppResult<api_key::Model> {
        self.change_chain(id, ChainChange::Rename(name)).await
    }

    /// Holds a key (every secret of its rotation chain) to these addresses and this rate.
    pub async fn set_key_limits(&self, id: Uuid, limits: Limits) -> AppResult<api_key::Model> {
        self.change_chain(id, ChainChange::Limits(limits)).await
    }

    /// Applies `change` to every key of `id`'s rotation chain, audited, and answers with the
    /// key `id`. Cached credentials are dropped: they carry the keys' state and name.
    async fn change_chain(&self, id: Uuid, change: ChainChange) -> AppResult<api_key::Model> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        let chain = self.lineage(&txn.txn, id).await?;
        if chain.is_empty() {
            return Err(AppError::NotFound("api key"));
        }
        let ids: Vec<Uuid> = chain.iter().map(|k| k.id).collect();
        let (action, operation, fields) = match &change {
            ChainChange::Revoke => {
                api_keys::revoke(&txn.txn, &ids).await?;
                ("REVOKE", "revokeApiKey", vec![])
            }
            ChainChange::Rename(name) => {
                api_keys::rename(&txn.txn, &ids, name).await?;
                ("UPDATE", "renameApiKey", vec!["name".to_owned()])
            }
            ChainChange::Limits(limits) => {
                api_keys::set_limits(&txn.txn, &ids, limits).await?;
                let fields = ["allowedIps", "rateLimit"].map(str::to_owned).to_vec();
                ("UPDATE", "setApiKeyLimits", fields)
            }
        };
        let event = self.access.event(action, operation, "api_key", ids, fields);
        let key = api_keys::find(&txn.txn, id)
            .await?
            .ok_or(AppError::NotFound("api key"))?;
        changes::announce(&txn.txn, Change::Keys).await?;
        txn.commit(Effects::audited(event)).await?;
        self.access.key_cache().clear();
        Ok(key)
    }

    /// The keys of `id`'s rotation chain, none when they belong to the environment the caller
    /// did not choose (`X-Environment`): such a key is not found, as in the list.
    async fn lineage(&self, db: &impl ConnectionTrait, id: Uuid) -> AppResult<Vec<api_key::Model>> {
        let mut chain = api_keys::lineage(db, id).await?;
        if !chain
            .iter()
            .all(|k| self.access.sees_environment(&k.environment))
        {
            chain.clear();
        }
        Ok(chain)
    }

    /// The email of a portal user, for "created by" of one key (null once the user is gone).
    pub async fn user_email(&self, id: Uuid) -> AppResult<Option<String>> {
        self.settings()?;
        Ok(admins::emails(self.access.store().conn(), [id])
            .await?
            .remove(&id))
    }

    /// Cuts a rotation short: the old secrets of the key's chain stop working now, and the
    /// newest keeps working. Answers with the newest key.
    pub async fn end_rotation(&self, id: Uuid) -> AppResult<api_key::Model> {
        self.settings()?;
        let now = Utc::now();
        let txn = self.access.store().begin_write().await?;
        let chain = self.lineage(&txn.txn, id).await?;
        let Some(newest) = chain.iter().find(|k| k.rotated_to.is_none()).cloned() else {
            return Err(AppError::NotFound("api key"));
        };
        let old: Vec<Uuid> = chain
            .iter()
            .filter(|k| k.rotated_to.is_some())
            .map(|k| k.id)
            .collect();
        if old.is_empty() {
            return Err(AppError::Conflict("this key has not been rotated".into()));
        }
        api_keys::expire(&txn.txn, &old, now).await?;
        let event = self
            .access
            .event("EXPIRE", "endApiKeyRotation", "api_key", old, vec![]);
        changes::announce(&txn.txn, Change::Keys).await?;
        txn.commit(Effects::audited(event)).await?;
        self.access.key_cache().clear();
        Ok(newest)
    }

    pub async fn clients(&self) -> AppResult<Vec<client::Model>> {
        self.settings()?;
        let mut all = clients::list_clients(self.access.store().conn()).await?;
        all.retain(|c| self.access.sees_environment(&c.environment));
        Ok(all)
    }

    pub async fn locations_of(&self, client_ids: &[Uuid]) -> AppResult<Vec<location::Model>> {
        self.settings()?;
        clients::list_locations(self.access.store().conn(), client_ids).await
    }

    pub async fn create_client(&self, name: &str, env: Environment) -> AppResult<client::Model> {
        self.settings()?;
        self.access.within_environment("environment", env)?;
        let txn = self.access.store().begin_write().await?;
        let client = clients::insert_client(&txn.txn, name, env).await?;
        let event = self
            .access
            .event("CREATE", "createClient", "client", vec![client.id], vec![]);
        txn.commit(Effects::audited(event)).await?;
        Ok(client)
    }

    pub async fn create_location(&self, client_id: Uuid, name: &str) -> AppResult<location::Model> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        clients::find_client(&txn.txn, client_id)
            .await?
            .ok_or_else(|| AppError::invalid("clientId", "no such client"))?;
        let location = clients::insert_location(&txn.txn, client_id, name).await?;
        let event = self.access.event(
            "CREATE",
            "createLocation",
            "location",
            vec![location.id],
            vec![],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(location)
    }

    /// Whether GraphiQL and schema introspection are offered to developers.
    pub async fn developer_portal_enabled(&self) -> AppResult<bool> {
        self.access.principal().authenticated()?;
        settings::developer_portal_enabled(self.access.store().conn()).await
    }

    /// The server-wide protection settings, as stored now.
    pub async fn protection(&self) -> AppResult<Policy> {
        self.settings()?;
        read_policy(self.access.store().conn()).await
    }

    /// Replaces the server-wide protection settings; this replica applies them to its next
    /// request, the others within a second (`protection::POLICY_TTL`).
    pub async fn set_protection(&self, policy: Policy) -> AppResult<Policy> {
        self.settings()?;
        let raw = serde_json::to_string(&policy).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("writing the protection settings: {e}"))
        })?;
        let txn = self.access.store().begin_write().await?;
        settings::put(&txn.txn, POLICY_SETTING, &raw).await?;
        let event = self.access.event(
            "UPDATE",
            "setProtectionSettings",
            "setting",
            vec![POLICY_SETTING.to_owned()],
            ["allowedIps", "credentialRateLimit", "addressRateLimit"]
                .map(str::to_owned)
                .to_vec(),
        );
        changes::announce(&txn.txn, Change::Protection).await?;
        txn.commit(Effects::audited(event)).await?;
        self.access
            .protection()
            .remember(std::sync::Arc::new(policy.clone()));
        Ok(policy)
    }

    pub async fn set_developer_portal_enabled(&self, enabled: bool) -> AppResult<bool> {
        self.settings()?;
        let txn = self.access.store().begin_write().await?;
        settings::put(
            &txn.txn,
            settings::DEVELOPER_PORTAL,
            if enabled { "true" } else { "false" },
        )
        .await?;
        let event = self.access.event(
            "UPDATE",
            "setDeveloperPortalEnabled",
            "setting",
            vec![settings::DEVELOPER_PORTAL.to_owned()],
            vec![format!("enabled={enabled}")],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(enabled)
    }
}
