use chrono::{DateTime, Utc};
use entity::api_key::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::domain::network::Limits;
use crate::error::AppResult;

/// A key's own limits.
pub fn limits(key: &api_key::Model) -> Limits {
    Limits::from_columns(
        key.allowed_ips.as_deref(),
        key.rate_per_minute,
        key.rate_burst,
    )
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub client_ids: Option<Vec<Uuid>>,
    pub location_ids: Option<Vec<Uuid>>,
    pub environment: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub limits: Limits,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewApiKey) -> AppResult<api_key::Model> {
    let json = |v: &Option<Vec<Uuid>>| serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let (allowed_ips, rate_per_minute, rate_burst) = new.limits.to_columns();
    Ok(api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        prefix: Set(new.prefix),
        secret_hash: Set(new.secret_hash),
        scopes: Set(serde_json::to_string(&new.scopes).unwrap_or_else(|_| "[]".into())),
        client_ids: Set(json(&new.client_ids)),
        location_ids: Set(json(&new.location_ids)),
        environment: Set(new.environment),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        rotated_to: Set(None),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
        expiry_notified_at: Set(None),
        allowed_ips: Set(allowed_ips),
        rate_per_minute: Set(rate_per_minute),
        rate_burst: Set(rate_burst),
    }
    .insert(db)
    .await?)
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> AppResult<Option<api_key::Model>> {
    Ok(Entity::find()
        .filter(Column::SecretHash.eq(secret_hash))
        .one(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<api_key::Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

pub async fn list(
    db: &impl ConnectionTrait,
    include_revoked: bool,
) -> AppResult<Vec<api_key::Model>> {
    let mut query = Entity::find();
    if !include_revoked {
        query = query.filter(Column::RevokedAt.is_null());
    }
    Ok(query.order_by_asc(Column::Id).all(db).await?)
}

/// Every key of one rotation chain: `id`, the keys it was rotated from and the keys it was
/// rotated to. To an administrator they are one key with several secrets.
pub async fn lineage(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Vec<api_key::Model>> {
    let Some(first) = find(db, id).await? else {
        return Ok(Vec::new());
    };
    let mut chain = vec![first];
    // Successors: each key names the one it was rotated to.
    while let Some(next) = chain.last().and_then(|k| k.rotated_to) {
        if chain.iter().any(|k| k.id == next) {
            break;
        }
        match find(db, next).await? {
            Some(key) => chain.push(key),
            None => break,
        }
    }
    // Predecessors: the keys that name one of the chain as their successor.
    let mut frontier = vec![id];
    while !frontier.is_empty() {
        let older = Entity::find()
            .filter(Column::RotatedTo.is_in(frontier.clone()))
            .all(db)
            .await?;
        frontier = older
            .iter()
            .filter(|k| !chain.iter().any(|c| c.id == k.id))
            .map(|k| k.id)
            .collect();
        chain.extend(older.into_iter().filter(|k| frontier.contains(&k.id)));
    }
    Ok(chain)
}

/// Renames these keys (the keys of one rotation chain share their name).
pub async fn rename(db: &impl ConnectionTrait, ids: &[Uuid], name: &str) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::Name, Expr::value(name))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the limits of these keys (the keys of one rotation chain share them).
pub async fn set_limits(db: &impl ConnectionTrait, ids: &[Uuid], limits: &Limits) -> AppResult<()> {
    let (ips, per_minute, burst) = limits.to_columns();
    Entity::update_many()
        .col_expr(Column::AllowedIps, Expr::value(ips))
        .col_expr(Column::RatePerMinute, Expr::value(per_minute))
        .col_expr(Column::RateBurst, Expr::value(burst))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes these keys (those not revoked already).
pub async fn revoke(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Utc::now()))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the life of these keys now, unless it ends sooner already.
pub async fn expire(db: &impl ConnectionTrait, ids: &[Uuid], now: DateTime<Utc>) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(now))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(
            Condition::any()
                .add(Column::ExpiresAt.is_null())
                .add(Column::ExpiresAt.gt(now)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a key as replaced and shortens its life to the grace period (never lengthens it).
pub async fn retire(
    db: &impl ConnectionTrait,
    current: api_key::Model,
    successor: Uuid,
    until: DateTime<Utc>,
) -> AppResult<api_key::Model> {
    let expires = match current.expires_at {
        Some(existing) if existing < until => existing,
        _ => until,
    };
    let mut model: api_key::ActiveModel = current.into();
    model.expires_at = Set(Some(expires));
    model.rotated_to = Set(Some(successor));
    Ok(model.update(db).await?)
}

/// Records use without writing on every request: only when the stored time is older than
/// `stale_before` (a no-op update otherwise).
pub async fn touch(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> AppResult<()> {
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(Column::LastUsedAt.is_null())
                .add(Column::LastUsedAt.lt(stale_before)),
        )
        .exec(db)
        .await?;
    Ok(())
}
