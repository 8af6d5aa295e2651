//! Testing a stored connection and recording what happened, in one transaction: the
//! integration log entry, the connection's new health status, and the events subscribers hear
//! (`integration.connection_failed` for a failure, `integration.status_changed` when the status
//! moves). Used by Test Connection (with its audit event) and by the periodic health checks.

use chrono::Utc;
use entity::{integration_log, service_connection};
use uuid::Uuid;

use super::{Connector, Reach, Report};
use crate::domain::environment::Environment;
use crate::domain::integration::{Direction, Health, HealthStatus, Operation, Outcome, Sample};
use crate::domain::service_connection::ConnectionForm;
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

/// Tests `row` and records it (as `operation`, with `audit` if a person asked).
pub async fn test_and_record(
    store: &Store,
    reach: &Reach,
    row: &service_connection::Model,
    operation: Operation,
    audit: Option<NewAuditEvent>,
) -> AppResult<(Report, integration_log::Model)> {
    let env = Environment::from_stored(&row.environment);
    let settings = form_of(row)?.parse(env).map_err(|(field, message)| {
        AppError::Internal(anyhow::anyhow!(
            "stored connection {} no longer parses: {field}: {message}",
            row.id
        ))
    })?;
    let credentials = store::credentials(store.keyring(), row)?;
    let report = Connector {
        settings: &settings,
        credentials: &credentials,
        reach,
        token_key: (row.id, row.credentials_changed_at.timestamp_micros()),
        capture: row
            .debug_capture_until
            .is_some_and(|until| until > Utc::now()),
    }
    .test()
    .await;
    let now = Utc::now();
    let entry = integration_log::Model {
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
            None => "the service answered as expected".into(),
            Some(f) => f.message.clone(),
        },
        latency_ms: i64::try_from(report.latency.as_millis()).unwrap_or(i64::MAX),
        correlation_id: Uuid::now_v7().simple().to_string(),
        environment: row.environment.clone(),
        detail: serde_json::to_string(&report.steps).unwrap_or_else(|_| "[]".into()),
        capture: report.capture.as_ref().map(|lines| lines.join("\n")),
        occurred_at: now,
    };
    let mut samples = store::samples(
        store.conn(),
        row.id,
        now - chrono::Duration::days(HEALTH_WINDOW_DAYS),
    )
    .await?;
    samples.push(Sample {
        ok: report.ok(),
        latency_ms: entry.latency_ms,
        at: now,
    });
    let status = Health::from_samples(&samples, now, i64::from(row.timeout_ms)).status;
    let txn = store.begin_write().await?;
    let entry = store::log(&txn.txn, entry).await?;
    let mut effects = match audit {
        Some(event) => Effects::audited(event),
        None => Effects::none(),
    };
    if report.failure.is_some() {
        // What failed is in the connection's `lastTest` and `health`, which the receiver
        // reads through the API (payloads stay thin).
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
        store::set_health_status(&txn.txn, row.id, status).await?;
        effects = effects.and(Effect::Webhook(NewEvent::about_setting(
            EventType::IntegrationStatusChanged,
            "service_connection",
            row.id,
            env,
            vec!["health".into()],
        )));
    }
    txn.commit(effects).await?;
    Ok((report, entry))
}
