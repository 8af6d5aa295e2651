//! Exchanges over a stored connection (a test, a send) and recording what happened, in one
//! transaction: the integration log entry, the connection's new health status, and the events
//! subscribers hear (`integration.connection_failed` for a failure, `integration.status_changed`
//! when the status moves). Used by Test Connection (with its audit event), the periodic health
//! checks and records requests (with the request they sent).

use chrono::Utc;
use entity::{integration_log, service_connection};
use uuid::Uuid;

use sea_orm::DatabaseTransaction;

use super::retry::Backoff;
use super::services::Outgoing;
use super::{Connector, Reach, Report};
use crate::domain::environment::Environment;
use crate::domain::integration::{
    Bucket, Direction, Health, HealthStatus, Operation, Outcome, Sample,
};
use crate::domain::service_connection::{ConnectionForm, ConnectionSettings, Credentials};
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::{AppError, AppResult, parse_stored};
use crate::store::audit::NewAuditEvent;
use crate::store::service_connections as store;
use crate::store::{Effect, Effects, Store};

/// How far back health looks.
const HEALTH_WINDOW_DAYS: i64 = 7;

/// A stored connection as the form it was made from, parsed again (the address is left to
/// the connection's own steps, which report a refused one as BLOCKED_ADDRESS: the
/// allow-lists may have changed since it was saved).
pub fn form_of(row: &service_connection::Model) -> AppResult<ConnectionForm> {
    Ok(ConnectionForm {
        name: row.name.clone(),
        description: row.description.clone(),
        service_type: parse_stored(&row.service_type)?,
        protocol: parse_stored(&row.protocol)?,
        address: row.address.clone(),
        health_path: Some(row.health_path.clone()),
        identifiers: serde_json::from_str(&row.identifiers).unwrap_or_default(),
        enabled: row.enabled,
        timeout_ms: u32::try_from(row.timeout_ms).ok(),
        ca_pem: row.ca_pem.clone(),
        validation_address: row.validation_address.clone(),
        validation_mode: row.validation_mode,
        client_id: row.client_id,
    })
}

/// A connection's health now, from its log.
pub async fn health(store: &Store, row: &service_connection::Model) -> AppResult<Health> {
    let now = Utc::now();
    let samples = store::samples(
        store.conn(),
        row.id,
        now - chrono::Duration::days(HEALTH_WINDOW_DAYS),
    )
    .await?;
    Ok(Health::from_samples(
        &samples,
        now,
        i64::from(row.timeout_ms),
    ))
}

/// A connection's exchanges over the `span` before now, in `buckets` spans (for charts).
pub async fn history(
    store: &Store,
    row: &service_connection::Model,
    span: chrono::Duration,
    buckets: u32,
) -> AppResult<Vec<Bucket>> {
    let now = Utc::now();
    let samples = store::samples(store.conn(), row.id, now - span).await?;
    Ok(crate::domain::integration::history(
        &samples, now, span, buckets,
    ))
}

/// `row` ready to talk to its service: its settings parsed again and its credentials opened.
pub(super) fn opened(
    store: &Store,
    row: &service_connection::Model,
) -> AppResult<(ConnectionSettings, Credentials)> {
    let env = Environment::from_stored(&row.environment);
    let settings = form_of(row)?.parse(env).map_err(|(field, message)| {
        AppError::Internal(anyhow::anyhow!(
            "stored connection {} no longer parses: {field}: {message}",
            row.id
        ))
    })?;
    Ok((settings, store::credentials(store.keyring(), row)?))
}

pub(super) fn connector<'a>(
    row: &service_connection::Model,
    settings: &'a ConnectionSettings,
    credentials: &'a Credentials,
    reach: &'a Reach,
) -> Connector<'a> {
    Connector {
        settings,
        credentials,
        reach,
        token_key: (row.id, row.credentials_changed_at.timestamp_micros()),
        capture: row
            .debug_capture_until
            .is_some_and(|until| until > Utc::now()),
    }
}

/// Sends `message` over `row` (tried again after retryable failures): the report and how
/// many tries it took. Nothing is recorded yet (`entry`, `record`).
pub async fn send(
    store: &Store,
    reach: &Reach,
    row: &service_connection::Model,
    message: &Outgoing,
) -> AppResult<(Report, u32)> {
    let (settings, credentials) = opened(store, row)?;
    Ok(connector(row, &settings, &credentials, reach)
        .send(message, &Backoff::default())
        .await)
}

