//! External service connections, their credentials sealed, and the integration log.

use chrono::{DateTime, Utc};
use entity::{integration_log, service_connection};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::environment::Environment;
use crate::domain::integration::{
    Direction, HealthStatus, IntegrationErrorCode, Operation, Outcome, Sample,
};
use crate::domain::service_connection::{ConnectionSettings, Credentials};
use crate::domain::webhook_delivery::DeliveryError;
use crate::error::{AppError, AppResult};
use crate::keyring::{Keyring, Sealed};
use crate::store::sealed;

/// The columns a connection's settings are kept in.
fn settings_columns(s: &ConnectionSettings, address: &str) -> service_connection::ActiveModel {
    service_connection::ActiveModel {
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        service_type: Set(s.service_type.as_str().into()),
        protocol: Set(s.protocol.as_str().into()),
        address: Set(address.to_owned()),
        health_path: Set(s.health_path.clone()),
        identifiers: Set(serde_json::to_string(&s.identifiers).unwrap_or_else(|_| "{}".into())),
        environment: Set(s.environment.as_str().into()),
        enabled: Set(s.enabled),
        timeout_ms: Set(i32::try_from(s.timeout_ms).unwrap_or(i32::MAX)),
        ca_pem: Set(s.ca_pem.clone()),
        validation_mode: Set(s.validation_mode),
        validation_address: Set(s.validation_endpoint.as_ref().map(|url| url.to_string())),
        client_id: Set(s.client_id),
        ..Default::default()
    }
}

fn seal(keyring: &Keyring, id: Uuid, credentials: &Credentials) -> AppResult<Sealed> {
    let json = serde_json::to_string(credentials)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding credentials: {e}")))?;
    sealed::seal(keyring, sealed::SERVICE_CREDENTIALS, id, &json)
}

pub async fn insert(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    settings: &ConnectionSettings,
    address: &str,
    credentials: &Credentials,
    created_by: Option<Uuid>,
) -> AppResult<service_connection::Model> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let sealed = seal(keyring, id, credentials)?;
    let mut row = settings_columns(settings, address);
    row.id = Set(id);
    row.auth_kind = Set(credentials.kind().as_str().into());
    row.credentials = Set(sealed.text);
    row.key_id = Set(Some(sealed.key_id));
    row.credentials_changed_at = Set(now);
    row.health_status = Set(HealthStatus::Unknown.as_str().into());
    row.debug_capture_until = Set(None);
    row.created_by = Set(created_by);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    Ok(row.insert(db).await?)
}

/// Changes the settings and, when given, the credentials.
pub async fn update(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    id: Uuid,
    settings: &ConnectionSettings,
    address: &str,
    credentials: Option<&Credentials>,
) -> AppResult<service_connection::Model> {
    let now = Utc::now();
    let mut row = settings_columns(settings, address);
    row.id = sea_orm::Unchanged(id);
    row.updated_at = Set(now);
    if let Some(credentials) = credentials {
        let sealed = seal(keyring, id, credentials)?;
        row.auth_kind = Set(credentials.kind().as_str().into());
        row.credentials = Set(sealed.text);
        row.key_id = Set(Some(sealed.key_id));
        row.credentials_changed_at = Set(now);
    }
    Ok(row.update(db).await?)
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<service_connection::Model>> {
    Ok(service_connection::Entity::find_by_id(id).one(db).await?)
}

/// Every connection, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<service_connection::Model>> {
    Ok(service_connection::Entity::find()
        .order_by_asc(service_connection::Column::Id)
        .all(db)
        .await?)
}

/// How many enabled connections are in each state of health (`/metrics`).
pub async fn health_counts(db: &impl ConnectionTrait) -> AppResult<Vec<(String, i64)>> {
    use service_connection::Column;
    Ok(service_connection::Entity::find()
        .filter(Column::Enabled.eq(true))
        .select_only()
        .column(Column::HealthStatus)
        .column_as(Column::Id.count(), "n")
        .group_by(Column::HealthStatus)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?)
}

/// Removes a connection; its log entries stay (they are the record of what happened).
pub async fn delete(db: &impl ConnectionTrait, id: Uuid) -> AppResult<bool> {
    let done = service_connection::Entity::delete_by_id(id)
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The connection's credentials, opened.
pub fn credentials(keyring: &Keyring, row: &service_connection::Model) -> AppResult<Credentials> {
    let json = sealed::open(
        keyring,
        sealed::SERVICE_CREDENTIALS,
        row.id,
        &row.credentials,
        row.key_id.as_deref(),
    )?;
    serde_json::from_str(&json).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "connection {}: its credentials do not decode ({e})",
            row.id
        ))
    })
}

/// Adds an entry to the integration log.
pub async fn log(
    db: &impl ConnectionTrait,
    entry: integration_log::Model,
) -> AppResult<integration_log::Model> {
    let row: integration_log::ActiveModel = entry.into();
    Ok(row.insert(db).await?)
}

