//! Partner apps and their client secrets.

use chrono::{DateTime, Utc};
use entity::{partner_app, partner_app_secret};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use crate::domain::network::Limits;
use crate::error::AppResult;

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Everything registered for an app, as the directory's form gives it.
#[derive(Clone, Debug)]
pub struct AppFields {
    pub name: String,
    pub category: String,
    pub description: String,
    pub homepage: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub client_ids: Option<Vec<Uuid>>,
    pub location_ids: Option<Vec<Uuid>>,
}

pub struct NewApp {
    pub fields: AppFields,
    pub client_id: String,
    pub client_type: String,
    pub environment: String,
    pub created_by: Option<Uuid>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewApp) -> AppResult<partner_app::Model> {
    let f = new.fields;
    Ok(partner_app::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(f.name),
        category: Set(f.category),
        description: Set(f.description),
        homepage: Set(f.homepage),
        redirect_uris: Set(json(&f.redirect_uris)),
        client_id: Set(new.client_id),
        client_type: Set(new.client_type),
        scopes: Set(json(&f.scopes)),
        client_ids: Set(json(&f.client_ids)),
        location_ids: Set(json(&f.location_ids)),
        environment: Set(new.environment),
        status: Set("ACTIVE".into()),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        allowed_ips: Set(None),
        rate_per_minute: Set(None),
        rate_burst: Set(None),
    }
    .insert(db)
    .await?)
}

pub async fn update_fields(
    db: &impl ConnectionTrait,
    app: partner_app::Model,
    f: AppFields,
) -> AppResult<partner_app::Model> {
    let mut row: partner_app::ActiveModel = app.into();
    row.name = Set(f.name);
    row.category = Set(f.category);
    row.description = Set(f.description);
    row.homepage = Set(f.homepage);
    row.redirect_uris = Set(json(&f.redirect_uris));
    row.scopes = Set(json(&f.scopes));
    row.client_ids = Set(json(&f.client_ids));
    row.location_ids = Set(json(&f.location_ids));
    Ok(row.update(db).await?)
}

/// Holds an app (every grant of it) to these addresses and this rate.
pub async fn set_limits(
    db: &impl ConnectionTrait,
    app: partner_app::Model,
    limits: &Limits,
) -> AppResult<partner_app::Model> {
    let (ips, per_minute, burst) = limits.to_columns();
    let mut row: partner_app::ActiveModel = app.into();
    row.allowed_ips = Set(ips);
    row.rate_per_minute = Set(per_minute);
    row.rate_burst = Set(burst);
    Ok(row.update(db).await?)
}

/// An app's own limits.
pub fn limits(app: &partner_app::Model) -> Limits {
    Limits::from_columns(
        app.allowed_ips.as_deref(),
        app.rate_per_minute,
        app.rate_burst,
    )
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    app: partner_app::Model,
    status: &str,
) -> AppResult<partner_app::Model> {
    let mut row: partner_app::ActiveModel = app.into();
    row.status = Set(status.to_owned());
    Ok(row.update(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<partner_app::Model>> {
    Ok(partner_app::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_client_id(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> AppResult<Option<partner_app::Model>> {
    Ok(partner_app::Entity::find()
        .filter(partner_app::Column::ClientId.eq(client_id))
        .one(db)
        .await?)
}

pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<partner_app::Model>> {
    Ok(partner_app::Entity::find()
        .order_by_asc(partner_app::Column::Id)
        .all(db)
        .await?)
}

/// Records a use, at most once per `resolution`: a write per request would turn every read
/// into a write.
pub async fn touch(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> AppResult<()> {
    partner_app::Entity::update_many()
        .col_expr(partner_app::Column::LastUsedAt, Expr::value(now))
        .filter(partner_app::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(partner_app::Column::LastUsedAt.is_null())
                .add(partner_app::Column::LastUsedAt.lt(stale_before)),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_secret(
    db: &impl ConnectionTrait,
    app_id: Uuid,
    prefix: String,
    secret_hash: String,
) -> AppResult<partner_app_secret::Model> {
    Ok(partner_app_secret::ActiveModel {
        id: Set(Uuid::now_v7()),
        app_id: Set(app_id),
        prefix: Set(prefix),
        secret_hash: Set(secret_hash),
        created_at: Set(Utc::now()),
        expires_at: Set(None),
    }
    .insert(db)
    .await?)
}

pub async fn find_secret(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> AppResult<Option<partner_app_secret::Model>> {
    Ok(partner_app_secret::Entity::find()
        .filter(partner_app_secret::Column::SecretHash.eq(secret_hash))
        .one(db)
        .await?)
}

/// An app's secrets, newest first.
pub async fn secrets_of(
    db: &impl ConnectionTrait,
    app_ids: &[Uuid],
) -> AppResult<Vec<partner_app_secret::Model>> {
    Ok(partner_app_secret::Entity::find()
        .filter(partner_app_secret::Column::AppId.is_in(app_ids.iter().copied()))
        .order_by_desc(partner_app_secret::Column::Id)
        .all(db)
        .await?)
}

/// Ends every secret of an app that has not ended by `until` at `until` (a rotation's overlap,
/// or now).
pub async fn expire_secrets(
    db: &impl ConnectionTrait,
    app_id: Uuid,
    until: DateTime<Utc>,
) -> AppResult<()> {
    partner_app_secret::Entity::update_many()
        .col_expr(partner_app_secret::Column::ExpiresAt, Expr::value(until))
        .filter(partner_app_secret::Column::AppId.eq(app_id))
        .filter(
            Condition::any()
                .add(partner_app_secret::Column::ExpiresAt.is_null())
                .add(partner_app_secret::Column::ExpiresAt.gt(until)),
        )
        .exec(db)
        .await?;
    Ok(())
}
