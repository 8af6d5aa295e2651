//! The audit trail's hash chain (migration `m20261209_000001_audit_chain`): how an event is
//! hashed, the linking of SQLite's new events (PostgreSQL's trigger links its own), and the
//! walk that proves the chain intact or names its first broken link.

use std::collections::HashMap;
use std::fmt::Write;

use entity::{audit_chain, audit_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What every statement of the chain's own begins with: the statement count of a request
/// leaves them out (`Store::statements_executed`).
pub const AUDIT_TRAIL: &str = "/* audit trail */";

/// The hash before the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Links read, and events linked, per query.
const PAGE: u64 = 2_000;

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
/// 1970 (what PostgreSQL keeps). Keep in step with the migration's `audit_event_body`.
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

/// A link's hash: SHA-256 (hex) over the previous hash, the link's place and its event.
pub fn link_hash(prev: &str, seq: i64, body: &str) -> String {
    let mut input = String::with_capacity(body.len() + 96);
    field(&mut input, Some(prev));
    field(&mut input, Some(&seq.to_string()));
    input.push_str(body);
    let digest = Sha256::digest(input.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Links the events this SQLite transaction inserted (and any not linked yet), in the order
/// they were inserted, before it commits. Called by every SQLite transaction that can insert
/// audit events, under the writer lock, so the head cannot move underneath. PostgreSQL's
/// trigger links each event as it is inserted; there this does nothing.
pub async fn seal(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let (mut seq, mut prev, mut after) = head(db).await?;
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
            return Ok(());
        };
        db.execute_raw(link_statement(&mut seq, &mut prev, &events))
            .await?;
        if (events.len() as u64) < PAGE {
            return Ok(());
        }
        after = rowid_of(db, last).await?.unwrap_or(after);
    }
}

/// The INSERT of the links of `events` after the link `seq` with hash `prev` (both moved on
/// to the last new link): one statement text for any number of links (see `audit::batch`).
fn link_statement(seq: &mut i64, prev: &mut String, events: &[audit_event::Model]) -> Statement {
    let links: Vec<serde_json::Value> = events
        .iter()
        .map(|event| {
            *seq += 1;
            let hash = link_hash(prev, *seq, &body(event));
            let link = serde_json::json!([*seq, event.id.simple().to_string(), prev, hash]);
            *prev = hash;
            link
        })
        .collect();
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "{AUDIT_TRAIL} INSERT INTO audit_chain (seq, event_id, prev_hash, hash) \
             SELECT value ->> 0, unhex(value ->> 1), value ->> 2, value ->> 3 FROM json_each(?)"
        ),
        [serde_json::Value::Array(links).to_string().into()],
    )
}

/// SQLite: the INSERT of the links of `events`, rows about to be stored in this transaction
/// (in this order) when every event already stored is linked. Reads the head once.
pub async fn links(
    db: &impl ConnectionTrait,
    events: &[audit_event::Model],
) -> Result<Statement, DbErr> {
    let (mut seq, mut prev, _) = head(db).await?;
    Ok(link_statement(&mut seq, &mut prev, events))
}