/// Which entries of the integration log to show.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub connection_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub error_code: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this one (the next page).
    pub before: Option<Uuid>,
    /// Only webhook deliveries (`Some(true)`), none (`Some(false)`), or both.
    pub webhook_deliveries: Option<bool>,
}

/// An entry of the integration log: a row of its own, or a webhook delivery attempt read from
/// the delivery log as one (so a delivery is not written twice on the hot path).
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub entry: integration_log::Model,
    pub webhook_endpoint_id: Option<Uuid>,
}

impl From<integration_log::Model> for LogEntry {
    fn from(entry: integration_log::Model) -> Self {
        LogEntry {
            entry,
            webhook_endpoint_id: None,
        }
    }
}

/// Entries newest first, at most `first`: the log's own and webhook delivery attempts, merged
/// by id (both are time-ordered).
pub async fn log_entries(
    db: &impl ConnectionTrait,
    filter: &LogFilter,
    environment: Option<Environment>,
    first: u64,
) -> AppResult<Vec<LogEntry>> {
    let mut out: Vec<LogEntry> = if filter.webhook_deliveries == Some(true) {
        vec![]
    } else {
        own_entries(db, filter, environment, first)
            .await?
            .into_iter()
            .map(LogEntry::from)
            .collect()
    };
    if filter.connection_id.is_none() && filter.webhook_deliveries != Some(false) {
        out.extend(deliveries(db, filter, environment, first).await?);
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.entry.id));
    out.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(out)
}

