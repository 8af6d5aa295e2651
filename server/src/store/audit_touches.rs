//! The index of which records each actor touched in each hour (`audit_record_touches`, see
//! its migration): written with the events, read to find a record's events.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use entity::audit_record_touch::{Column, Entity};
use migration::m20261129_000005_audit_record_touches::hour_of;
use sea_orm::sea_query::{InsertStatement, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use uuid::Uuid;

use super::audit::{NewAuditEvent, RecordIds};
use crate::error::AppResult;

/// One row of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    record: RecordKey,
    hour: i64,
    actor_id: String,
}

/// The touches of the event stored with id `id`.
pub fn of_event(id: Uuid, event: &NewAuditEvent) -> Vec<Touch> {
    let hour = hour_of(&id);
    let actor_id = event.who.id_text();
    keys(&event.record_ids)
        .into_iter()
        .map(|record| Touch {
            record,
            hour,
            actor_id: actor_id.clone(),
        })
        .collect()
}

/// The INSERT of `touches`, keeping rows that exist (another event of the hour wrote them).
pub fn insert_statement(touches: &[Touch]) -> Option<InsertStatement> {
    if touches.is_empty() {
        return None;
    }
    let rows = touches
        .iter()
        .map(|t| entity::audit_record_touch::ActiveModel {
            record_id: Set(t.record.text()),
            hour: Set(t.hour),
            actor_id: Set(t.actor_id.clone()),
        });
    let mut insert = Entity::insert_many(rows).into_query();
    insert.on_conflict(
        OnConflict::columns([Column::RecordId, Column::Hour, Column::ActorId])
            .do_nothing()
            .to_owned(),
    );
    Some(insert)
}

/// The INSERT of `touches` as one statement with one JSON parameter, keeping rows that exist
/// (the read-audit writer's batches: the same text for any number of rows, see
/// `audit::batch`). On PostgreSQL the parameter is `$param` (the batch puts it after the
/// events' in one statement); SQLite's are positional.
pub fn insert_json(backend: DbBackend, touches: &[Touch], param: usize) -> Option<Statement> {
    if touches.is_empty() {
        return None;
    }
    let rows: Vec<serde_json::Value> = touches
        .iter()
        .map(|t| serde_json::json!([t.record.text(), t.hour, t.actor_id]))
        .collect();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO audit_record_touches (record_id, hour, actor_id) \
             SELECT e ->> 0, (e ->> 1)::bigint, e ->> 2 \
             FROM jsonb_array_elements(${param}::jsonb) AS e ON CONFLICT DO NOTHING"
        ),
        // `WHERE true`: SQLite needs it to read `ON CONFLICT` as the upsert clause.
        _ => "/* audit trail */ INSERT INTO audit_record_touches (record_id, hour, actor_id) \
              SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true \
              ON CONFLICT DO NOTHING"
            .to_owned(),
    };
    let json = serde_json::Value::Array(rows).to_string();
    Some(Statement::from_sql_and_values(backend, sql, [json.into()]))
}

/// The most rows one INSERT of touches carries (three parameters each).
pub const MAX_ROWS: usize = 256;

/// Touches this process has committed in the current hour, so that a key paging through the
/// same patients all hour writes each once, not once per request. Only committed rows are
/// remembered: one remembered but rolled back would hide its events. Bounded: past the bound
/// it stops remembering, and the database's `ON CONFLICT DO NOTHING` keeps the rows unique.
#[derive(Default)]
pub struct RecentTouches(Mutex<Recent>);

/// A record id as remembered: a uuid without an allocation (nearly every record), or a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RecordKey {
    Id(u128),
    Name(String),
}

impl RecordKey {
    fn text(&self) -> String {
        match self {
            RecordKey::Id(id) => Uuid::from_u128(*id).to_string(),
            RecordKey::Name(name) => name.clone(),
        }
    }
}

fn keys(records: &RecordIds) -> Vec<RecordKey> {
    match records {
        RecordIds::Ids(ids) => ids.iter().map(|id| RecordKey::Id(id.as_u128())).collect(),
        RecordIds::Names(names) => names.iter().cloned().map(RecordKey::Name).collect(),
    }
}

#[derive(Default)]
struct Recent {
    hour: i64,
    /// Per actor, the records touched this hour.
    seen: HashMap<String, HashSet<RecordKey>>,
    len: usize,
}

/// Rows remembered per hour at most (about 5 MB).
const RECENT_MAX: usize = 100_000;

