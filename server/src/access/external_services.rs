//! External service connections (settings administrators only): registering them with their
//! credentials (sealed, never shown again: only whether they are set and when they changed),
//! changing and removing them, testing them for real, and reading the integration log. Every
//! change and every test is audited, without a secret.

use entity::{integration_log, service_connection};
use uuid::Uuid;

use super::Access;
use crate::domain::environment::Environment;
use crate::domain::integration::{Health, Operation};
use crate::domain::service_connection::{
    ConnectionForm, ConnectionSettings, Credentials, Endpoint, Protocol, token_endpoint,
};
use crate::error::{AppError, AppResult};
use crate::integrations::{Report, exchanges};
use crate::outbound::check_destination;
use crate::store::Effects;
use crate::store::service_connections::{self as store, LogFilter};

/// Log entries per page at most.
pub const MAX_PAGE: u64 = 100;
/// The longest a debug capture may run: it must not be left on.
pub const MAX_CAPTURE_MINUTES: i32 = 24 * 60;

pub struct ExternalServices<'a> {
    access: &'a Access,
}

/// A connection with the newest result of its Test Connection.
#[derive(Clone, Debug)]
pub struct ConnectionView {
    pub connection: service_connection::Model,
    pub last_test: Option<integration_log::Model>,
}

/// A Test Connection's result and the log entry it wrote.
pub struct TestView {
    pub report: Report,
    pub entry: integration_log::Model,
}

