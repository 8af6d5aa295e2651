use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{admin_session, admin_user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::error::AppResult;

pub async fn insert_user(
    db: &impl ConnectionTrait,
    email: &str,
    role: &str,
    password_hash: &str,
) -> AppResult<admin_user::Model> {
    Ok(admin_user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_owned()),
        role: Set(role.to_owned()),
        password_hash: Set(password_hash.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

pub async fn find_user(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<admin_user::Model>> {
    Ok(admin_user::Entity::find_by_id(id).one(db).await?)
}

/// Whether any portal user exists (start-up says how to create the first one if not).
pub async fn any_user(db: &impl ConnectionTrait) -> AppResult<bool> {
    Ok(admin_user::Entity::find().one(db).await?.is_some())
}

/// The emails of these portal users, by id (one query for a whole list of keys).
pub async fn emails(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, String>> {
    let users = admin_user::Entity::find()
        .filter(admin_user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u.email)).collect())
}

pub async fn find_user_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> AppResult<Option<admin_user::Model>> {
    Ok(admin_user::Entity::find()
        .filter(admin_user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn insert_session(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> AppResult<admin_session::Model> {
    Ok(admin_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?)
}

/// The live session with this token hash and its user.
pub async fn find_session(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> AppResult<Option<(admin_session::Model, admin_user::Model)>> {
    let Some(session) = admin_session::Entity::find()
        .filter(admin_session::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let user = admin_user::Entity::find_by_id(session.user_id)
        .one(db)
        .await?;
    Ok(user.map(|u| (session, u)))
}

pub async fn revoke_session(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    admin_session::Entity::update_many()
        .col_expr(admin_session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(admin_session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
