use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use entity::audit_event::{self, Column, Entity};
use migration::m20261129_000004_audit_rare_filters::{
    FREQUENT_ACTIONS, FREQUENT_RECORD_TYPES, not_in,
};
use migration::m20261129_000005_audit_record_touches::hour_of;
use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IdenStatic,
    IntoActiveModel, IsolationLevel, Iterable, ModelTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::audit_chain::AUDIT_TRAIL;
use super::audit_touches::{self, RecentTouches, Touch, first_id_of_hour};
use super::conn::Conn;
use super::page::{Page, PageRequest};
use crate::domain::actor::Who;
use crate::error::{AppError, AppResult};

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
    /// Events of these actors are left out (the other environment's credentials, for a
    /// portal user working in one: `X-Environment`).
    pub hidden_actors: Vec<String>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
}

/// The row `e` is stored as. Its time is kept to the microsecond, what PostgreSQL keeps, so
/// that the row hashed in the chain (`audit_chain::body`) is the same on both backends and
/// through every write path.
fn to_model(id: Uuid, e: &NewAuditEvent) -> audit_event::Model {
    audit_event::Model {
        id,
        occurred_at: e.occurred_at.trunc_subsecs(6),
        actor_kind: e.who.kind.as_str().to_owned(),
        actor_id: e.who.id_text(),
        actor_label: e.who.label.clone(),
        actor_on_behalf_of: e.who.on_behalf_of.map(|id| id.to_string()),
        actor_role: e.who.role.map(|r| r.as_str().to_owned()),
        action: e.action.clone(),
        operation: e.operation.clone(),
        operation_name: e.operation_name.clone(),
        record_type: e.record_type.clone(),
        record_ids: e.record_ids.to_json(),
        fields: serde_json::to_string(&e.fields).unwrap_or_else(|_| "[]".into()),
        ip: e.ip.clone(),
    }
}