/// SQLite: the last link's place and hash, and the rowid of the last linked event (events
/// after it are not linked yet).
async fn head(db: &impl ConnectionTrait) -> Result<(i64, String, i64), DbErr> {
    let last = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!(
                "{AUDIT_TRAIL} SELECT c.seq, c.hash, e.rowid AS after FROM audit_chain c \
                 LEFT JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq DESC LIMIT 1"
            ),
        ))
        .await?;
    let Some(last) = last else {
        return Ok((0, GENESIS.to_owned(), 0));
    };
    let (seq, hash) = (
        last.try_get::<i64>("", "seq")?,
        last.try_get::<String>("", "hash")?,
    );
    let after = match last.try_get::<Option<i64>>("", "after")? {
        Some(rowid) => rowid,
        // Its event is gone (the trail was tampered with; verify says where): carry on from
        // the last event that is linked, so that new events are still linked.
        None => db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!(
                    "{AUDIT_TRAIL} SELECT coalesce(max(e.rowid), 0) AS rowid \
                     FROM audit_events e JOIN audit_chain c ON c.event_id = e.id"
                ),
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "rowid"))
            .transpose()?
            .unwrap_or(0),
    };
    Ok((seq, hash, after))
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
    /// Links checked (all of them when intact).
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
    /// The event at that place, when there is one.
    pub event_id: Option<Uuid>,
    pub problem: Problem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No link holds this place: a link was deleted (or the chain reordered).
    LinkMissing,
    /// The link does not follow the one before it: links were changed or reordered.
    LinkMismatch,
    /// The linked event is gone: it was deleted.
    EventMissing,
    /// The event is not what was linked: it was changed.
    EventChanged,
    /// An event that no link holds: inserted around the chain.
    EventUnlinked,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::LinkMissing => "LINK_MISSING",
            Problem::LinkMismatch => "LINK_MISMATCH",
            Problem::EventMissing => "EVENT_MISSING",
            Problem::EventChanged => "EVENT_CHANGED",
            Problem::EventUnlinked => "EVENT_UNLINKED",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Problem::LinkMissing => "no link holds this place: a link was deleted",
            Problem::LinkMismatch => {
                "the link does not follow the one before it: links were changed or reordered"
            }
            Problem::EventMissing => "the linked event is gone: it was deleted",
            Problem::EventChanged => "the event differs from what was linked: it was changed",
            Problem::EventUnlinked => "an event is in no link: it was inserted around the chain",
        }
    }
}

/// Walks the whole chain in order, recomputing every hash. Reads only.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Verification, DbErr> {
    let mut checked = 0u64;
    let mut prev = GENESIS.to_owned();
    let mut expected = 1i64;
    loop {
        let links = audit_chain::Entity::find()
            .filter(audit_chain::Column::Seq.gte(expected))
            .order_by_asc(audit_chain::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        let ids: Vec<Uuid> = links.iter().map(|l| l.event_id).collect();
        let events: HashMap<Uuid, audit_event::Model> = audit_event::Entity::find()
            .filter(audit_event::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        for link in &links {
            let broken = |problem| Break {
                seq: expected,
                event_id: (problem != Problem::LinkMissing).then_some(link.event_id),
                problem,
            };
            let problem = if link.seq != expected {
                Some(Problem::LinkMissing)
            } else if link.prev_hash != prev {
                Some(Problem::LinkMismatch)
            } else {
                match events.get(&link.event_id) {
                    None => Some(Problem::EventMissing),
                    Some(event) if link_hash(&prev, link.seq, &body(event)) != link.hash => {
                        Some(Problem::EventChanged)
                    }
                    Some(_) => None,
                }
            };
            if let Some(problem) = problem {
                return Ok(Verification {
                    events: checked,
                    head: (checked > 0).then_some(prev),
                    broken: Some(broken(problem)),
                });
            }
            prev.clone_from(&link.hash);
            expected += 1;
            checked += 1;
        }
        if (links.len() as u64) < PAGE {
            break;
        }
    }
    let unlinked = audit_event::Entity::find()
        .filter(Expr::cust(
            "NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = audit_events.id)",
        ))
        .one(db)
        .await?;
    Ok(Verification {
        events: checked,
        head: (checked > 0).then_some(prev),
        broken: unlinked.map(|event| Break {
            seq: expected,
            event_id: Some(event.id),
            problem: Problem::EventUnlinked,
        }),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use entity::audit_event;

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

    #[test]
    fn a_link_hash_depends_on_the_previous_hash_the_place_and_the_event() {
        let b = body(&event());
        let first = link_hash(GENESIS, 1, &b);
        assert_eq!(first.len(), 64);
        assert_ne!(link_hash(GENESIS, 2, &b), first);
        assert_ne!(link_hash(&first, 1, &b), first);
        assert_eq!(link_hash(GENESIS, 1, &b), first, "deterministic");
    }
}
