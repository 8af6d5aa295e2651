//! The audit trail's hash chain (migrations `m20261209_000001_audit_chain`, then
//! `m20261210_000001_audit_links`): how a link's events are hashed, the linking of SQLite's
//! new events (PostgreSQL's trigger links its own), and the walk that proves the chain intact
//! or names its first broken link.

use std::collections::HashMap;
use std::fmt::Write;

use entity::{audit_event, audit_link};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What every statement of the chain's own begins with: the statement count of a request
/// leaves them out (`Store::statements_executed`).
pub const AUDIT_TRAIL: &str = "/* audit trail */";

/// The hash before the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Events linked per link when SQLite links what is not linked yet, and read per query when
/// verifying.
const PAGE: usize = 2_000;

/// One value as hashed: `<bytes>:<text>`, or `~` for null. Length-prefixed, so no choice of
/// texts can make two different events encode alike.
fn field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push('~'),
        Some(v) => {
            let _ = write!(out, "{}:{v}", v.len());
        }
    }
}

/// The event as hashed: every stored column, in a fixed order, the time in microseconds since
/// 1970 (what PostgreSQL keeps). Always 14 values, so the bodies of a link's events, one after
/// the other, cannot be read two ways. Keep in step with the migration's `event_body`.
pub fn body(e: &audit_event::Model) -> String {
    let id = e.id.to_string();
    let micros = e.occurred_at.timestamp_micros().to_string();
    let mut out = String::with_capacity(256);
    for value in [
        Some(id.as_str()),
        Some(micros.as_str()),
        Some(e.actor_kind.as_str()),
        Some(e.actor_id.as_str()),
        Some(e.actor_label.as_str()),
        e.actor_on_behalf_of.as_deref(),
        e.actor_role.as_deref(),
        Some(e.action.as_str()),
        Some(e.operation.as_str()),
        e.operation_name.as_deref(),
        Some(e.record_type.as_str()),
        Some(e.record_ids.as_str()),
        Some(e.fields.as_str()),
        e.ip.as_deref(),
    ] {
        field(&mut out, value);
    }
    out
}

/// A link's hash: SHA-256 (hex) over the previous hash, the link's place and its events'
/// bodies in the link's order. A link of one event hashes as the per-event links before
/// `m20261210_000001_audit_links` did.
pub fn link_hash<'a>(
    prev: &str,
    seq: i64,
    events: impl IntoIterator<Item = &'a audit_event::Model>,
) -> String {
    let mut hasher = Sha256::new();
    let mut head = String::with_capacity(96);
    field(&mut head, Some(prev));
    field(&mut head, Some(&seq.to_string()));
    hasher.update(head.as_bytes());
    for event in events {
        hasher.update(body(event).as_bytes());
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The last link: its place and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// Which events `seal` links.
#[derive(Clone, Copy, Debug)]
pub enum Unlinked<'a> {
    /// Those the transaction inserted, in this order. Only these: an event that someone
    /// inserted around the application stays in no link, for `verify` to find, rather than
    /// being linked by the next write as if it were the application's.
    These(&'a [Uuid]),
    /// Every event after the last linked one: the events stored before the chain existed,
    /// by the upgrade that builds it (`Store::migrate`).
    All,
}

/// Links `which` events of this SQLite transaction, before it commits: one link (a link per
/// `PAGE` events beyond), and the new head if it linked any. Called by every SQLite
/// transaction that can insert audit events, under the writer lock, so the head cannot move
/// underneath. PostgreSQL's trigger links each INSERT's events as they are inserted; there
/// this does nothing.
pub async fn seal(
    db: &impl ConnectionTrait,
    which: Unlinked<'_>,
) -> Result<Option<ChainHead>, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(None);
    }
    match which {
        Unlinked::These([]) => Ok(None),
        Unlinked::These(ids) => seal_these(db, ids).await,
        Unlinked::All => seal_all(db).await,
    }
}

