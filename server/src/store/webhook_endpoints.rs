//! Webhook endpoints and their signing secrets.

use chrono::{DateTime, Utc};
use entity::{webhook_endpoint, webhook_endpoint_secret};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, Set, Statement,
};
use uuid::Uuid;

use crate::error::AppResult;
use crate::keyring::Keyring;
use crate::store::sealed;

/// What an endpoint is registered with.
#[derive(Clone, Debug)]
pub struct EndpointFields {
    pub url: String,
    pub description: String,
    /// Wire names; `None`: every type.
    pub event_types: Option<Vec<String>>,
}

pub struct NewEndpoint {
    pub fields: EndpointFields,
    pub environment: String,
    pub app_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
}

fn types_json(types: &Option<Vec<String>>) -> Option<String> {
    types
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewEndpoint,
) -> AppResult<webhook_endpoint::Model> {
    let now = Utc::now();
    Ok(webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        url: Set(new.fields.url),
        description: Set(new.fields.description),
        event_types: Set(types_json(&new.fields.event_types)),
        environment: Set(new.environment),
        enabled: Set(true),
        disabled_reason: Set(None),
        app_id: Set(new.app_id),
        failing_since: Set(None),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn update_fields(
    db: &impl ConnectionTrait,
    endpoint: webhook_endpoint::Model,
    f: EndpointFields,
) -> AppResult<webhook_endpoint::Model> {
    let mut row: webhook_endpoint::ActiveModel = endpoint.into();
    row.url = Set(f.url);
    row.description = Set(f.description);
    row.event_types = Set(types_json(&f.event_types));
    row.updated_at = Set(Utc::now());
    Ok(row.update(db).await?)
}

/// Enables (clearing the failure streak) or disables an endpoint.
pub async fn set_enabled(
    db: &impl ConnectionTrait,
    endpoint: webhook_endpoint::Model,
    disabled_reason: Option<&str>,
) -> AppResult<webhook_endpoint::Model> {
    let mut row: webhook_endpoint::ActiveModel = endpoint.into();
    row.enabled = Set(disabled_reason.is_none());
    row.disabled_reason = Set(disabled_reason.map(str::to_owned));
    if disabled_reason.is_none() {
        row.failing_since = Set(None);
    }
    row.updated_at = Set(Utc::now());
    Ok(row.update(db).await?)
}

/// Disables every endpoint of a partner app (when it is revoked).
pub async fn disable_of_app(
    db: &impl ConnectionTrait,
    app_id: Uuid,
    reason: &str,
) -> AppResult<()> {
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
        .col_expr(
            webhook_endpoint::Column::DisabledReason,
            Expr::value(reason),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(webhook_endpoint::Column::AppId.eq(app_id))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes an endpoint with its secrets, messages and attempts.
pub async fn delete(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    use entity::{webhook_attempt, webhook_message};
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    webhook_message::Entity::delete_many()
        .filter(webhook_message::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    webhook_endpoint_secret::Entity::delete_many()
        .filter(webhook_endpoint_secret::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    webhook_endpoint::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find_by_id(id).one(db).await?)
}

/// Endpoints oldest first: all, or one app's.
pub async fn list(
    db: &impl ConnectionTrait,
    app_id: Option<Uuid>,
) -> AppResult<Vec<webhook_endpoint::Model>> {
    let mut query = webhook_endpoint::Entity::find().order_by_asc(webhook_endpoint::Column::Id);
    if let Some(app) = app_id {
        query = query.filter(webhook_endpoint::Column::AppId.eq(app));
    }
    Ok(query.all(db).await?)
}

pub async fn enabled(db: &impl ConnectionTrait) -> AppResult<Vec<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?)
}

/// Keeps a signing secret, sealed.
pub async fn insert_secret(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    endpoint_id: Uuid,
    secret: &str,
    prefix: String,
) -> AppResult<webhook_endpoint_secret::Model> {
    let id = Uuid::now_v7();
    let sealed = sealed::seal(keyring, sealed::WEBHOOK_SIGNING_SECRET, id, secret)?;
    Ok(webhook_endpoint_secret::ActiveModel {
        id: Set(id),
        endpoint_id: Set(endpoint_id),
        secret: Set(sealed.text),
        key_id: Set(Some(sealed.key_id)),
        prefix: Set(prefix),
        created_at: Set(Utc::now()),
        expires_at: Set(None),
    }
    .insert(db)
    .await?)
}

/// Every secret of the endpoints, signing or ended, newest first.
pub async fn secrets_of(
    db: &impl ConnectionTrait,
    endpoint_ids: &[Uuid],
) -> AppResult<Vec<webhook_endpoint_secret::Model>> {
    use webhook_endpoint_secret::Column;
    Ok(webhook_endpoint_secret::Entity::find()
        .filter(Column::EndpointId.is_in(endpoint_ids.iter().copied()))
        .order_by_desc(Column::Id)
        .all(db)
        .await?)
}

/// Every secret of the endpoints (newest first) that still signs at `at`, opened: its
/// endpoint and the secret.
pub async fn active_secrets(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    endpoint_ids: &[Uuid],
    at: DateTime<Utc>,
) -> AppResult<Vec<(Uuid, String)>> {
    use webhook_endpoint_secret::Column;
    webhook_endpoint_secret::Entity::find()
        .filter(Column::EndpointId.is_in(endpoint_ids.iter().copied()))
        .filter(
            Condition::any()
                .add(Column::ExpiresAt.is_null())
                .add(Column::ExpiresAt.gt(at)),
        )
        .order_by_desc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|s| {
            let secret = sealed::open(
                keyring,
                sealed::WEBHOOK_SIGNING_SECRET,
                s.id,
                &s.secret,
                s.key_id.as_deref(),
            )?;
            Ok((s.endpoint_id, secret))
        })
        .collect()
}

/// Ends the endpoint's current secrets at `at` (a rotation's overlap).
pub async fn expire_secrets(
    db: &impl ConnectionTrait,
    endpoint_id: Uuid,
    at: DateTime<Utc>,
) -> AppResult<()> {
    use webhook_endpoint_secret::Column;
    webhook_endpoint_secret::Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(at))
        .filter(Column::EndpointId.eq(endpoint_id))
        .filter(
            Condition::any()
                .add(Column::ExpiresAt.is_null())
                .add(Column::ExpiresAt.gt(at)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the failure streak of endpoints that just succeeded.
pub fn mark_succeeding(backend: DbBackend, ids: &[Uuid]) -> Option<Statement> {
    use webhook_endpoint::Column;
    if ids.is_empty() {
        return None;
    }
    let update = webhook_endpoint::Entity::update_many()
        .col_expr(
            Column::FailingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::FailingSince.is_not_null());
    Some(backend.build(&update.into_query()))
}

/// Starts the failure streak of endpoints that just failed (unless one runs), and returns the
/// enabled ones whose streak began before `disable_before`.
pub async fn mark_failing(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    now: DateTime<Utc>,
    disable_before: DateTime<Utc>,
) -> AppResult<Vec<webhook_endpoint::Model>> {
    use webhook_endpoint::Column;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    webhook_endpoint::Entity::update_many()
        .col_expr(Column::FailingSince, Expr::value(now))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::FailingSince.is_null())
        .exec(db)
        .await?;
    Ok(webhook_endpoint::Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Enabled.eq(true))
        .filter(Column::FailingSince.lt(disable_before))
        .all(db)
        .await?)
}
