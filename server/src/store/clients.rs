use chrono::Utc;
use entity::{client, location};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::environment::Environment;
use crate::error::AppResult;

pub async fn insert_client(
    db: &impl ConnectionTrait,
    name: &str,
    env: Environment,
) -> AppResult<client::Model> {
    Ok(client::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        environment: Set(env.as_str().to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

pub async fn insert_location(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    name: &str,
) -> AppResult<location::Model> {
    Ok(location::ActiveModel {
        id: Set(Uuid::now_v7()),
        client_id: Set(client_id),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

pub async fn find_client(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<client::Model>> {
    Ok(client::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_location(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<location::Model>> {
    Ok(location::Entity::find_by_id(id).one(db).await?)
}

pub async fn list_clients(db: &impl ConnectionTrait) -> AppResult<Vec<client::Model>> {
    Ok(client::Entity::find()
        .order_by_asc(client::Column::Id)
        .all(db)
        .await?)
}

pub async fn list_locations(
    db: &impl ConnectionTrait,
    client_ids: &[Uuid],
) -> AppResult<Vec<location::Model>> {
    Ok(location::Entity::find()
        .filter(location::Column::ClientId.is_in(client_ids.iter().copied()))
        .order_by_asc(location::Column::Id)
        .all(db)
        .await?)
}

/// Those of `client_ids` that are clients of `env`.
pub async fn in_environment(
    db: &impl ConnectionTrait,
    client_ids: &[Uuid],
    env: Environment,
) -> AppResult<Vec<Uuid>> {
    Ok(client::Entity::find()
        .select_only()
        .column(client::Column::Id)
        .filter(client::Column::Id.is_in(client_ids.iter().copied()))
        .filter(client::Column::Environment.eq(env.as_str()))
        .into_tuple()
        .all(db)
        .await?)
}

/// The environment of `client_id` if `location_id` is one of its locations: the check a
/// create needs, in one round trip instead of two.
pub async fn location_environment(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    location_id: Uuid,
) -> AppResult<Option<String>> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let stmt = Query::select()
        .column((client::Entity, client::Column::Environment))
        .from(location::Entity)
        .inner_join(
            client::Entity,
            Expr::col((client::Entity, client::Column::Id))
                .equals((location::Entity, location::Column::ClientId)),
        )
        .and_where(Expr::col((location::Entity, location::Column::Id)).eq(location_id))
        .and_where(Expr::col((location::Entity, location::Column::ClientId)).eq(client_id))
        .to_owned();
    let row = db.query_one(&stmt).await?;
    Ok(row
        .map(|r| r.try_get::<String>("", "environment"))
        .transpose()?)
}