async fn seal_these(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Option<ChainHead>, DbErr> {
    let mut head = last_link(db).await?;
    let mut linked = None;
    for chunk in ids.chunks(PAGE) {
        let mut found = events_by_id(db, chunk).await?;
        // An id not found is an event not stored (its statement was undone).
        let events: Vec<audit_event::Model> =
            chunk.iter().filter_map(|id| found.remove(id)).collect();
        if events.is_empty() {
            continue;
        }
        let statement;
        (statement, head) = link_after(&head, &events);
        db.execute_raw(statement).await?;
        linked = Some(head.clone());
    }
    Ok(linked)
}

async fn seal_all(db: &impl ConnectionTrait) -> Result<Option<ChainHead>, DbErr> {
    let (mut head, mut after) = head(db).await?;
    let mut linked = None;
    loop {
        let events = audit_event::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    "{AUDIT_TRAIL} SELECT * FROM audit_events WHERE rowid > ? \
                     ORDER BY rowid LIMIT {PAGE}"
                ),
                [after.into()],
            ))
            .all(db)
            .await?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(linked);
        };
        let statement;
        (statement, head) = link_after(&head, &events);
        db.execute_raw(statement).await?;
        linked = Some(head.clone());
        if events.len() < PAGE {
            return Ok(linked);
        }
        after = rowid_of(db, last).await?.unwrap_or(after);
    }
}

/// SQLite: the INSERT of the link of `events` (in this order) after `head`, and the head it
/// makes. Another link already in `head`'s place + 1 makes the INSERT fail (its primary key),
/// so a head that moved on since it was read is never linked to twice.
pub fn link_after(head: &ChainHead, events: &[audit_event::Model]) -> (Statement, ChainHead) {
    let seq = head.seq + 1;
    let hash = link_hash(&head.hash, seq, events);
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let statement = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "{AUDIT_TRAIL} INSERT INTO audit_links (seq, event_ids, prev_hash, hash) \
             VALUES (?, ?, ?, ?)"
        ),
        [
            seq.into(),
            serde_json::to_string(&ids).unwrap_or_default().into(),
            head.hash.clone().into(),
            hash.clone().into(),
        ],
    );
    (statement, ChainHead { seq, hash })
}

/// SQLite: the last link (the genesis before the first).
pub async fn last_link(db: &impl ConnectionTrait) -> Result<ChainHead, DbErr> {
    let head = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("{AUDIT_TRAIL} SELECT seq, hash FROM audit_links ORDER BY seq DESC LIMIT 1"),
        ))
        .await?;
    Ok(match head {
        Some(row) => ChainHead {
            seq: row.try_get("", "seq")?,
            hash: row.try_get("", "hash")?,
        },
        None => ChainHead::genesis(),
    })
}

/// SQLite: an event id in a link's list as SQLite stores ids (16 bytes).
const STORED_ID: &str = "unhex(replace(j.value, '-', ''))";

/// SQLite: the last link's place and hash, and the rowid of the last linked event (events
/// after it are not linked yet).
async fn head(db: &impl ConnectionTrait) -> Result<(ChainHead, i64), DbErr> {
    let last = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!(
                "{AUDIT_TRAIL} SELECT l.seq, l.hash, e.rowid AS after FROM audit_links l \
                 LEFT JOIN audit_events e \
                   ON e.id = unhex(replace(l.event_ids ->> '$[#-1]', '-', '')) \
                 ORDER BY l.seq DESC LIMIT 1"
            ),
        ))
        .await?;
    let Some(last) = last else {
        return Ok((ChainHead::genesis(), 0));
    };
    let head = ChainHead {
        seq: last.try_get("", "seq")?,
        hash: last.try_get("", "hash")?,
    };
    if let Some(rowid) = last.try_get::<Option<i64>>("", "after")? {
        return Ok((head, rowid));
    }
    // Its last event is gone (the trail was tampered with; verify says where): carry on from
    // the last event that a link holds, so that new events are still linked. The latest links
    // first; the whole chain only when none of their events is left.
    for since in [head.seq - 100, 0] {
        let found = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    "{AUDIT_TRAIL} SELECT max(e.rowid) AS rowid FROM {} \
                     JOIN audit_events e ON e.id = {STORED_ID} WHERE l.seq > ?",
                    listed_ids(DbBackend::Sqlite)
                ),
                [since.into()],
            ))
            .await?
            .map(|row| row.try_get::<Option<i64>>("", "rowid"))
            .transpose()?
            .flatten();
        if let Some(rowid) = found {
            return Ok((head, rowid));
        }
    }
    Ok((head, 0))
}