fn to_active(id: Uuid, e: &NewAuditEvent) -> audit_event::ActiveModel {
    to_model(id, e).into_active_model()
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

#[cfg(test)]
impl NewAuditEvent {
    /// An API key's event about patients, for the store's tests.
    pub(crate) fn of_key(key: Uuid, action: &str, ids: Vec<Uuid>, at: DateTime<Utc>) -> Self {
        NewAuditEvent {
            occurred_at: at,
            who: Who::new(crate::domain::actor::ActorKind::ApiKey, Some(key), "key"),
            action: action.into(),
            operation: "test".into(),
            operation_name: None,
            record_type: "patient".into(),
            record_ids: ids.into(),
            fields: vec![],
            ip: None,
        }
    }
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

/// The INSERTs of one event's rows of the record index, then of the event, for writing with
/// the change it records (`store::write`), and the event's id. The event last: see
/// `Effects::write`.
pub fn insert_statements(event: &NewAuditEvent) -> (Uuid, Vec<InsertStatement>) {
    let id = Uuid::now_v7();
    let touches = audit_touches::of_event(id, event);
    let statements = touches
        .chunks(audit_touches::MAX_ROWS)
        .filter_map(audit_touches::insert_statement)
        .chain(std::iter::once(
            Entity::insert(to_active(id, event)).into_query(),
        ))
        .collect();
    (id, statements)
}

/// An event as it is stored (its id taken), with the records it is about, from which its
/// rows of the record index are made.
#[derive(Clone, Debug)]
pub struct Row {
    pub model: audit_event::Model,
    pub records: RecordIds,
}

/// `events` as stored, each with a new id.
pub fn rows(events: Vec<NewAuditEvent>) -> Vec<Row> {
    events
        .into_iter()
        .map(|e| {
            let model = to_model(Uuid::now_v7(), &e);
            Row {
                model,
                records: e.record_ids,
            }
        })
        .collect()
}

impl Row {
    /// A stored row read back (the read journal's): its records from its JSON list, each an
    /// id where it reads as one.
    pub fn of_model(model: audit_event::Model) -> Row {
        let texts: Vec<String> = serde_json::from_str(&model.record_ids).unwrap_or_default();
        let ids: Option<Vec<Uuid>> = texts.iter().map(|t| Uuid::parse_str(t).ok()).collect();
        let records = match ids {
            Some(ids) if !ids.is_empty() => RecordIds::Ids(ids),
            _ => RecordIds::Names(texts),
        };
        Row { model, records }
    }
}

/// What stores the events `rows` and their rows of the record index (those `recent` has not seen
/// committed this hour), and those rows, for `recent` once committed.
///
/// On PostgreSQL one statement: the events' INSERT takes its rows as one JSON parameter
/// (`jsonb_array_elements`) and their record ids as a text array beside it, in a `WITH` with
/// the index rows' INSERT, atomic on its own (no BEGIN and COMMIT round trips), its text the
/// same whatever the number of events. The record ids stay out of the JSON because they are
/// most of its bytes (a page of patients with their tests records 300 ids, 12 KB) and
/// PostgreSQL 15 reads a JSON string a character at a time, where an array is sent as binary
/// and copied. On SQLite the events go in as bound values, a multi-row INSERT per
/// `SQLITE_EVENTS_PER_INSERT`, which the writer sends in one call with the rest of the
/// transaction (`write::joined`): one text per batch size, prepared once each, and the rows
/// are kept for the chain's link. They used to go in as one JSON parameter too, which
/// cost SQLite a parse of every event and an unescaping of its record ids; a page of patients
/// with their tests records 300 ids, and that parse was a third of the writer's work under Q1.
/// On PostgreSQL bound values gained nothing: it parses the JSON faster, and each batch size
/// would be a statement to parse and plan (docs/benchmarks-history.md, ninth pass).
pub fn batch(backend: DbBackend, rows: &[Row], recent: &RecentTouches) -> Batch {
    let touches = recent.unwritten(
        rows.iter()
            .map(|r| (r.model.id, r.model.actor_id.as_str(), &r.records)),
    );
    // On PostgreSQL the index rows' parameter follows the events' two ($1, $2) in the one
    // statement.
    let index = audit_touches::insert_json(backend, &touches, 3);
    if backend == DbBackend::Postgres {
        return Batch {
            statements: vec![insert_events_pg(rows, index)],
            touches,
            models: Vec::new(),
        };
    }
    let models: Vec<audit_event::Model> = rows.iter().map(|r| r.model.clone()).collect();
    let statements = models
        .chunks(SQLITE_EVENTS_PER_INSERT)
        .map(insert_events_sqlite)
        .chain(index)
        .collect();
    Batch {
        statements,
        touches,
        models,
    }
}

/// Events in one of SQLite's INSERTs at most: 14 values each, well within its limit of
/// 32,766 bound values a statement.
const SQLITE_EVENTS_PER_INSERT: usize = 1_000;

/// SQLite: the INSERT of `events` with their values bound, columns and values in the entity's
/// order. Written here rather than by sea-query, whose building of a statement of many rows
/// cost the writer more than the JSON it replaces.
fn insert_events_sqlite(events: &[audit_event::Model]) -> Statement {
    let columns = Column::iter().count();
    let row = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = format!(
        "{AUDIT_TRAIL} INSERT INTO audit_events ({}) VALUES ",
        *EVENT_COLUMNS
    );
    sql.reserve(events.len() * (row.len() + 2));
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(events.len() * columns);
    for (i, m) in events.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
        values.extend(Column::iter().map(|c| m.get(c)));
    }
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// The events' columns, in the entity's order: the order of both backends' batch INSERTs.
static EVENT_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    Column::iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
});

