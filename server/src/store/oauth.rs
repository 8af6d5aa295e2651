//! The authorization server's state: grants, authorization codes, refresh tokens and signing
//! keys.

use chrono::{DateTime, Utc};
use entity::{oauth_code, oauth_grant, oauth_refresh_token, oauth_signing_key, partner_app};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::AppResult;

pub struct NewGrant {
    pub app_id: Uuid,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub secret_id: Option<Uuid>,
    pub scopes: Vec<String>,
}

pub async fn insert_grant(
    db: &impl ConnectionTrait,
    new: NewGrant,
) -> AppResult<oauth_grant::Model> {
    Ok(oauth_grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        app_id: Set(new.app_id),
        kind: Set(new.kind),
        user_id: Set(new.user_id),
        secret_id: Set(new.secret_id),
        scopes: Set(serde_json::to_string(&new.scopes).unwrap_or_else(|_| "[]".into())),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?)
}

pub async fn find_grant(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<oauth_grant::Model>> {
    Ok(oauth_grant::Entity::find_by_id(id).one(db).await?)
}

/// What a request with an access token must know of its grant, app and secret, read in one
/// query (a join on primary keys): every such request reads it, so that a revocation,
/// suspension, lowered ceiling or ended secret applies to the very next request on every
/// replica.
#[derive(Clone, Debug, FromQueryResult)]
pub struct TokenState {
    pub grant_scopes: String,
    pub grant_revoked_at: Option<DateTime<Utc>>,
    pub grant_last_used_at: Option<DateTime<Utc>>,
    pub user_id: Option<Uuid>,
    pub secret_id: Option<Uuid>,
    pub app_id: Uuid,
    pub app_name: String,
    pub app_client_id: String,
    pub app_status: String,
    pub app_scopes: String,
    pub app_client_ids: String,
    pub app_location_ids: String,
    pub app_environment: String,
    pub app_allowed_ips: Option<String>,
    pub app_rate_per_minute: Option<i32>,
    pub app_rate_burst: Option<i32>,
    /// The grant's secret, if it has one and it still exists.
    pub found_secret: Option<Uuid>,
    pub secret_expires_at: Option<DateTime<Utc>>,
}

pub async fn token_state(
    db: &impl ConnectionTrait,
    grant_id: Uuid,
) -> AppResult<Option<TokenState>> {
    use entity::partner_app_secret;
    use sea_orm::{JoinType, RelationTrait};
    Ok(oauth_grant::Entity::find_by_id(grant_id)
        .select_only()
        .column_as(oauth_grant::Column::Scopes, "grant_scopes")
        .column_as(oauth_grant::Column::RevokedAt, "grant_revoked_at")
        .column_as(oauth_grant::Column::LastUsedAt, "grant_last_used_at")
        .column(oauth_grant::Column::UserId)
        .column(oauth_grant::Column::SecretId)
        .column_as(partner_app::Column::Id, "app_id")
        .column_as(partner_app::Column::Name, "app_name")
        .column_as(partner_app::Column::ClientId, "app_client_id")
        .column_as(partner_app::Column::Status, "app_status")
        .column_as(partner_app::Column::Scopes, "app_scopes")
        .column_as(partner_app::Column::ClientIds, "app_client_ids")
        .column_as(partner_app::Column::LocationIds, "app_location_ids")
        .column_as(partner_app::Column::Environment, "app_environment")
        .column_as(partner_app::Column::AllowedIps, "app_allowed_ips")
        .column_as(partner_app::Column::RatePerMinute, "app_rate_per_minute")
        .column_as(partner_app::Column::RateBurst, "app_rate_burst")
        .column_as(partner_app_secret::Column::Id, "found_secret")
        .column_as(partner_app_secret::Column::ExpiresAt, "secret_expires_at")
        .join(JoinType::InnerJoin, oauth_grant::Relation::PartnerApp.def())
        .join(JoinType::LeftJoin, oauth_grant::Relation::Secret.def())
        .into_model::<TokenState>()
        .one(db)
        .await?)
}

/// The app's unrevoked client-credentials grant for one of its secrets.
pub async fn client_credentials_grant(
    db: &impl ConnectionTrait,
    app_id: Uuid,
    secret_id: Uuid,
) -> AppResult<Option<oauth_grant::Model>> {
    Ok(oauth_grant::Entity::find()
        .filter(oauth_grant::Column::AppId.eq(app_id))
        .filter(oauth_grant::Column::SecretId.eq(secret_id))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

/// Grants of some apps, newest first.
pub async fn grants_of(
    db: &impl ConnectionTrait,
    app_ids: &[Uuid],
) -> AppResult<Vec<oauth_grant::Model>> {
    Ok(oauth_grant::Entity::find()
        .filter(oauth_grant::Column::AppId.is_in(app_ids.iter().copied()))
        .order_by_desc(oauth_grant::Column::Id)
        .all(db)
        .await?)
}

/// Revokes the grants given (those not revoked yet); answers how many were.
pub async fn revoke_grants(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> AppResult<u64> {
    let done = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(at))
        .filter(oauth_grant::Column::Id.is_in(ids.iter().copied()))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Revokes every grant of an app.
pub async fn revoke_grants_of_app(
    db: &impl ConnectionTrait,
    app_id: Uuid,
    at: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = oauth_grant::Entity::find()
        .select_only()
        .column(oauth_grant::Column::Id)
        .filter(oauth_grant::Column::AppId.eq(app_id))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    revoke_grants(db, &ids, at).await?;
    Ok(ids)
}

pub async fn touch_grant(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> AppResult<()> {
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::LastUsedAt, Expr::value(now))
        .filter(oauth_grant::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(oauth_grant::Column::LastUsedAt.is_null())
                .add(oauth_grant::Column::LastUsedAt.lt(stale_before)),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_code(
    db: &impl ConnectionTrait,
    code_hash: String,
    grant_id: Uuid,
    redirect_uri: Option<String>,
    code_challenge: String,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    oauth_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        code_hash: Set(code_hash),
        grant_id: Set(grant_id),
        redirect_uri: Set(redirect_uri),
        code_challenge: Set(code_challenge),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> AppResult<Option<oauth_code::Model>> {
    Ok(oauth_code::Entity::find()
        .filter(oauth_code::Column::CodeHash.eq(code_hash))
        .one(db)
        .await?)
}

/// Marks a code used; false when it already was (by a concurrent request too: the condition
/// is in the UPDATE).
pub async fn use_code(db: &impl ConnectionTrait, id: Uuid, at: DateTime<Utc>) -> AppResult<bool> {
    let done = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(at))
        .filter(oauth_code::Column::Id.eq(id))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: String,
    grant_id: Uuid,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    oauth_refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token_hash),
        grant_id: Set(grant_id),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> AppResult<Option<oauth_refresh_token::Model>> {
    Ok(oauth_refresh_token::Entity::find()
        .filter(oauth_refresh_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

/// Marks a refresh token used; false when it already was.
pub async fn use_refresh_token(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> AppResult<bool> {
    let done = oauth_refresh_token::Entity::update_many()
        .col_expr(oauth_refresh_token::Column::UsedAt, Expr::value(at))
        .filter(oauth_refresh_token::Column::Id.eq(id))
        .filter(oauth_refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

pub async fn insert_signing_key(
    db: &impl ConnectionTrait,
    key: oauth_signing_key::Model,
) -> AppResult<oauth_signing_key::Model> {
    let row: oauth_signing_key::ActiveModel = key.into();
    Ok(row.insert(db).await?)
}

/// The signing keys, newest first (the first unretired one signs).
pub async fn signing_keys(db: &impl ConnectionTrait) -> AppResult<Vec<oauth_signing_key::Model>> {
    Ok(oauth_signing_key::Entity::find()
        .order_by_desc(oauth_signing_key::Column::CreatedAt)
        .order_by_desc(oauth_signing_key::Column::Id)
        .all(db)
        .await?)
}

pub async fn retire_signing_keys(
    db: &impl ConnectionTrait,
    except: Uuid,
    at: DateTime<Utc>,
) -> AppResult<()> {
    oauth_signing_key::Entity::update_many()
        .col_expr(oauth_signing_key::Column::RetiredAt, Expr::value(at))
        .filter(oauth_signing_key::Column::Id.ne(except))
        .filter(oauth_signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