impl<'a> ExternalServices<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        ExternalServices { access }
    }

    fn allowed(&self) -> AppResult<()> {
        self.access.principal().require_settings_admin()
    }

    async fn view(&self, connection: service_connection::Model) -> AppResult<ConnectionView> {
        let last_test = store::latest(
            self.access.store().conn(),
            connection.id,
            Operation::TestConnection.as_str(),
        )
        .await?;
        Ok(ConnectionView {
            connection,
            last_test,
        })
    }

    /// A connection of the caller's environment.
    async fn find(&self, id: Uuid) -> AppResult<service_connection::Model> {
        store::find(self.access.store().conn(), id)
            .await?
            .filter(|c| self.access.sees_environment(&c.environment))
            .ok_or(AppError::NotFound("service connection"))
    }

    pub async fn list(&self) -> AppResult<Vec<ConnectionView>> {
        self.allowed()?;
        let mut out = vec![];
        for c in store::list(self.access.store().conn()).await? {
            if !self.access.sees_environment(&c.environment) {
                continue;
            }
            out.push(self.view(c).await?);
        }
        Ok(out)
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<ConnectionView>> {
        self.allowed()?;
        match self.find(id).await {
            Ok(c) => Ok(Some(self.view(c).await?)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Checks a form: its fields, where its address points now (as webhooks' are: loopback,
    /// private and link-local addresses only where the operator allowed them; checked again
    /// at every connection), and that a storage directory lies under an allowed root.
    async fn parse(
        &self,
        form: ConnectionForm,
        env: Environment,
    ) -> AppResult<(ConnectionSettings, String)> {
        let address = form.address.trim().to_owned();
        let settings = form
            .parse(env)
            .map_err(|(field, message)| AppError::invalid(format!("input.{field}"), message))?;
        if let Some(client_id) = settings.client_id {
            let client = crate::store::clients::find_client(self.access.store().conn(), client_id)
                .await?
                .ok_or_else(|| AppError::invalid("input.clientId", "no such client"))?;
            if Environment::from_stored(&client.environment) != env {
                return Err(AppError::EnvironmentMismatch(format!(
                    "the client is in {} and the connection in {}: they must be the same",
                    client.environment,
                    env.as_str()
                )));
            }
        }
        let reach = self.access.reach();
        let refused = |e: String| AppError::invalid("input.address", e);
        match &settings.endpoint {
            Endpoint::Directory(dir) => {
                if !crate::integrations::storage_allowed(dir, &reach.storage_roots) {
                    return Err(AppError::invalid(
                        "input.address",
                        "not under a directory the server's operator allowed (services.storage_roots)",
                    ));
                }
            }
            Endpoint::Url(url) | Endpoint::Bucket { url, .. } => {
                check_destination(&reach.policy, url)
                    .await
                    .map_err(refused)?
            }
            Endpoint::Tcp { host, port, .. } => {
                let url = url::Url::parse(&format!("mllp://{host}:{port}"))
                    .map_err(|e| AppError::invalid("input.address", e.to_string()))?;
                check_destination(&reach.policy, &url)
                    .await
                    .map_err(refused)?;
            }
        }
        Ok((settings, address))
    }

    /// Checks credentials for `env`; a token endpoint must be one the server may reach.
    async fn check_credentials(
        &self,
        credentials: &Credentials,
        protocol: Protocol,
        env: Environment,
    ) -> AppResult<()> {
        credentials.check(env).map_err(|(field, message)| {
            AppError::invalid(format!("credentials.{field}"), message)
        })?;
        credentials
            .fits(protocol)
            .map_err(|e| AppError::invalid("credentials.kind", e))?;
        if let Some(identity) = credentials.client_identity() {
            // Checked now, as the handshake will use them: they parse, and go together.
            crate::integrations::probe::client_config(None, Some(identity))
                .map_err(|e| AppError::invalid("credentials.certificate", e))?;
        }
        if let Credentials::OAuth2 { token_url, .. } = credentials {
            let url = token_endpoint(token_url, env)
                .map_err(|e| AppError::invalid("credentials.tokenUrl", e))?;
            check_destination(&self.access.reach().policy, &url)
                .await
                .map_err(|e| AppError::invalid("credentials.tokenUrl", e))?;
        }
        Ok(())
    }

    pub async fn create(
        &self,
        form: ConnectionForm,
        env: Environment,
        credentials: Credentials,
    ) -> AppResult<ConnectionView> {
        self.allowed()?;
        self.access.within_environment("environment", env)?;
        let (settings, address) = self.parse(form, env).await?;
        self.check_credentials(&credentials, settings.protocol, env)
            .await?;
        let txn = self.access.store().begin_write().await?;
        let row = store::insert(
            &txn.txn,
            self.access.store().keyring(),
            &settings,
            &address,
            &credentials,
            self.access.principal().portal_user_id(),
        )
        .await?;
        let event = self.access.event(
            "CREATE",
            "createServiceConnection",
            "service_connection",
            vec![row.id],
            changed_fields(true),
        );
        txn.commit(Effects::audited(event)).await?;
        self.view(row).await
    }

    /// Changes a connection; credentials given replace the stored ones, none keeps them.
    pub async fn update(
        &self,
        id: Uuid,
        form: ConnectionForm,
        credentials: Option<Credentials>,
    ) -> AppResult<ConnectionView> {
        self.allowed()?;
        let existing = self.find(id).await?;
        let env = Environment::from_stored(&existing.environment);
        let (settings, address) = self.parse(form, env).await?;
        match &credentials {
            Some(c) => self.check_credentials(c, settings.protocol, env).await?,
            // Kept credentials must still fit the protocol, which may have changed.
            None => store::credentials(self.access.store().keyring(), &existing)?
                .fits(settings.protocol)
                .map_err(|e| AppError::invalid("credentials.kind", e))?,
        }
        let txn = self.access.store().begin_write().await?;
        let row = store::update(
            &txn.txn,
            self.access.store().keyring(),
            id,
            &settings,
            &address,
            credentials.as_ref(),
        )
        .await?;
        let event = self.access.event(
            "UPDATE",
            "updateServiceConnection",
            "service_connection",
            vec![row.id],
            changed_fields(credentials.is_some()),
        );
        txn.commit(Effects::audited(event)).await?;
        self.view(row).await
    }

    pub async fn delete(&self, id: Uuid) -> AppResult<bool> {
        self.allowed()?;
        self.find(id).await?;
        let txn = self.access.store().begin_write().await?;
        store::delete(&txn.txn, id).await?;
        crate::store::outside_records::delete_inbound_secret(&txn.txn, id).await?;
        crate::store::service_polls::remove(&txn.txn, id).await?;
        let event = self.access.event(
            "DELETE",
            "deleteServiceConnection",
            "service_connection",
            vec![id],
            vec![],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(true)
    }

    /// Really talks to the service, step by step; the result goes to the integration log
    /// and the audit trail.
    pub async fn test(&self, id: Uuid) -> AppResult<TestView> {
        self.allowed()?;
        let row = self.find(id).await?;
        let event = self.access.event(
            "TEST",
            "testConnection",
            "service_connection",
            vec![row.id],
            vec![],
        );
        let (report, entry) = exchanges::test_and_record(
            self.access.store(),
            self.access.reach(),
            &row,
            Operation::TestConnection,
            Some(event),
        )
        .await?;
        Ok(TestView { report, entry })
    }

    /// Turns debug capture on for `minutes` (it turns itself off then), or off with 0.
    pub async fn set_debug_capture(&self, id: Uuid, minutes: i32) -> AppResult<ConnectionView> {
        self.allowed()?;
        if !(0..=MAX_CAPTURE_MINUTES).contains(&minutes) {
            return Err(AppError::invalid(
                "minutes",
                format!("between 0 (off) and {MAX_CAPTURE_MINUTES}"),
            ));
        }
        self.find(id).await?;
        let until = (minutes > 0)
            .then(|| chrono::Utc::now() + chrono::Duration::minutes(i64::from(minutes)));
        let txn = self.access.store().begin_write().await?;
        let row = store::set_debug_capture(&txn.txn, id, until).await?;
        let event = self.access.event(
            "UPDATE",
            "setServiceConnectionDebugCapture",
            "service_connection",
            vec![id],
            vec!["debugCaptureUntil".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.view(row).await
    }

    /// A connection's health now.
    pub async fn health(&self, connection: &service_connection::Model) -> AppResult<Health> {
        self.allowed()?;
        exchanges::health(self.access.store(), connection).await
    }

    /// A connection's exchanges over the last `hours` (1 to 168), in `buckets` spans (1 to
    /// 168), oldest first.
    pub async fn history(
        &self,
        connection: &service_connection::Model,
        hours: i32,
        buckets: i32,
    ) -> AppResult<Vec<crate::domain::integration::Bucket>> {
        self.allowed()?;
        let bounded = |v: i32, name: &str| {
            u32::try_from(v)
                .ok()
                .filter(|v| (1..=168).contains(v))
                .ok_or_else(|| AppError::invalid(name.to_owned(), "between 1 and 168"))
        };
        let hours = bounded(hours, "hours")?;
        let buckets = bounded(buckets, "buckets")?;
        exchanges::history(
            self.access.store(),
            connection,
            chrono::Duration::hours(i64::from(hours)),
            buckets,
        )
        .await
    }

    /// The integration log, newest first.
    pub async fn log(&self, filter: &LogFilter, first: u64) -> AppResult<Vec<store::LogEntry>> {
        self.allowed()?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(AppError::invalid(
                "first",
                format!("between 1 and {MAX_PAGE}"),
            ));
        }
        let env = self.access.environment();
        store::log_entries(self.access.store().conn(), filter, env, first).await
    }
}

/// The audit's field names of a change: the settings, and `credentials` when they changed
/// (the name only, never a value).
fn changed_fields(credentials: bool) -> Vec<String> {
    let mut fields: Vec<String> = [
        "name",
        "description",
        "serviceType",
        "protocol",
        "address",
        "healthPath",
        "identifiers",
        "enabled",
        "timeoutMs",
        "caCertificates",
        "clientId",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if credentials {
        fields.push("credentials".into());
    }
    fields
}