/// PostgreSQL: the statement that stores the events `rows` and, when given, their rows of the
/// record index (whose parameter follows the events' two).
fn insert_events_pg(rows: &[Row], index: Option<Statement>) -> Statement {
    let backend = DbBackend::Postgres;
    let json: Vec<serde_json::Value> = rows.iter().map(|r| json_row(&r.model)).collect();
    let record_ids: Vec<String> = rows.iter().map(|r| r.model.record_ids.clone()).collect();
    let values = [
        serde_json::Value::Array(json).to_string().into(),
        record_ids.into(),
    ];
    let events = format!(
        "INSERT INTO audit_events ({}) {EVENTS_FROM_PARAMS_PG}",
        *EVENT_COLUMNS
    );
    match index {
        None => Statement::from_sql_and_values(backend, format!("{AUDIT_TRAIL} {events}"), values),
        Some(index) => Statement::from_sql_and_values(
            backend,
            format!("{AUDIT_TRAIL} WITH events AS ({events}) {}", index.sql),
            values
                .into_iter()
                .chain(index.values.map(|v| v.0).unwrap_or_default()),
        ),
    }
}

/// A batch of events as written (`batch`).
pub struct Batch {
    /// What stores them: one statement on PostgreSQL; on SQLite statements to run in one call
    /// (`write::joined`), with the chain's link after them.
    pub statements: Vec<Statement>,
    /// Their rows of the record index, for `RecentTouches` once committed.
    pub touches: Vec<Touch>,
    /// SQLite: the rows, as stored (the chain's link is computed from them). None on
    /// PostgreSQL, whose trigger links the rows it stores.
    pub models: Vec<audit_event::Model>,
}

/// PostgreSQL: an event as the JSON array the batch INSERT reads, in the entity's order but
/// for its record ids (a parameter of their own).
fn json_row(m: &audit_event::Model) -> serde_json::Value {
    serde_json::json!([
        m.id.to_string(),
        m.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        m.actor_kind,
        m.actor_id,
        m.actor_label,
        m.actor_on_behalf_of,
        m.actor_role,
        m.action,
        m.operation,
        m.operation_name,
        m.record_type,
        m.fields,
        m.ip,
    ])
}

/// PostgreSQL: the events' rows, in the entity's order, from the batch's JSON (`json_row`,
/// `$1`) and its record ids (`$2`), the n-th of each together.
const EVENTS_FROM_PARAMS_PG: &str = "SELECT (e ->> 0)::uuid, (e ->> 1)::timestamptz, \
     e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7, e ->> 8, e ->> 9, e ->> 10, \
     record_ids, e ->> 11, e ->> 12 \
     FROM ROWS FROM (jsonb_array_elements($1::jsonb), unnest($2::text[])) \
     WITH ORDINALITY AS r(e, record_ids, n) ORDER BY n";

/// Every event `filter` finds, newest first, handed to `visit` a page at a time. More than
/// `max` (when given) is refused, with what was handed on so far to be thrown away.
///
/// Every page is read from one snapshot, so that what is handed on is the trail as it was at
/// one moment. An event's id is taken before it commits (on another replica, or by a read
/// journaled on SQLite and stored by the writer later), so ids are not in commit order: pages
/// read on fresh snapshots could hand on an event committed during the walk below the page
/// being read, and leave out one committed before it above.
pub async fn each(
    db: &Conn,
    filter: &AuditFilter,
    max: Option<usize>,
    mut visit: impl FnMut(&audit_event::Model),
) -> AppResult<()> {
    const PAGE: u64 = 500;
    let snapshot = match db.get_database_backend() {
        DbBackend::Postgres => {
            let isolation = Some(IsolationLevel::RepeatableRead);
            db.pool()
                .begin_with_config(isolation, Some(AccessMode::ReadOnly))
                .await?
        }
        // SQLite: a read transaction sees the database as of its first read.
        _ => db.pool().begin().await?,
    };
    let (mut after, mut seen) = (None, 0usize);
    loop {
        let page = list(&snapshot, filter, PageRequest { first: PAGE, after }).await?;
        seen += page.items.len();
        if let Some(max) = max
            && seen > max
        {
            return Err(AppError::invalid(
                "query",
                format!("more than {max} events match; narrow the filter"),
            ));
        }
        page.items.iter().for_each(&mut visit);
        match page.items.last() {
            Some(last) if page.has_next_page => after = Some(last.id),
            _ => break,
        }
    }
    snapshot.commit().await?;
    Ok(())
}

