use chrono::{DateTime, Utc};
use entity::audit_event::{self, Column, Entity};
use migration::m20261129_000004_audit_rare_filters::{
    FREQUENT_ACTIONS, FREQUENT_RECORD_TYPES, not_in,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Set,
};
use uuid::Uuid;

use super::page::{Page, PageRequest};
use crate::domain::actor::Who;
use crate::error::AppResult;

/// An audit record before it is written.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub who: Who,
    pub action: String,
    pub operation: String,
    pub operation_name: Option<String>,
    pub record_type: String,
    pub record_ids: RecordIds,
    pub fields: Vec<String>,
    pub ip: Option<String>,
}

impl NewAuditEvent {
    /// About how many bytes the event holds in memory.
    pub fn approx_bytes(&self) -> usize {
        let ids = match &self.record_ids {
            RecordIds::Ids(ids) => ids.len() * std::mem::size_of::<Uuid>(),
            RecordIds::Names(names) => names.iter().map(|n| n.len() + 24).sum(),
        };
        std::mem::size_of::<Self>()
            + self.who.label.len()
            + self.action.len()
            + self.operation.len()
            + self.operation_name.as_ref().map_or(0, String::len)
            + self.record_type.len()
            + self.fields.iter().map(|f| f.len() + 24).sum::<usize>()
            + self.ip.as_ref().map_or(0, String::len)
            + ids
    }
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub record_type: Option<String>,
    pub action: Option<String>,
    /// Events whose record ids include any of these; an empty list matches nothing.
    pub record_ids: Option<Vec<String>>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
}

fn to_active(e: &NewAuditEvent) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(e.occurred_at),
        actor_kind: Set(e.who.kind.as_str().to_owned()),
        actor_id: Set(e.who.id_text()),
        actor_label: Set(e.who.label.clone()),
        actor_on_behalf_of: Set(e.who.on_behalf_of.map(|id| id.to_string())),
        actor_role: Set(e.who.role.map(|r| r.as_str().to_owned())),
        action: Set(e.action.clone()),
        operation: Set(e.operation.clone()),
        operation_name: Set(e.operation_name.clone()),
        record_type: Set(e.record_type.clone()),
        record_ids: Set(e.record_ids.to_json()),
        fields: Set(serde_json::to_string(&e.fields).unwrap_or_else(|_| "[]".into())),
        ip: Set(e.ip.clone()),
    }
}

/// The records an event is about: row ids, or the names of settings. Stored as a JSON list
/// of strings either way; uuid's `Serialize` writes each id without a string of its own (a
/// page of patients with their tests records 300 per request).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum RecordIds {
    Ids(Vec<Uuid>),
    Names(Vec<String>),
}

impl RecordIds {
    pub fn count(&self) -> usize {
        match self {
            RecordIds::Ids(ids) => ids.len(),
            RecordIds::Names(names) => names.len(),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
    }
}

impl From<Vec<Uuid>> for RecordIds {
    fn from(ids: Vec<Uuid>) -> Self {
        RecordIds::Ids(ids)
    }
}

impl From<Vec<String>> for RecordIds {
    fn from(names: Vec<String>) -> Self {
        RecordIds::Names(names)
    }
}

/// The INSERT of one event, for writing with the change it records (`store::write`).
pub fn insert_statement(event: &NewAuditEvent) -> sea_orm::sea_query::InsertStatement {
    Entity::insert(to_active(event)).into_query()
}

/// The most events one INSERT carries: under SQLite's bound-parameter limit.
const MAX_CHUNK: usize = 128;

/// Writes `events`, borrowed so that a failed batch can be retried without having been
/// copied first.
///
/// Chunks are powers of two up to `MAX_CHUNK`. Why: both drivers keep every statement text
/// they have prepared, per connection (100 each), and a multi-row INSERT is one text per row
/// count; with batches of any size from 1 to 200 the audit writer filled those caches with
/// up to 100 programs of up to 2,200 parameters each. Powers of two make eight texts in all.
#[tracing::instrument(skip_all, err(Debug), fields(n = events.len()))]
pub async fn insert_many(db: &impl ConnectionTrait, events: &[NewAuditEvent]) -> AppResult<()> {
    let mut rest = events;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        Entity::insert_many(chunk.iter().map(to_active))
            .exec(db)
            .await?;
        rest = tail;
    }
    Ok(())
}

/// The largest power of two not above `remaining` or `MAX_CHUNK`.
fn chunk_len(remaining: usize) -> usize {
    let cap = remaining.min(MAX_CHUNK);
    1 << cap.ilog2()
}