impl RecentTouches {
    /// The touches of `events` (each with its id) not committed this hour, each once. Why
    /// not `of_event` for each: a batch of list reads names the same few hundred records
    /// hundreds of times, and this makes a row only for each new one.
    pub fn unwritten<'a>(
        &self,
        events: impl IntoIterator<Item = (Uuid, &'a str, &'a RecordIds)>,
    ) -> Vec<Touch> {
        let recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch: HashMap<(i64, String), HashSet<RecordKey>> = HashMap::new();
        let mut out = Vec::new();
        for (id, actor, records) in events {
            let hour = hour_of(&id);
            let actor = actor.to_owned();
            let committed = (hour == recent.hour)
                .then(|| recent.seen.get(&actor))
                .flatten();
            let in_batch = batch.entry((hour, actor.clone())).or_default();
            for key in keys(records) {
                if committed.is_some_and(|c| c.contains(&key)) || in_batch.contains(&key) {
                    continue;
                }
                out.push(Touch {
                    record: key.clone(),
                    hour,
                    actor_id: actor.clone(),
                });
                in_batch.insert(key);
            }
        }
        out
    }

    /// Remembers committed touches.
    pub fn committed(&self, touches: &[Touch]) {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for t in touches {
            if t.hour > recent.hour {
                *recent = Recent {
                    hour: t.hour,
                    ..Recent::default()
                };
            }
            if t.hour != recent.hour || recent.len >= RECENT_MAX {
                continue;
            }
            if recent
                .seen
                .entry(t.actor_id.clone())
                .or_default()
                .insert(t.record.clone())
            {
                recent.len += 1;
            }
        }
    }
}

/// The hours, newest first and at most `limit`, in which any of `records` was touched within
/// `hours` (inclusive bounds), each with the actors that touched them: where a record's
/// events are.
pub async fn hours(
    db: &impl ConnectionTrait,
    records: &[String],
    actor: Option<&str>,
    hours: (Option<i64>, Option<i64>),
    limit: u64,
) -> AppResult<Vec<(i64, Vec<String>)>> {
    let narrowed = |mut query: sea_orm::Select<Entity>, (from, to): (Option<i64>, Option<i64>)| {
        query = query.filter(Column::RecordId.is_in(records.iter().cloned()));
        if let Some(actor) = actor {
            query = query.filter(Column::ActorId.eq(actor));
        }
        if let Some(from) = from {
            query = query.filter(Column::Hour.gte(from));
        }
        if let Some(to) = to {
            query = query.filter(Column::Hour.lte(to));
        }
        query
    };
    // The hours first, then every actor of those hours: a limit on rows could cut an hour's
    // actors short.
    let newest: Vec<i64> = narrowed(Entity::find(), hours)
        .select_only()
        .column(Column::Hour)
        .distinct()
        .order_by_desc(Column::Hour)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let (Some(&last), Some(&first)) = (newest.first(), newest.last()) else {
        return Ok(Vec::new());
    };
    let rows = narrowed(Entity::find(), (Some(first), Some(last)))
        .order_by_desc(Column::Hour)
        .all(db)
        .await?;
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some((hour, actors)) if *hour == row.hour => {
                if !actors.contains(&row.actor_id) {
                    actors.push(row.actor_id);
                }
            }
            _ => out.push((row.hour, vec![row.actor_id])),
        }
    }
    Ok(out)
}

/// The smallest UUIDv7 of an hour: ids of that hour's events are at least this and below the
/// next hour's.
pub fn first_id_of_hour(hour: i64) -> Uuid {
    let ms = (hour.max(0) as u64) * 3_600_000;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::{first_id_of_hour, hour_of};

    #[test]
    fn an_hours_ids_lie_between_its_first_id_and_the_next_hours() {
        let id = uuid::Uuid::now_v7();
        let hour = hour_of(&id);
        assert!(first_id_of_hour(hour) <= id && id < first_id_of_hour(hour + 1));
        assert_eq!(hour_of(&first_id_of_hour(hour)), hour);
    }

    #[test]
    fn committed_touches_are_not_written_again_this_hour() {
        use crate::store::audit::NewAuditEvent;
        let recent = super::RecentTouches::default();
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let event = |ids| NewAuditEvent::of_key(a, "READ", ids, chrono::Utc::now());
        let (e1, e2) = (event(vec![a, b]), event(vec![a]));
        fn of(hour: i64, e: &NewAuditEvent) -> (uuid::Uuid, &str, &super::RecordIds) {
            (super::first_id_of_hour(hour), "actor", &e.record_ids)
        }
        let batch = || [of(10, &e1), of(10, &e2)];
        let first = recent.unwritten(batch());
        let records: Vec<String> = first.iter().map(|t| t.record.text()).collect();
        assert_eq!(records, vec![a.to_string(), b.to_string()]);
        // Not remembered until committed.
        assert_eq!(recent.unwritten(batch()).len(), 2);
        recent.committed(&first);
        assert!(recent.unwritten(batch()).is_empty());
        // A new hour starts afresh.
        assert_eq!(recent.unwritten([of(11, &e2)]).len(), 1);
        recent.committed(&recent.unwritten([of(11, &e2)]));
        assert_eq!(recent.unwritten([of(11, &e1)]).len(), 1, "b only");
    }
}
