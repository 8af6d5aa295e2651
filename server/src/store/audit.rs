use chrono::{DateTime, Utc};
use entity::audit_event::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use uuid::Uuid;

use super::page::{Page, PageRequest};
use crate::error::AppResult;

/// An audit record before it is written.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub operation: String,
    pub record_type: String,
    pub record_ids: Vec<String>,
    pub fields: Vec<String>,
    pub ip: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub record_type: Option<String>,
    pub action: Option<String>,
    /// Events whose record ids include this id.
    pub record_id: Option<String>,
}

fn to_active(e: NewAuditEvent) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(e.occurred_at),
        actor_kind: Set(e.actor_kind),
        actor_id: Set(e.actor_id),
        actor_label: Set(e.actor_label),
        action: Set(e.action),
        operation: Set(e.operation),
        record_type: Set(e.record_type),
        record_ids: Set(serde_json::to_string(&e.record_ids).unwrap_or_else(|_| "[]".into())),
        fields: Set(serde_json::to_string(&e.fields).unwrap_or_else(|_| "[]".into())),
        ip: Set(e.ip),
    }
}

/// The INSERT of one event, for sending with the change it records (`Store::insert_audited`).
pub fn insert_statement(event: NewAuditEvent) -> sea_orm::sea_query::InsertStatement {
    Entity::insert(to_active(event)).into_query()
}

#[tracing::instrument(skip_all, err(Debug), fields(n = events.len()))]
pub async fn insert_many(db: &impl ConnectionTrait, events: Vec<NewAuditEvent>) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Chunked so that a large batch stays under SQLite's bound-parameter limit.
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(200).map(to_active).collect();
        Entity::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    page: PageRequest,
) -> AppResult<Page<audit_event::Model>> {
    let mut cond = Condition::all();
    if let Some(actor) = &filter.actor_id {
        cond = cond.add(Column::ActorId.eq(actor.as_str()));
    }
    if let Some(rt) = &filter.record_type {
        cond = cond.add(Column::RecordType.eq(rt.as_str()));
    }
    if let Some(action) = &filter.action {
        cond = cond.add(Column::Action.eq(action.as_str()));
    }
    if let Some(id) = &filter.record_id {
        // Ids are uuids (no LIKE wildcards), stored quoted inside a JSON array.
        cond = cond.add(Column::RecordIds.contains(format!("\"{id}\"")));
    }
    // Newest first: an auditor looks at what just happened.
    let mut query = Entity::find().filter(cond);
    if let Some(after) = page.after {
        query = query.filter(Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}
