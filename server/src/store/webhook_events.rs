//! The webhook outbox's rows (`migration::m20261130_000002_webhook_outbox`).

use chrono::Utc;
use entity::webhook_event::{self, Column, Entity};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set,
};
use uuid::Uuid;

use crate::domain::webhook_event::NewEvent;
use crate::error::AppResult;

/// The INSERT of one event, made with the change's other effects (`store::write`).
pub fn insert_statement(event: &NewEvent) -> InsertStatement {
    Entity::insert(webhook_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_type: Set(event.event_type.as_str().to_owned()),
        record_type: Set(event.record_type.to_owned()),
        record_id: Set(event.record_id),
        client_id: Set(event.client_id),
        location_id: Set(event.location_id),
        fields: Set(serde_json::to_string(&event.fields).unwrap_or_else(|_| "[]".into())),
        occurred_at: Set(Utc::now()),
        environment: Set(event.environment.map(|e| e.as_str().to_owned())),
    })
    .into_query()
}

/// Events after `after` (all from the start when `None`), oldest first, at most `limit`.
pub async fn list_after(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<webhook_event::Model>> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    Ok(query.all(db).await?)
}