async fn own_entries(
    db: &impl ConnectionTrait,
    filter: &LogFilter,
    environment: Option<Environment>,
    first: u64,
) -> AppResult<Vec<integration_log::Model>> {
    use integration_log::Column;
    let mut q = integration_log::Entity::find();
    if let Some(env) = environment {
        q = q.filter(Column::Environment.eq(env.as_str()));
    }
    if let Some(c) = filter.connection_id {
        q = q.filter(Column::ConnectionId.eq(c));
    }
    if let Some(o) = &filter.outcome {
        q = q.filter(Column::Outcome.eq(o.as_str()));
    }
    if let Some(e) = &filter.error_code {
        q = q.filter(Column::ErrorCode.eq(e.as_str()));
    }
    if let Some(t) = filter.since {
        q = q.filter(Column::OccurredAt.gte(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(Column::OccurredAt.lt(t));
    }
    if let Some(b) = filter.before {
        q = q.filter(Column::Id.lt(b));
    }
    Ok(q.order_by_desc(Column::Id).limit(first).all(db).await?)
}

/// Webhook delivery attempts as log entries.
async fn deliveries(
    db: &impl ConnectionTrait,
    filter: &LogFilter,
    environment: Option<Environment>,
    first: u64,
) -> AppResult<Vec<LogEntry>> {
    use entity::{webhook_attempt as attempt, webhook_endpoint as endpoint};
    let mut q = attempt::Entity::find();
    if let Some(env) = environment {
        let endpoints = sea_orm::sea_query::Query::select()
            .column(endpoint::Column::Id)
            .from(endpoint::Entity)
            .and_where(endpoint::Column::Environment.eq(env.as_str()))
            .to_owned();
        q = q.filter(attempt::Column::EndpointId.in_subquery(endpoints));
    }
    match filter.outcome.as_deref() {
        None => {}
        Some(o) if o == Outcome::Ok.as_str() => q = q.filter(attempt::Column::Error.is_null()),
        Some(o) if o == Outcome::Failed.as_str() => {
            q = q.filter(attempt::Column::Error.is_not_null())
        }
        // Switchboard refuses no delivery before it is tried.
        Some(_) => return Ok(vec![]),
    }
    if let Some(code) = &filter.error_code {
        let errors: Vec<&str> = code
            .parse::<IntegrationErrorCode>()
            .map(|c| c.deliveries())
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.as_str())
            .collect();
        if errors.is_empty() {
            return Ok(vec![]);
        }
        q = q.filter(attempt::Column::Error.is_in(errors));
    }
    if let Some(t) = filter.since {
        q = q.filter(attempt::Column::AttemptedAt.gte(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(attempt::Column::AttemptedAt.lt(t));
    }
    if let Some(b) = filter.before {
        q = q.filter(attempt::Column::Id.lt(b));
    }
    let attempts = q
        .order_by_desc(attempt::Column::Id)
        .limit(first)
        .all(db)
        .await?;
    let mut ids: Vec<Uuid> = attempts.iter().map(|a| a.endpoint_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let environments: std::collections::HashMap<Uuid, String> = endpoint::Entity::find()
        .filter(endpoint::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e.environment))
        .collect();
    Ok(attempts
        .into_iter()
        .map(|a| {
            let error: Option<DeliveryError> = a.error.as_deref().and_then(|e| e.parse().ok());
            let answered = a.http_status.map(|s| format!("HTTP {s}"));
            let message = match (&error, answered) {
                (None, Some(status)) => format!("delivered: {status}"),
                (None, None) => "delivered".to_owned(),
                (Some(e), Some(status)) => {
                    format!("{}: {status} {}", e.as_str(), a.response_excerpt)
                }
                (Some(e), None) => format!("{}: {}", e.as_str(), a.response_excerpt),
            };
            LogEntry {
                entry: integration_log::Model {
                    id: a.id,
                    connection_id: None,
                    direction: Direction::Outbound.as_str().into(),
                    operation: Operation::WebhookDelivery.as_str().into(),
                    outcome: if error.is_none() {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    }
                    .as_str()
                    .into(),
                    error_code: error.map(|e| IntegrationErrorCode::of_delivery(e).as_str().into()),
                    message: message.trim_end().to_owned(),
                    latency_ms: i64::from(a.latency_ms),
                    // What the receiver saw as `webhook-id`.
                    correlation_id: crate::domain::webhook_delivery::wire_id(a.message_id),
                    environment: environments
                        .get(&a.endpoint_id)
                        .cloned()
                        .unwrap_or_else(|| "SANDBOX".into()),
                    detail: "[]".into(),
                    capture: None,
                    occurred_at: a.attempted_at,
                },
                webhook_endpoint_id: Some(a.endpoint_id),
            }
        })
        .collect())
}

/// The newest entry of `connection` for `operation`.
pub async fn latest(
    db: &impl ConnectionTrait,
    connection: Uuid,
    operation: &str,
) -> AppResult<Option<integration_log::Model>> {
    use integration_log::Column;
    Ok(integration_log::Entity::find()
        .filter(Column::ConnectionId.eq(connection))
        .filter(Column::Operation.eq(operation))
        .order_by_desc(Column::Id)
        .one(db)
        .await?)
}

/// Removes entries older than `before` (the retention).
pub async fn purge_log(db: &impl ConnectionTrait, before: DateTime<Utc>) -> AppResult<u64> {
    let done = integration_log::Entity::delete_many()
        .filter(integration_log::Column::OccurredAt.lt(before))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// The connection's exchanges since `since`, as health sees them.
pub async fn samples(
    db: &impl ConnectionTrait,
    connection: Uuid,
    since: DateTime<Utc>,
) -> AppResult<Vec<Sample>> {
    use integration_log::Column;
    Ok(integration_log::Entity::find()
        .filter(Column::ConnectionId.eq(connection))
        .filter(Column::OccurredAt.gte(since))
        .filter(Column::Outcome.ne(crate::domain::integration::Outcome::Refused.as_str()))
        .all(db)
        .await?
        .into_iter()
        .map(|e| Sample {
            ok: e.outcome == crate::domain::integration::Outcome::Ok.as_str(),
            latency_ms: e.latency_ms,
            at: e.occurred_at,
        })
        .collect())
}

/// Records the status a connection's exchanges gave it.
pub async fn set_health_status(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: HealthStatus,
) -> AppResult<()> {
    service_connection::ActiveModel {
        id: sea_orm::Unchanged(id),
        health_status: Set(status.as_str().into()),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Enabled connections whose newest `operation` entry is older than `before` (or that have
/// none): those due a periodic check.
pub async fn due_for(
    db: &impl ConnectionTrait,
    operation: &str,
    before: DateTime<Utc>,
) -> AppResult<Vec<service_connection::Model>> {
    use integration_log::Column;
    #[derive(sea_orm::FromQueryResult)]
    struct Newest {
        connection_id: Uuid,
        newest: DateTime<Utc>,
    }
    let newest: std::collections::HashMap<Uuid, DateTime<Utc>> = integration_log::Entity::find()
        .select_only()
        .column(Column::ConnectionId)
        .column_as(Column::OccurredAt.max(), "newest")
        .filter(Column::Operation.eq(operation))
        .filter(Column::ConnectionId.is_not_null())
        .group_by(Column::ConnectionId)
        .into_model::<Newest>()
        .all(db)
        .await?
        .into_iter()
        .map(|n| (n.connection_id, n.newest))
        .collect();
    Ok(service_connection::Entity::find()
        .filter(service_connection::Column::Enabled.eq(true))
        .order_by_asc(service_connection::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|c| newest.get(&c.id).is_none_or(|at| *at < before))
        .collect())
}

/// Turns the connection's debug capture on until `until`, or off (`None`).
pub async fn set_debug_capture(
    db: &impl ConnectionTrait,
    id: Uuid,
    until: Option<DateTime<Utc>>,
) -> AppResult<service_connection::Model> {
    Ok(service_connection::ActiveModel {
        id: sea_orm::Unchanged(id),
        debug_capture_until: Set(until),
        ..Default::default()
    }
    .update(db)
    .await?)
}