async fn rowid_of(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<i64>, DbErr> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!("{AUDIT_TRAIL} SELECT rowid FROM audit_events WHERE id = ?"),
        [id.into()],
    ))
    .await?
    .map(|row| row.try_get::<i64>("", "rowid"))
    .transpose()
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Links checked (all of them when intact, those before the break otherwise).
    pub links: u64,
    /// The events those links hold.
    pub events: u64,
    /// The last link's hash: noted somewhere else, it proves later that nothing before it
    /// was rewritten wholesale.
    pub head: Option<String>,
    /// The first break, in chain order; none: intact.
    pub broken: Option<Break>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The place in the chain where it breaks.
    pub seq: i64,
    /// The event at fault, when it can be told: the missing one, the one not linked, the
    /// changed one when its link holds no other.
    pub event_id: Option<Uuid>,
    /// The events the link at that place holds (one of them is at fault when the link's
    /// hash no longer matches its events).
    pub event_ids: Vec<Uuid>,
    pub problem: Problem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No link holds this place: a link was deleted (or the chain reordered).
    LinkMissing,
    /// The link does not follow the one before it: links were changed or reordered.
    LinkMismatch,
    /// A linked event is gone: it was deleted.
    EventMissing,
    /// An event is not what was linked: it was changed.
    EventChanged,
    /// An event that no link holds: inserted around the chain.
    EventUnlinked,
    /// An event that an earlier link (or this one, earlier) holds already: a list was
    /// rewritten, which could make the count of linked events hide an unlinked one.
    EventLinkedTwice,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::LinkMissing => "LINK_MISSING",
            Problem::LinkMismatch => "LINK_MISMATCH",
            Problem::EventMissing => "EVENT_MISSING",
            Problem::EventChanged => "EVENT_CHANGED",
            Problem::EventUnlinked => "EVENT_UNLINKED",
            Problem::EventLinkedTwice => "EVENT_LINKED_TWICE",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Problem::LinkMissing => "no link holds this place: a link was deleted",
            Problem::LinkMismatch => {
                "the link does not follow the one before it: links were changed or reordered"
            }
            Problem::EventMissing => "a linked event is gone: it was deleted",
            Problem::EventChanged => "an event differs from what was linked: it was changed",
            Problem::EventUnlinked => "an event is in no link: it was inserted around the chain",
            Problem::EventLinkedTwice => {
                "an event is held by an earlier link too: a link's list was rewritten"
            }
        }
    }
}

/// Links read per query when verifying (their events are read about `PAGE` at a time).
const LINK_PAGE: u64 = 100;

/// Where a walk of the chain has got to: the links and events found intact so far, and the
/// last one's hash.
struct Walk {
    links: u64,
    events: u64,
    prev: String,
}

impl Walk {
    /// Checks the next link, `list` its events' ids as read (none: not a list of ids), and
    /// moves past it when it is intact.
    fn check(
        &mut self,
        link: &audit_link::Model,
        list: Option<&[Uuid]>,
        events: &HashMap<Uuid, audit_event::Model>,
    ) -> Option<Break> {
        let seq = self.links as i64 + 1;
        let broken = |problem, event_id, held: &[Uuid]| {
            Some(Break {
                seq,
                event_id,
                event_ids: held.to_vec(),
                problem,
            })
        };
        if link.seq != seq {
            return broken(Problem::LinkMissing, None, &[]);
        }
        // A list that does not read as ids was changed: the link no longer follows.
        let Some(held) = list.filter(|_| link.prev_hash == self.prev) else {
            return broken(Problem::LinkMismatch, None, list.unwrap_or_default());
        };
        if let Some(gone) = held.iter().find(|id| !events.contains_key(id)) {
            return broken(Problem::EventMissing, Some(*gone), held);
        }
        if link_hash(&self.prev, seq, held.iter().map(|id| &events[id])) != link.hash {
            let only = (held.len() == 1).then(|| held[0]);
            return broken(Problem::EventChanged, only, held);
        }
        self.prev.clone_from(&link.hash);
        self.links += 1;
        self.events += held.len() as u64;
        None
    }

    fn found(self, broken: Option<Break>) -> Verification {
        Verification {
            links: self.links,
            events: self.events,
            head: (self.links > 0).then_some(self.prev),
            broken,
        }
    }
}

