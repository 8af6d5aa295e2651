//! External service connections and the integration log (settings administrators).

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::ContextExt;
use super::ids::parse_id;
use super::types::external_service::{
    ConnectionTestResult, IntegrationLogEntry, ServiceConnection,
};
use crate::domain::environment::Environment;
use crate::domain::integration::{IntegrationErrorCode, Outcome};
use crate::domain::service_connection::{
    AuthKind, ConnectionForm, Credentials, Identifiers, Protocol, ServiceType,
};
use crate::error::AppError;
use crate::store::service_connections::LogFilter;

type R<T> = async_graphql::Result<T>;

/// What a connection is configured with.
#[derive(InputObject)]
pub struct ServiceConnectionInput {
    /// A name administrators know it by (1 to 200 characters).
    pub name: String,
    /// What it is for (up to 500 characters).
    #[graphql(default)]
    pub description: String,
    /// What kind of system it reaches.
    pub service_type: ServiceType,
    /// Which protocols fit depends on the service type: a LAB connection uses HTTPS_JSON,
    /// HL7V2_MLLP or HL7V2_HTTP; DATA_STORAGE uses LOCAL_PATH; the others HTTPS_JSON.
    pub protocol: Protocol,
    /// A base URL (`https://…`; plain `http` only in sandbox), `mllps://host:port` (or
    /// `mllp://` in sandbox), or an absolute directory. Loopback, private and link-local
    /// addresses need the server's `services.allowed_hosts`.
    pub address: String,
    /// For HTTP protocols: the path Test Connection GETs, relative to the address (default
    /// `health`).
    pub health_path: Option<String>,
    /// Identifiers the service knows Switchboard and itself by.
    pub identifiers: Option<Identifiers>,
    /// Whether it is in use (default true).
    #[graphql(default = true)]
    pub enabled: bool,
    /// How long each step may take, in milliseconds (100 to 120000; default 10000).
    pub timeout_ms: Option<i32>,
    /// Certificate authorities (PEM) trusted for this service instead of the system's: a
    /// private CA. Host names are still verified.
    pub ca_certificates: Option<String>,
    /// For a production connection: the service's production test address (same form as
    /// `address`), where requests go in validation mode.
    pub validation_address: Option<String>,
    /// Send requests to `validationAddress`, to be checked there but not processed
    /// (production onboarding). Production connections only; default false.
    #[graphql(default)]
    pub validation_mode: bool,
    /// LAB: the client whose patients and orders its results are for (of the connection's
    /// environment). Results intake needs it.
    pub client_id: Option<ID>,
}

/// How Switchboard authenticates to the service. Stored sealed; never shown again.
#[derive(InputObject)]
pub struct ServiceCredentialsInput {
    /// Which kind; the fields it needs are required, the others refused.
    pub kind: AuthKind,
    /// API_KEY: the header the key goes in (e.g. `X-Api-Key`).
    pub api_key_header: Option<String>,
    /// API_KEY: the key.
    #[graphql(secret)]
    pub api_key: Option<String>,
    /// BASIC: the user name.
    pub username: Option<String>,
    /// BASIC: the password.
    #[graphql(secret)]
    pub password: Option<String>,
    /// OAUTH2_CLIENT_CREDENTIALS: the service's token endpoint (https; http in sandbox).
    pub token_url: Option<String>,
    /// OAUTH2_CLIENT_CREDENTIALS: the client id.
    pub client_id: Option<String>,
    /// OAUTH2_CLIENT_CREDENTIALS: the client secret.
    #[graphql(secret)]
    pub client_secret: Option<String>,
    /// OAUTH2_CLIENT_CREDENTIALS: the scope to ask for, if the service wants one.
    pub scope: Option<String>,
    /// CLIENT_CERTIFICATE: the certificate (PEM), with its chain.
    pub certificate: Option<String>,
    /// CLIENT_CERTIFICATE: its private key (PEM).
    #[graphql(secret)]
    pub private_key: Option<String>,
    /// ACCESS_KEY: the access key id.
    pub access_key_id: Option<String>,
    /// ACCESS_KEY: the secret access key.
    #[graphql(secret)]
    pub secret_access_key: Option<String>,
}