/// The query of one page of the trail, newest first.
fn page_query(filter: &AuditFilter, page: &PageRequest) -> Select<Entity> {
    let mut cond = Condition::all();
    if let Some(actor) = &filter.actor_id {
        cond = cond.add(Column::ActorId.eq(actor.as_str()));
    }
    // A rare record type or action has a partial index of its own; the query repeats the
    // index's condition so that the planner (SQLite's needs it literally) may use it.
    if let Some(rt) = &filter.record_type {
        cond = cond.add(Column::RecordType.eq(rt.as_str()));
        if !FREQUENT_RECORD_TYPES.contains(&rt.as_str()) {
            cond = cond.add(Expr::cust(not_in("record_type", &FREQUENT_RECORD_TYPES)));
        }
    }
    if let Some(action) = &filter.action {
        cond = cond.add(Column::Action.eq(action.as_str()));
        if !FREQUENT_ACTIONS.contains(&action.as_str()) {
            cond = cond.add(Expr::cust(not_in("action", &FREQUENT_ACTIONS)));
        }
    }
    if let Some(ids) = &filter.record_ids {
        // Ids are uuids (no LIKE wildcards), stored quoted inside a JSON array. A scan of the
        // rows the other filters leave: record ids have no index of their own.
        let mut any = Condition::any();
        for id in ids {
            any = any.add(Column::RecordIds.contains(format!("\"{id}\"")));
        }
        if ids.is_empty() {
            any = any.add(Expr::val(1).eq(0));
        }
        cond = cond.add(any);
    }
    if let Some(from) = filter.occurred_from {
        cond = cond.add(Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.occurred_to {
        cond = cond.add(Column::OccurredAt.lt(to));
    }
    // Newest first: an auditor looks at what just happened.
    let mut query = Entity::find().filter(cond);
    if let Some(after) = page.after {
        query = query.filter(Column::Id.lt(after));
    }
    query.order_by_desc(Column::Id).limit(page.first + 1)
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    page: PageRequest,
) -> AppResult<Page<audit_event::Model>> {
    let rows = page_query(filter, &page).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, QueryTrait, Statement};
    use uuid::Uuid;

    use super::{AuditFilter, MAX_CHUNK, RecordIds, chunk_len, page_query};
    use crate::store::Store;
    use crate::store::page::PageRequest;

    /// SQLite's plan for one page of the trail under `filter`.
    async fn plan(store: &Store, filter: AuditFilter) -> String {
        let db = store.conn();
        let page = PageRequest {
            first: 50,
            after: None,
        };
        let query = page_query(&filter, &page).build(db.get_database_backend());
        let explain = Statement {
            sql: format!("EXPLAIN QUERY PLAN {}", query.sql),
            ..query
        };
        let rows = db.query_all_raw(explain).await.unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A filter on a million events stays fast when it walks an index newest first and stops
    /// after a page: each filter of the Audit screen has one, alone or with a time range.
    #[tokio::test]
    async fn each_filter_walks_an_index() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let actor = plan(
            &store,
            AuditFilter {
                actor_id: Some("k".into()),
                ..AuditFilter::default()
            },
        )
        .await;
        assert!(actor.contains("ix_audit_events_actor"), "{actor}");
        for (action, index) in [
            ("ROTATE", Some("ix_audit_events_rare_action")),
            ("READ", None),
        ] {
            let p = plan(
                &store,
                AuditFilter {
                    action: Some(action.into()),
                    ..AuditFilter::default()
                },
            )
            .await;
            match index {
                Some(index) => assert!(p.contains(index), "{action}: {p}"),
                // Frequent actions are found by walking the trail itself: a page of them is
                // among the newest events.
                None => assert!(!p.contains("rare"), "{action}: {p}"),
            }
        }
        let settings = plan(
            &store,
            AuditFilter {
                record_type: Some("setting".into()),
                ..AuditFilter::default()
            },
        )
        .await;
        assert!(
            settings.contains("ix_audit_events_rare_record_type"),
            "{settings}"
        );
    }

    #[test]
    fn ids_are_stored_as_serde_writes_their_strings() {
        for n in [0, 1, 3, 300] {
            let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
            let strings: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            let expected = serde_json::to_string(&strings).unwrap();
            assert_eq!(RecordIds::from(ids).to_json(), expected);
            assert_eq!(RecordIds::from(strings).to_json(), expected);
        }
    }

    #[test]
    fn chunks_are_powers_of_two_that_cover_the_batch() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 1..=1000 {
            let mut left = n;
            while left > 0 {
                let len = chunk_len(left);
                assert!(len.is_power_of_two() && len <= left && len <= MAX_CHUNK);
                shapes.insert(len);
                left -= len;
            }
        }
        assert_eq!(shapes.len(), 8, "{shapes:?}");
        assert_eq!(chunk_len(500), 128);
        assert_eq!(chunk_len(100), 64);
        assert_eq!(chunk_len(1), 1);
    }
}