/// Walks the whole chain in order, recomputing every hash. Reads only, and holds about `PAGE`
/// events at a time whatever the links' sizes.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Verification, DbErr> {
    let mut walk = Walk {
        links: 0,
        events: 0,
        prev: GENESIS.to_owned(),
    };
    loop {
        let links = audit_link::Entity::find()
            .filter(audit_link::Column::Seq.gt(walk.links as i64))
            .order_by_asc(audit_link::Column::Seq)
            .limit(LINK_PAGE)
            .all(db)
            .await?;
        let lists: Vec<Option<Vec<Uuid>>> = links
            .iter()
            .map(|l| serde_json::from_str(&l.event_ids).ok())
            .collect();
        let mut start = 0;
        while start < links.len() {
            // The next links up to about `PAGE` events (one at least), their events read at once.
            let (mut end, mut ids) = (start, Vec::new());
            while end < links.len() && (end == start || ids.len() < PAGE) {
                ids.extend(lists[end].iter().flatten().copied());
                end += 1;
            }
            let events = events_by_id(db, &ids).await?;
            for (link, list) in links[start..end].iter().zip(&lists[start..end]) {
                if let Some(broken) = walk.check(link, list.as_deref(), &events) {
                    return Ok(walk.found(Some(broken)));
                }
            }
            start = end;
        }
        if (links.len() as u64) < LINK_PAGE {
            break;
        }
    }
    // Every link follows and holds its events. An event listed twice counts twice among
    // the linked ones, so it is looked for before the count of unlinked ones is trusted.
    if let Some((seq, event)) = linked_twice(db).await? {
        // The walk found every place up to the last, so `seq - 1` links come before it.
        let walk = Walk {
            links: seq as u64 - 1,
            events: listed_before(db, seq).await?,
            ..walk
        };
        return Ok(walk.found(Some(Break {
            seq,
            event_id: Some(event),
            event_ids: Vec::new(),
            problem: Problem::EventLinkedTwice,
        })));
    }
    let broken = unlinked(db, walk.events).await?.map(|event| Break {
        seq: walk.links as i64 + 1,
        event_id: Some(event),
        event_ids: Vec::new(),
        problem: Problem::EventUnlinked,
    });
    Ok(walk.found(broken))
}

/// Every id every link lists, as `j.value` (text) beside its link `l`: a FROM clause.
fn listed_ids(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "audit_links l, json_array_elements_text(l.event_ids::json) j",
        _ => "audit_links l, json_each(l.event_ids) j",
    }
}

/// The first link (in chain order) that lists an event an earlier place in the chain lists
/// already (an earlier link, or the same one), and that event. One pass over every link's
/// list, sorted: only after a walk found the chain otherwise whole.
async fn linked_twice(db: &impl ConnectionTrait) -> Result<Option<(i64, Uuid)>, DbErr> {
    let backend = db.get_database_backend();
    // The second listing of an id is in the link with the larger place, or in the same one.
    let sql = format!(
        "SELECT seq, id FROM (SELECT l.seq AS seq, j.value AS id, row_number() OVER \
         (PARTITION BY j.value ORDER BY l.seq) AS nth FROM {}) listed \
         WHERE nth = 2 ORDER BY seq LIMIT 1",
        listed_ids(backend)
    );
    let Some(row) = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
    else {
        return Ok(None);
    };
    let id: String = row.try_get("", "id")?;
    let id = id
        .parse()
        .map_err(|e| DbErr::Custom(format!("an id in a link's list: {e}")))?;
    Ok(Some((row.try_get("", "seq")?, id)))
}