impl ServiceConnectionInput {
    fn into_form(self) -> Result<ConnectionForm, AppError> {
        Ok(ConnectionForm {
            name: self.name,
            description: self.description,
            service_type: self.service_type,
            protocol: self.protocol,
            address: self.address,
            health_path: self.health_path,
            identifiers: self.identifiers.unwrap_or_default(),
            enabled: self.enabled,
            timeout_ms: self
                .timeout_ms
                .map(|t| {
                    u32::try_from(t)
                        .map_err(|_| AppError::invalid("input.timeoutMs", "must not be negative"))
                })
                .transpose()?,
            ca_pem: self.ca_certificates,
            validation_address: self.validation_address,
            validation_mode: self.validation_mode,
            client_id: self
                .client_id
                .as_ref()
                .map(|id| parse_id("input.clientId", id))
                .transpose()?,
        })
    }
}

impl ServiceCredentialsInput {
    /// The credentials of its kind; a part the kind needs and lacks, or one it does not
    /// use, is refused by name.
    fn into_credentials(self) -> Result<Credentials, AppError> {
        let need = |v: Option<String>, field: &str| {
            v.ok_or_else(|| {
                AppError::invalid(format!("credentials.{field}"), "required for this kind")
            })
        };
        let unused = |present: bool, field: &str| {
            if present {
                Err(AppError::invalid(
                    format!("credentials.{field}"),
                    "not used by this kind",
                ))
            } else {
                Ok(())
            }
        };
        let (api_key, basic, oauth) = (
            self.api_key_header.is_some() || self.api_key.is_some(),
            self.username.is_some() || self.password.is_some(),
            self.token_url.is_some()
                || self.client_id.is_some()
                || self.client_secret.is_some()
                || self.scope.is_some(),
        );
        let certificate = self.certificate.is_some() || self.private_key.is_some();
        let access_key = self.access_key_id.is_some() || self.secret_access_key.is_some();
        unused(
            access_key && self.kind != AuthKind::AccessKey,
            "secretAccessKey",
        )?;
        let kind = self.kind;
        unused(
            certificate && kind != AuthKind::ClientCertificate,
            "privateKey",
        )?;
        unused(api_key && kind != AuthKind::ApiKey, "apiKey")?;
        unused(basic && kind != AuthKind::Basic, "password")?;
        unused(
            oauth && kind != AuthKind::Oauth2ClientCredentials,
            "clientSecret",
        )?;
        match kind {
            AuthKind::None => Ok(Credentials::None),
            AuthKind::ApiKey => Ok(Credentials::ApiKey {
                header: need(self.api_key_header, "apiKeyHeader")?,
                key: need(self.api_key, "apiKey")?,
            }),
            AuthKind::Basic => Ok(Credentials::Basic {
                username: need(self.username, "username")?,
                password: need(self.password, "password")?,
            }),
            AuthKind::ClientCertificate => Ok(Credentials::ClientCertificate {
                certificate_pem: need(self.certificate, "certificate")?,
                private_key_pem: need(self.private_key, "privateKey")?,
            }),
            AuthKind::Oauth2ClientCredentials => Ok(Credentials::OAuth2 {
                token_url: need(self.token_url, "tokenUrl")?,
                client_id: need(self.client_id, "clientId")?,
                client_secret: need(self.client_secret, "clientSecret")?,
                scope: self.scope,
            }),
            AuthKind::AccessKey => Ok(Credentials::AccessKey {
                access_key_id: need(self.access_key_id, "accessKeyId")?,
                secret_access_key: need(self.secret_access_key, "secretAccessKey")?,
            }),
        }
    }
}

/// Which entries of the integration log to show.
#[derive(InputObject, Default)]
pub struct IntegrationLogFilter {
    /// Of this connection (webhook deliveries have none, so they are left out).
    pub connection_id: Option<ID>,
    /// Only webhook deliveries (true), or none of them (false); both when not given.
    pub webhook_deliveries: Option<bool>,
    /// That ended so.
    pub outcome: Option<Outcome>,
    /// That failed with this code.
    pub error_code: Option<IntegrationErrorCode>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ExternalServiceQuery;

#[Object]
impl ExternalServiceQuery {
    /// Connections to external services, oldest first.
    async fn service_connections(&self, ctx: &Context<'_>) -> R<Option<Vec<ServiceConnection>>> {
        let list = ctx.access()?.external_services().list().await?;
        Ok(Some(list.into_iter().map(ServiceConnection).collect()))
    }

    /// One connection.
    async fn service_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection's id.")] id: ID,
    ) -> R<Option<ServiceConnection>> {
        let id = parse_id("id", &id)?;
        Ok(ctx
            .access()?
            .external_services()
            .get(id)
            .await?
            .map(ServiceConnection))
    }