/// The query of one page of the trail, newest first.
fn page_query(filter: &AuditFilter, page: &PageRequest) -> Select<Entity> {
    let mut cond = Condition::all();
    if let Some(actor) = &filter.actor_id {
        cond = cond.add(Column::ActorId.eq(actor.as_str()));
    }
    if !filter.hidden_actors.is_empty() {
        cond = cond.add(Column::ActorId.is_not_in(filter.hidden_actors.iter().map(String::as_str)));
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
    if let Some(records) = &filter.record_ids {
        return list_by_record(db, filter, records, page).await;
    }
    let rows = page_query(filter, &page).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// Which of `ids` are stored events.
pub async fn stored_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> AppResult<std::collections::HashSet<Uuid>> {
    let mut stored = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let found: Vec<Uuid> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(found);
    }
    Ok(stored)
}

/// Hours of the record index read per query while walking a record's events.
const HOURS_PER_STEP: u64 = 64;

/// The events about `records`: the hours in which they were touched (and by whom), newest
/// first, and in each only those actors' events of that hour, by the actor index, until a
/// page is full. The other filters apply as usual; the record is still checked in each event.
async fn list_by_record(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    records: &[String],
    page: PageRequest,
) -> AppResult<Page<audit_event::Model>> {
    let want = page.first as usize + 1;
    let mut rows = Vec::new();
    if records.is_empty() {
        return Ok(Page::from_overfetch(rows, page.first));
    }
    // Hours that can hold matches: the time range widened by an hour either side (an event's
    // id is taken when it is stored, which may be after it occurred), and before the cursor.
    let hour_of_time = |t: DateTime<Utc>| t.timestamp().div_euclid(3600);
    let from = filter.occurred_from.map(|t| hour_of_time(t) - 1);
    let mut to = filter.occurred_to.map(|t| hour_of_time(t) + 1);
    if let Some(after) = page.after {
        let cursor_hour = hour_of(&after);
        to = Some(to.map_or(cursor_hour, |t| Ord::min(t, cursor_hour)));
    }
    'walk: loop {
        let hours = audit_touches::hours(
            db,
            records,
            filter.actor_id.as_deref(),
            (from, to),
            HOURS_PER_STEP,
        )
        .await?;
        let Some(&(oldest, _)) = hours.last() else {
            break;
        };
        let complete = (hours.len() as u64) < HOURS_PER_STEP;
        for (hour, actors) in hours {
            let remaining = PageRequest {
                first: (want - rows.len()) as u64 - 1,
                after: page.after,
            };
            let found = page_query(filter, &remaining)
                .filter(Column::ActorId.is_in(actors))
                .filter(Column::Id.gte(first_id_of_hour(hour)))
                .filter(Column::Id.lt(first_id_of_hour(hour + 1)))
                .all(db)
                .await?;
            rows.extend(found);
            if rows.len() >= want {
                break 'walk;
            }
        }
        if complete {
            break;
        }
        to = Some(oldest - 1);
    }
    Ok(Page::from_overfetch(rows, page.first))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use sea_orm::{ConnectionTrait, QueryTrait, Statement};
    use uuid::Uuid;

    use super::{AuditFilter, RecordIds, page_query};
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

    /// Stores `event` as if written with id `id` (at that id's time), with its index rows.
    async fn store_at(store: &Store, id: Uuid, event: &super::NewAuditEvent) {
        use sea_orm::EntityTrait;
        let db = store.conn();
        super::Entity::insert(super::to_active(id, event))
            .exec(db)
            .await
            .unwrap();
        let touches = crate::store::audit_touches::of_event(id, event);
        if let Some(insert) = crate::store::audit_touches::insert_statement(&touches) {
            db.execute(&insert).await.unwrap();
        }
    }

    fn id_at(hour: i64, minute: u64) -> Uuid {
        let ms = hour as u64 * 3_600_000 + minute * 60_000;
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, 0);
        Uuid::new_v7(ts)
    }

    /// The ids `each` hands on over the whole trail; `on_first` runs as the first is.
    async fn walk(store: &Store, mut on_first: impl FnMut()) -> Vec<Uuid> {
        let mut handed = Vec::new();
        super::each(store.conn(), &AuditFilter::default(), None, |e| {
            if handed.is_empty() {
                on_first();
            }
            handed.push(e.id);
        })
        .await
        .unwrap();
        handed
    }

    /// A walk of the trail (an export) hands on the trail as it was when the walk began: an
    /// event committed during it is left out even where its id is still ahead of the walk
    /// (ids are not in commit order), and every event there before is handed on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_walk_hands_on_the_trail_as_it_was_when_it_began() {
        use sea_orm::EntityTrait;

        let dir = crate::scratch::Scratch::new();
        let store = Store::connect(&dir.sqlite_url(), Some(2)).await.unwrap();
        store.migrate().await.unwrap();
        let key = Uuid::now_v7();
        let read = || super::NewAuditEvent::of_key(key, "READ", vec![Uuid::now_v7()], Utc::now());
        let before: Vec<_> = (0..1_200).map(|_| read()).collect();
        store.insert_audit_events(&before).await.unwrap();

        // Committed while the walk's first page is handed on, with an id older than every
        // other, so that the walk would reach it on its last page.
        let late = id_at(400_000, 0);
        let (go, gone) = std::sync::mpsc::channel::<()>();
        let (committed, was_committed) = std::sync::mpsc::channel::<()>();
        let conn = store.conn().clone();
        let event = read();
        let writer = tokio::spawn(async move {
            tokio::task::spawn_blocking(move || gone.recv().unwrap())
                .await
                .unwrap();
            super::Entity::insert(super::to_active(late, &event))
                .exec(&conn)
                .await
                .unwrap();
            committed.send(()).unwrap();
        });
        let handed = walk(&store, || {
            go.send(()).unwrap();
            was_committed.recv().unwrap();
        })
        .await;
        writer.await.unwrap();
        assert_eq!(handed.len(), before.len(), "every event there before");
        assert!(!handed.contains(&late), "nothing committed during the walk");
        let again = walk(&store, || {}).await;
        assert_eq!(again.len(), before.len() + 1);
        assert_eq!(
            again.last(),
            Some(&late),
            "a walk begun after it hands it on"
        );
    }

    /// A batch of more events than one INSERT takes is stored whole, every column as given.
    #[tokio::test]
    async fn a_batch_larger_than_one_insert_is_stored_whole_as_given() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let key = Uuid::now_v7();
        let mut events: Vec<super::NewAuditEvent> = (0..super::SQLITE_EVENTS_PER_INSERT + 1)
            .map(|_| super::NewAuditEvent::of_key(key, "READ", vec![Uuid::now_v7()], Utc::now()))
            .collect();
        // Every column, the optional ones included, and text that needs quoting in JSON.
        let last = events.last_mut().unwrap();
        last.operation_name = Some("Q \"quoted\" \\ name".into());
        last.fields = vec!["firstName".into(), "dateOfBirth".into()];
        last.ip = Some("2001:db8::1".into());
        store.insert_audit_events(&events).await.unwrap();
        let stored = super::list(
            store.conn(),
            &AuditFilter::default(),
            PageRequest {
                first: 2_000,
                after: None,
            },
        )
        .await
        .unwrap()
        .items;
        assert_eq!(stored.len(), events.len(), "both INSERTs committed");
        let newest = &stored[0];
        assert_eq!(
            newest.operation_name.as_deref(),
            Some("Q \"quoted\" \\ name")
        );
        assert_eq!(newest.fields, r#"["firstName","dateOfBirth"]"#);
        assert_eq!(newest.ip.as_deref(), Some("2001:db8::1"));
        // The chain hashes the rows as they were built; verifying reads them back and hashes
        // them again, so any value stored otherwise (a time's text, an id's bytes) breaks it.
        let verified = crate::store::audit_chain::verify(store.conn())
            .await
            .unwrap();
        assert_eq!(verified.broken, None);
        assert_eq!(verified.events, events.len() as u64);
    }

    /// A record's events are found across hours and actors, newest first, page by page
    /// across the walk's steps, and with every other filter.
    #[tokio::test]
    async fn a_records_events_are_walked_hour_by_hour() {
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        let now_hour = super::hour_of(&Uuid::now_v7());
        let (k1, k2) = (Uuid::now_v7(), Uuid::now_v7());
        let event = |actor: Uuid, action: &str, ids: Vec<Uuid>, hour: i64| {
            let at = chrono::DateTime::from_timestamp(hour * 3600 + 60, 0).unwrap();
            super::NewAuditEvent::of_key(actor, action, ids, at)
        };
        // 80 hours (more than one step of the walk): X read every hour by k1, by k2 every
        // third hour in a page of 50 others, updated every tenth; Y read in between.
        let mut expected = Vec::new();
        for k in 0..80 {
            let hour = now_hour - 80 + k;
            let id = id_at(hour, 1);
            store_at(&store, id, &event(k1, "READ", vec![x], hour)).await;
            expected.push((id, k1, "READ", hour));
            store_at(&store, id_at(hour, 2), &event(k1, "READ", vec![y], hour)).await;
            if k % 3 == 0 {
                let mut page: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
                page[17] = x;
                let id = id_at(hour, 3);
                store_at(&store, id, &event(k2, "READ", page, hour)).await;
                expected.push((id, k2, "READ", hour));
            }
            if k % 10 == 0 {
                let id = id_at(hour, 4);
                store_at(&store, id, &event(k1, "UPDATE", vec![x], hour)).await;
                expected.push((id, k1, "UPDATE", hour));
            }
        }
        expected.sort_by_key(|e| std::cmp::Reverse(e.0));
        let walk = |filter: AuditFilter, first: u64| {
            let store = store.clone();
            async move {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let page = super::list(store.conn(), &filter, PageRequest { first, after })
                        .await
                        .unwrap();
                    seen.extend(page.items.iter().map(|e| e.id));
                    if !page.has_next_page {
                        return seen;
                    }
                    after = page.items.last().map(|e| e.id);
                }
            }
        };
        let by_record = AuditFilter {
            record_ids: Some(vec![x.to_string()]),
            ..AuditFilter::default()
        };
        let all: Vec<Uuid> = expected.iter().map(|e| e.0).collect();
        assert_eq!(walk(by_record.clone(), 7).await, all);
        assert_eq!(walk(by_record.clone(), 100).await, all);
        let by_k2 = AuditFilter {
            actor_id: Some(k2.to_string()),
            ..by_record.clone()
        };
        let only_k2: Vec<Uuid> = expected.iter().filter(|e| e.1 == k2).map(|e| e.0).collect();
        assert_eq!(walk(by_k2, 5).await, only_k2);
        let updates = AuditFilter {
            action: Some("UPDATE".into()),
            ..by_record.clone()
        };
        let only_updates: Vec<Uuid> = expected
            .iter()
            .filter(|e| e.2 == "UPDATE")
            .map(|e| e.0)
            .collect();
        assert_eq!(walk(updates, 3).await, only_updates);
        let window = AuditFilter {
            occurred_from: chrono::DateTime::from_timestamp((now_hour - 30) * 3600, 0),
            occurred_to: chrono::DateTime::from_timestamp((now_hour - 20) * 3600, 0),
            ..by_record.clone()
        };
        let in_window: Vec<Uuid> = expected
            .iter()
            .filter(|e| (now_hour - 30..now_hour - 20).contains(&e.3))
            .map(|e| e.0)
            .collect();
        assert_eq!(walk(window, 4).await, in_window);
        let nobody = AuditFilter {
            record_ids: Some(vec![Uuid::now_v7().to_string()]),
            ..AuditFilter::default()
        };
        assert!(walk(nobody, 10).await.is_empty());
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
}