/// The events the links before place `seq` list.
async fn listed_before(db: &impl ConnectionTrait, seq: i64) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let length = match backend {
        DbBackend::Postgres => "json_array_length(event_ids::json)",
        _ => "json_array_length(event_ids)",
    };
    let sql = format!("SELECT coalesce(sum({length}), 0) AS n FROM audit_links WHERE seq < {seq}");
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    let listed = row.map(|row| row.try_get::<i64>("", "n")).transpose()?;
    Ok(listed.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// The events of these ids that are stored. Marked as the chain's (`AUDIT_TRAIL`): a write
/// reads its own events back through it when linking them (`seal`).
async fn events_by_id(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, audit_event::Model>, DbErr> {
    let backend = db.get_database_backend();
    let mut events = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(PAGE) {
        let query = audit_event::Entity::find()
            .filter(audit_event::Column::Id.is_in(chunk.iter().copied()))
            .build(backend);
        let marked = Statement {
            sql: format!("{AUDIT_TRAIL} {}", query.sql),
            ..query
        };
        let rows = audit_event::Entity::find()
            .from_raw_sql(marked)
            .all(db)
            .await?;
        events.extend(rows.into_iter().map(|e| (e.id, e)));
    }
    Ok(events)
}

/// An event no link holds, when there are more events than the `linked` ones the walk found
/// (all of them there). The search reads every link's list, so only then.
async fn unlinked(db: &impl ConnectionTrait, linked: u64) -> Result<Option<Uuid>, DbErr> {
    let backend = db.get_database_backend();
    let count = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT count(*) AS n FROM audit_events",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if u64::try_from(count).unwrap_or(0) <= linked {
        return Ok(None);
    }
    let listed = listed_ids(backend);
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT e.id FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM {listed} \
             WHERE j.value::uuid = e.id) ORDER BY e.id LIMIT 1"
        ),
        _ => format!(
            "SELECT id FROM audit_events WHERE id NOT IN (SELECT {STORED_ID} FROM {listed}) \
             ORDER BY id LIMIT 1"
        ),
    };
    db.query_one_raw(Statement::from_string(backend, sql))
        .await?
        .map(|row| row.try_get::<Uuid>("", "id"))
        .transpose()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use entity::audit_event;

    use sha2::Digest;

    use super::{GENESIS, body, link_hash};

    fn event() -> audit_event::Model {
        audit_event::Model {
            id: uuid::Uuid::nil(),
            occurred_at: Utc.timestamp_micros(1_764_540_000_123_456).unwrap(),
            actor_kind: "API_KEY".into(),
            actor_id: "k".into(),
            actor_label: "ab".into(),
            actor_on_behalf_of: None,
            actor_role: None,
            action: "READ".into(),
            operation: "c".into(),
            operation_name: None,
            record_type: "patient".into(),
            record_ids: "[]".into(),
            fields: "[]".into(),
            ip: Some(String::new()),
        }
    }

    #[test]
    fn values_are_length_prefixed_and_null_differs_from_empty() {
        let e = event();
        assert_eq!(
            body(&e),
            "36:00000000-0000-0000-0000-000000000000\
             16:1764540000123456\
             7:API_KEY1:k2:ab~~4:READ1:c~7:patient2:[]2:[]0:"
        );
        // Moving a character from one value to the next changes the encoding.
        let mut moved = event();
        moved.actor_label = "a".into();
        moved.action = "bREAD".into();
        assert_ne!(body(&moved), body(&e));
        let mut null_ip = event();
        null_ip.ip = None;
        assert_ne!(body(&null_ip), body(&e));
    }

    /// More events than one read of the walk holds: it reads the links' events in groups,
    /// every link checked once.
    #[tokio::test]
    async fn the_walk_reads_large_links_a_group_at_a_time() {
        use crate::store::Store;
        use crate::store::audit::NewAuditEvent;
        let store = Store::connect("sqlite::memory:", Some(1)).await.unwrap();
        store.migrate().await.unwrap();
        let key = uuid::Uuid::now_v7();
        for _ in 0..5 {
            let batch: Vec<NewAuditEvent> = (0..super::PAGE / 4 + 1)
                .map(|_| NewAuditEvent::of_key(key, "READ", vec![], Utc::now()))
                .collect();
            store.insert_audit_events(&batch).await.unwrap();
        }
        let found = super::verify(store.conn()).await.unwrap();
        assert_eq!(found.broken, None);
        assert_eq!(found.links, 5);
        assert_eq!(found.events, 5 * (super::PAGE as u64 / 4 + 1));
    }

    #[test]
    fn a_link_hash_depends_on_the_previous_hash_the_place_and_the_events_in_order() {
        let e = event();
        let first = link_hash(GENESIS, 1, [&e]);
        assert_eq!(first.len(), 64);
        assert_ne!(link_hash(GENESIS, 2, [&e]), first);
        assert_ne!(link_hash(&first, 1, [&e]), first);
        assert_eq!(link_hash(GENESIS, 1, [&e]), first, "deterministic");
        // A link of one event hashes as the per-event links made before batches did.
        let old = sha2::Sha256::digest(format!("64:{GENESIS}1:1{}", body(&e)));
        let old: String = old.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(first, old);
        let mut other = event();
        other.id = uuid::Uuid::max();
        let both = link_hash(GENESIS, 1, [&e, &other]);
        assert_ne!(both, first);
        assert_ne!(link_hash(GENESIS, 1, [&other, &e]), both, "order counts");
    }
}