    /// Exchanges with external services, newest first.
    async fn integration_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Keep only these entries.")] filter: Option<IntegrationLogFilter>,
        #[graphql(default = 50, desc = "How many, at most 100.")] first: i32,
        #[graphql(desc = "Entries older than this one (its id): the next page.")] before: Option<
            ID,
        >,
    ) -> R<Option<Vec<IntegrationLogEntry>>> {
        let filter = filter.unwrap_or_default();
        let filter = LogFilter {
            connection_id: filter
                .connection_id
                .as_ref()
                .map(|id| parse_id("filter.connectionId", id))
                .transpose()?,
            outcome: filter.outcome.map(|o| o.as_str().to_owned()),
            error_code: filter.error_code.map(|c| c.as_str().to_owned()),
            since: filter.since,
            until: filter.until,
            before: before.as_ref().map(|b| parse_id("before", b)).transpose()?,
            webhook_deliveries: filter.webhook_deliveries,
        };
        let first = u64::try_from(first).unwrap_or(0);
        let list = ctx
            .access()?
            .external_services()
            .log(&filter, first)
            .await?;
        Ok(Some(list.into_iter().map(IntegrationLogEntry).collect()))
    }
}

#[derive(Default)]
pub struct ExternalServiceMutation;

#[Object]
impl ExternalServiceMutation {
    /// Registers a connection. Its credentials are sealed and never shown again.
    async fn create_service_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to register.")] input: ServiceConnectionInput,
        #[graphql(desc = "Sandbox or production: fixed once made.")] environment: Environment,
        #[graphql(desc = "How to authenticate to the service.")]
        credentials: ServiceCredentialsInput,
    ) -> R<Option<ServiceConnection>> {
        let form = input.into_form()?;
        let credentials = credentials.into_credentials()?;
        let view = ctx
            .access()?
            .external_services()
            .create(form, environment, credentials)
            .await?;
        Ok(Some(ServiceConnection(view)))
    }

    /// Changes a connection. Credentials given replace the stored ones; leave them out to
    /// keep them.
    async fn update_service_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection.")] id: ID,
        #[graphql(desc = "Its settings, whole.")] input: ServiceConnectionInput,
        #[graphql(desc = "New credentials; omit to keep the stored ones.")] credentials: Option<
            ServiceCredentialsInput,
        >,
    ) -> R<Option<ServiceConnection>> {
        let id = parse_id("id", &id)?;
        let form = input.into_form()?;
        let credentials = credentials.map(|c| c.into_credentials()).transpose()?;
        let view = ctx
            .access()?
            .external_services()
            .update(id, form, credentials)
            .await?;
        Ok(Some(ServiceConnection(view)))
    }

    /// Keeps what the connection's exchanges send and receive (secrets and patient data
    /// redacted) in their log entries, for `minutes` (default 30, at most 1440); then it turns
    /// itself off. 0 turns it off now.
    async fn set_service_connection_debug_capture(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection.")] id: ID,
        #[graphql(default = 30, desc = "For how long, in minutes; 0: off.")] minutes: i32,
    ) -> R<Option<ServiceConnection>> {
        let id = parse_id("id", &id)?;
        let view = ctx
            .access()?
            .external_services()
            .set_debug_capture(id, minutes)
            .await?;
        Ok(Some(ServiceConnection(view)))
    }

    /// Removes a connection and its credentials; its log entries stay.
    async fn delete_service_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection.")] id: ID,
    ) -> R<Option<bool>> {
        let id = parse_id("id", &id)?;
        Ok(Some(ctx.access()?.external_services().delete(id).await?))
    }

    /// Really talks to the service: resolves its name, connects, verifies its TLS certificate,
    /// authenticates and makes one harmless call (an HTTP health request; an HL7 test message
    /// answered by an acknowledgement; a probe file written, read back and deleted). Answers
    /// each step with its time, and the first failure classified, in plain words, with what
    /// to try. Written to the integration log.
    async fn test_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection.")] id: ID,
    ) -> R<Option<ConnectionTestResult>> {
        let id = parse_id("id", &id)?;
        let done = ctx.access()?.external_services().test(id).await?;
        Ok(Some(ConnectionTestResult {
            report: done.report,
            entry: done.entry,
        }))
    }
}
