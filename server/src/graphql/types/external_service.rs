//! External service connections, their Test Connection results and the integration log.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::integration_log;

use crate::access::external_services::ConnectionView;
use crate::domain::environment::Environment;
use crate::domain::integration::{
    Direction, Health, HealthStatus, IntegrationErrorCode, Operation, Outcome, ProbeStep,
};
use crate::domain::service_connection::{AuthKind, Identifiers, Protocol, ServiceType};
use crate::graphql::ids::to_id;
use crate::graphql::types::outside_records::{InboundAddress, ValidatedRequests};
use crate::integrations::{Report, StepReport};
use crate::store::service_connections::LogEntry;

/// A connection to an external service. Its credentials are never shown: only their kind,
/// whether they are set, and when they last changed.
pub struct ServiceConnection(pub ConnectionView);

/// A connection to an external service. Its credentials are never shown: only their kind,
/// whether they are set, and when they last changed.
#[Object]
impl ServiceConnection {
    async fn id(&self) -> ID {
        to_id(self.0.connection.id)
    }
    async fn name(&self) -> &str {
        &self.0.connection.name
    }
    async fn description(&self) -> &str {
        &self.0.connection.description
    }
    async fn service_type(&self) -> Option<ServiceType> {
        self.0.connection.service_type.parse().ok()
    }
    async fn protocol(&self) -> Option<Protocol> {
        self.0.connection.protocol.parse().ok()
    }
    /// Where the service is: a base URL, `mllp(s)://host:port`, or a directory.
    async fn address(&self) -> &str {
        &self.0.connection.address
    }
    /// For HTTP protocols: the path Test Connection GETs, relative to the address.
    async fn health_path(&self) -> &str {
        &self.0.connection.health_path
    }
    async fn identifiers(&self) -> Identifiers {
        serde_json::from_str(&self.0.connection.identifiers).unwrap_or_default()
    }
    async fn environment(&self) -> Environment {
        Environment::from_stored(&self.0.connection.environment)
    }
    async fn enabled(&self) -> bool {
        self.0.connection.enabled
    }
    /// How long each step may take, in milliseconds.
    async fn timeout_ms(&self) -> i32 {
        self.0.connection.timeout_ms
    }
    /// Certificate authorities (PEM) trusted for this service instead of the system's; not
    /// secret.
    async fn ca_certificates(&self) -> Option<&str> {
        self.0.connection.ca_pem.as_deref()
    }
    /// How Switchboard authenticates to the service.
    async fn auth_kind(&self) -> Option<AuthKind> {
        self.0.connection.auth_kind.parse().ok()
    }
    /// Whether secret credentials are stored (sealed); they are never shown again.
    async fn credentials_set(&self) -> bool {
        self.0.connection.auth_kind != AuthKind::None.as_str()
    }
    /// When the credentials last changed.
    async fn credentials_changed_at(&self) -> DateTime<Utc> {
        self.0.connection.credentials_changed_at
    }
    /// How it is doing, from its exchanges and health checks.
    async fn health(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<ConnectionHealth> {
        use crate::graphql::ContextExt;
        let h = ctx
            .access()?
            .external_services()
            .health(&self.0.connection)
            .await?;
        Ok(ConnectionHealth(h))
    }
    /// Its exchanges over the last `hours`, in `buckets` equal spans, oldest first: what a
    /// chart of its error rate and latency over time shows. Refusals by Switchboard are not
    /// counted.
    async fn health_history(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(default = 24, desc = "How far back, in hours (1 to 168).")] hours: i32,
        #[graphql(default = 24, desc = "In how many spans (1 to 168).")] buckets: i32,
    ) -> async_graphql::Result<Vec<HealthBucket>> {
        use crate::graphql::ContextExt;
        let list = ctx
            .access()?
            .external_services()
            .history(&self.0.connection, hours, buckets)
            .await?;
        Ok(list
            .into_iter()
            .map(|b| HealthBucket {
                start: b.start,
                exchanges: i32::try_from(b.exchanges).unwrap_or(i32::MAX),
                failures: i32::try_from(b.failures).unwrap_or(i32::MAX),
                average_latency_ms: b.average_latency_ms,
            })
            .collect())
    }
    /// Until when its exchanges are captured (debug capture); null while off.
    async fn debug_capture_until(&self) -> Option<DateTime<Utc>> {
        self.0
            .connection
            .debug_capture_until
            .filter(|until| *until > Utc::now())
    }
    /// The service's production test address, where requests go in validation mode.
    async fn validation_address(&self) -> Option<&str> {
        self.0.connection.validation_address.as_deref()
    }
    /// Requests go to the validation address, to be checked but not processed.
    async fn validation_mode(&self) -> bool {
        self.0.connection.validation_mode
    }
    /// LAB: the client whose patients and orders its results are for.
    async fn client_id(&self) -> Option<ID> {
        self.0.connection.client_id.map(to_id)
    }
    /// LAB: where its lab POSTs results over HTTPS (with an API key that has `tests:update`):
    /// HL7 v2 messages to `/services/{id}/hl7`, or, for an HTTPS_JSON connection, JSON to
    /// `/services/{id}/results`. Null for other types.
    async fn intake_address(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<String>> {
        use crate::graphql::ContextExt;
        if self.0.connection.service_type != ServiceType::Lab.as_str() {
            return Ok(None);
        }
        let base = ctx.access()?.public_base().trim_end_matches('/').to_owned();
        let path = if self.0.connection.protocol == Protocol::HttpsJson.as_str() {
            "results"
        } else {
            "hl7"
        };
        Ok(Some(format!(
            "{base}/services/{}/{path}",
            self.0.connection.id
        )))
    }
    /// LAB: how many of its messages wait in the dead-letter queue.
    async fn dead_letters(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<i32> {
        use crate::graphql::ContextExt;
        let n = ctx
            .access()?
            .lab_intake()
            .dead_count(self.0.connection.id)
            .await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
    /// LAB: its code mapping (empty: codes pass through as the lab sends them).
    async fn code_mappings(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Vec<crate::graphql::types::lab_intake::CodeMapping>> {
        use crate::graphql::ContextExt;
        let all = ctx
            .access()?
            .lab_intake()
            .mappings(self.0.connection.id)
            .await?;
        Ok(all
            .into_iter()
            .map(crate::graphql::types::lab_intake::CodeMapping)
            .collect())
    }
    /// Requests sent in validation mode, by how they went.
    async fn validated_requests(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<ValidatedRequests> {
        use crate::graphql::ContextExt;
        let (succeeded, failed) = ctx
            .access()?
            .outside_records()
            .validation_counts(self.0.connection.id)
            .await?;
        Ok(ValidatedRequests { succeeded, failed })
    }
    /// For a RECORDS_EXCHANGE connection, where its service sends its answers; for a LAB
    /// connection over HTTPS_JSON, its results: and whether they are checked (an inbound
    /// secret set; a lab's results must then be signed with it). Null for other types.
    async fn inbound(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<InboundAddress>> {
        use crate::graphql::ContextExt;
        let access = ctx.access()?;
        let Some(url) = crate::access::outside_records::signed_inbound_url(
            access.public_base(),
            &self.0.connection,
        ) else {
            return Ok(None);
        };
        let at = access
            .outside_records()
            .inbound_secret_set_at(self.0.connection.id)
            .await?;
        Ok(Some(InboundAddress {
            url,
            secret_set: at.is_some(),
            secret_changed_at: at,
        }))
    }
    /// For a LAB connection, how it is polled for results; null if it is not.
    async fn polling(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<super::service_polls::ServicePolling>> {
        use crate::graphql::ContextExt;
        let access = ctx.access()?;
        let row = access.service_polls().get(self.0.connection.id).await?;
        Ok(row.map(super::service_polls::ServicePolling))
    }
    /// The newest Test Connection, if there was one.
    async fn last_test(&self) -> Option<IntegrationLogEntry> {
        self.0
            .last_test
            .clone()
            .map(|e| IntegrationLogEntry(e.into()))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.connection.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.connection.updated_at
    }
}

/// A span of a connection's history.
#[derive(SimpleObject)]
pub struct HealthBucket {
    /// When the span starts; it lasts until the next one's start (or now).
    pub start: DateTime<Utc>,
    pub exchanges: i32,
    pub failures: i32,
    /// Null without exchanges.
    pub average_latency_ms: Option<f64>,
}

/// One step of talking to a service, as it went.
#[derive(SimpleObject)]
pub struct ConnectionTestStep {
    pub step: ProbeStep,
    pub ok: bool,
    pub latency_ms: i64,
    /// What the step found, in plain words.
    pub detail: String,
}

impl From<&StepReport> for ConnectionTestStep {
    fn from(s: &StepReport) -> Self {
        ConnectionTestStep {
            step: s.step,
            ok: s.ok,
            latency_ms: i64::try_from(s.latency_ms).unwrap_or(i64::MAX),
            detail: s.detail.clone(),
        }
    }
}

/// What Test Connection found.
pub struct ConnectionTestResult {
    pub report: Report,
    pub entry: integration_log::Model,
}

/// What Test Connection found.
#[Object]
impl ConnectionTestResult {
    /// Whether the service answered as a working one does.
    async fn ok(&self) -> bool {
        self.report.ok()
    }
    /// Why not; null when it did.
    async fn code(&self) -> Option<IntegrationErrorCode> {
        self.report.failure.as_ref().map(|f| f.code)
    }
    /// What happened, in plain words.
    async fn message(&self) -> &str {
        &self.entry.message
    }
    /// What to try; null when it worked.
    async fn fix(&self) -> Option<&str> {
        self.report.failure.as_ref().map(|f| f.fix.as_str())
    }
    /// Whether trying again later may succeed; null when it worked.
    async fn retryable(&self) -> Option<bool> {
        self.report.failure.as_ref().map(|f| f.retryable())
    }
    /// The steps taken, in order, up to the one that failed.
    async fn steps(&self) -> Vec<ConnectionTestStep> {
        self.report.steps.iter().map(Into::into).collect()
    }
    async fn latency_ms(&self) -> i64 {
        self.entry.latency_ms
    }
    /// The integration log entry this test wrote.
    async fn log_entry(&self) -> IntegrationLogEntry {
        IntegrationLogEntry(self.entry.clone().into())
    }
}

/// One exchange with an external service.
pub struct IntegrationLogEntry(pub LogEntry);

/// One exchange with an external service.
#[Object]
impl IntegrationLogEntry {
    async fn id(&self) -> ID {
        to_id(self.0.entry.id)
    }
    /// The connection; null if it has since been deleted or the exchange had none.
    async fn connection_id(&self) -> Option<ID> {
        self.0.entry.connection_id.map(to_id)
    }
    /// For a webhook delivery (`WEBHOOK_DELIVERY`): the endpoint it went to.
    async fn webhook_endpoint_id(&self) -> Option<ID> {
        self.0.webhook_endpoint_id.map(to_id)
    }
    async fn direction(&self) -> Option<Direction> {
        self.0.entry.direction.parse().ok()
    }
    async fn operation(&self) -> Option<Operation> {
        self.0.entry.operation.parse().ok()
    }
    async fn outcome(&self) -> Option<Outcome> {
        self.0.entry.outcome.parse().ok()
    }
    async fn error_code(&self) -> Option<IntegrationErrorCode> {
        self.0
            .entry
            .error_code
            .as_deref()
            .and_then(|c| c.parse().ok())
    }
    /// What happened, in plain words.
    async fn message(&self) -> &str {
        &self.0.entry.message
    }
    async fn latency_ms(&self) -> i64 {
        self.0.entry.latency_ms
    }
    /// Ties together the entries of one exchange (and what the service logs, where it is
    /// sent).
    async fn correlation_id(&self) -> &str {
        &self.0.entry.correlation_id
    }
    async fn environment(&self) -> Environment {
        Environment::from_stored(&self.0.entry.environment)
    }
    /// The steps taken.
    async fn steps(&self) -> Vec<ConnectionTestStep> {
        #[derive(serde::Deserialize)]
        struct Stored {
            step: String,
            ok: bool,
            latency_ms: i64,
            detail: String,
        }
        serde_json::from_str::<Vec<Stored>>(&self.0.entry.detail)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| {
                Some(ConnectionTestStep {
                    step: s.step.parse().ok()?,
                    ok: s.ok,
                    latency_ms: s.latency_ms,
                    detail: s.detail,
                })
            })
            .collect()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.entry.occurred_at
    }
    /// What was sent (`>`) and received (`<`), with secrets and patient data redacted; only
    /// while the connection's debug capture was on.
    async fn capture(&self) -> Option<&str> {
        self.0.entry.capture.as_deref()
    }
}

/// How a connection is doing. `status` follows documented thresholds: `DOWN` when its newest 3
/// exchanges (all, if fewer) failed; `DEGRADED` when in the last hour at least 10% failed or the
/// slowest 5% took more than half its timeout; `HEALTHY` otherwise; `UNKNOWN` before any.
pub struct ConnectionHealth(pub Health);

/// How a connection is doing. `status` follows documented thresholds: `DOWN` when its newest 3
/// exchanges (all, if fewer) failed; `DEGRADED` when in the last hour at least 10% failed or the
/// slowest 5% took more than half its timeout; `HEALTHY` otherwise; `UNKNOWN` before any.
#[Object]
impl ConnectionHealth {
    async fn status(&self) -> HealthStatus {
        self.0.status
    }
    /// The newest exchange that succeeded.
    async fn last_success_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_success_at
    }
    /// Exchanges (checks included) in the last 24 hours.
    #[graphql(name = "exchanges24h")]
    async fn exchanges_24h(&self) -> i32 {
        i32::try_from(self.0.exchanges_24h).unwrap_or(i32::MAX)
    }
    /// The share of them that failed (0 to 1); null without any.
    #[graphql(name = "errorRate24h")]
    async fn error_rate_24h(&self) -> Option<f64> {
        self.0.error_rate_24h
    }
    #[graphql(name = "averageLatencyMs24h")]
    async fn average_latency_ms_24h(&self) -> Option<f64> {
        self.0.average_latency_ms_24h
    }
    #[graphql(name = "p95LatencyMs24h")]
    async fn p95_latency_ms_24h(&self) -> Option<i64> {
        self.0.p95_latency_ms_24h
    }
    /// The share of exchanges that succeeded over 24 hours (0 to 1).
    #[graphql(name = "uptime24h")]
    async fn uptime_24h(&self) -> Option<f64> {
        self.0.uptime_24h
    }
    /// The same over 7 days.
    #[graphql(name = "uptime7d")]
    async fn uptime_7d(&self) -> Option<f64> {
        self.0.uptime_7d
    }
}