/// The log entry of a message `connection`'s service sent Switchboard: `error_code` and
/// `message` say what became of it.
pub fn inbound_entry(
    connection: &service_connection::Model,
    operation: Operation,
    outcome: Outcome,
    error_code: Option<&str>,
    message: String,
    started: std::time::Instant,
) -> integration_log::Model {
    integration_log::Model {
        id: Uuid::now_v7(),
        connection_id: Some(connection.id),
        direction: Direction::Inbound.as_str().into(),
        operation: operation.as_str().into(),
        outcome: outcome.as_str().into(),
        error_code: error_code.map(str::to_owned),
        message,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        correlation_id: Uuid::now_v7().simple().to_string(),
        environment: connection.environment.clone(),
        detail: "[]".into(),
        capture: None,
        occurred_at: Utc::now(),
    }
}

/// The log entry of an outbound exchange over `row` that went as `report` says.
pub fn entry(
    row: &service_connection::Model,
    operation: Operation,
    report: &Report,
    ok_message: &str,
) -> integration_log::Model {
    integration_log::Model {
        id: Uuid::now_v7(),
        connection_id: Some(row.id),
        direction: Direction::Outbound.as_str().into(),
        operation: operation.as_str().into(),
        outcome: if report.ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
        .as_str()
        .into(),
        error_code: report.failure.as_ref().map(|f| f.code.as_str().into()),
        message: match &report.failure {
            None => ok_message.into(),
            Some(f) => f.message.clone(),
        },
        latency_ms: i64::try_from(report.latency.as_millis()).unwrap_or(i64::MAX),
        correlation_id: Uuid::now_v7().simple().to_string(),
        environment: row.environment.clone(),
        detail: serde_json::to_string(&report.steps).unwrap_or_else(|_| "[]".into()),
        capture: report.capture.as_ref().map(|lines| lines.join("\n")),
        occurred_at: Utc::now(),
    }
}

/// The health status `row` has once `entry` is written, from its recent log: `None` for an
/// entry Switchboard refused (`Outcome::Refused`), which health does not count. Read before
/// the write transaction begins, so the read does not lengthen the writer's turn.
pub async fn health_after(
    store: &Store,
    row: &service_connection::Model,
    entry: &integration_log::Model,
) -> AppResult<Option<HealthStatus>> {
    if entry.outcome == Outcome::Refused.as_str() {
        return Ok(None);
    }
    let now = entry.occurred_at;
    let mut samples = store::samples(
        store.conn(),
        row.id,
        now - chrono::Duration::days(HEALTH_WINDOW_DAYS),
    )
    .await?;
    samples.push(Sample {
        ok: entry.outcome != Outcome::Failed.as_str(),
        latency_ms: entry.latency_ms,
        at: now,
    });
    Ok(Some(
        Health::from_samples(&samples, now, i64::from(row.timeout_ms)).status,
    ))
}

/// Writes `entry` in `txn` with what it changes: the connection's health status (`status`,
/// from `health_after`; none leaves it alone), and the events subscribers hear (added to
/// `effects`, for the caller's commit).
pub async fn record(
    txn: &DatabaseTransaction,
    row: &service_connection::Model,
    entry: integration_log::Model,
    status: Option<HealthStatus>,
    mut effects: Effects,
) -> AppResult<(integration_log::Model, Effects)> {
    let env = Environment::from_stored(&row.environment);
    let failed = entry.outcome == Outcome::Failed.as_str();
    let entry = store::log(txn, entry).await?;
    let Some(status) = status else {
        return Ok((entry, effects));
    };
    if failed {
        // What failed is in the connection's `lastTest`, `health` and the log, which the
        // receiver reads through the API (payloads stay thin).
        effects = effects.and(Effect::Webhook(NewEvent::about_setting(
            EventType::IntegrationConnectionFailed,
            "service_connection",
            row.id,
            env,
            vec!["lastTest".into()],
        )));
    }
    let previous: HealthStatus = row.health_status.parse().unwrap_or(HealthStatus::Unknown);
    if status != previous {
        store::set_health_status(txn, row.id, status).await?;
        effects = effects.and(Effect::Webhook(NewEvent::about_setting(
            EventType::IntegrationStatusChanged,
            "service_connection",
            row.id,
            env,
            vec!["health".into()],
        )));
    }
    Ok((entry, effects))
}

/// Tests `row` and records it (as `operation`, with `audit` if a person asked).
pub async fn test_and_record(
    store: &Store,
    reach: &Reach,
    row: &service_connection::Model,
    operation: Operation,
    audit: Option<NewAuditEvent>,
) -> AppResult<(Report, integration_log::Model)> {
    let (settings, credentials) = opened(store, row)?;
    let report = connector(row, &settings, &credentials, reach).test().await;
    let entry = entry(row, operation, &report, "the service answered as expected");
    let effects = match audit {
        Some(event) => Effects::audited(event),
        None => Effects::none(),
    };
    let status = health_after(store, row, &entry).await?;
    let txn = store.begin_write().await?;
    let (entry, effects) = record(&txn.txn, row, entry, status, effects).await?;
    txn.commit(effects).await?;
    Ok((report, entry))
}
