//! What walking the audit trail's hash chain found (`auditVerification`).

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::ids::to_id;
use crate::store::audit_chain::{Break, Problem, Verification};

/// The result of walking the audit trail's hash chain, recomputing every hash.
#[derive(SimpleObject)]
pub struct AuditVerification {
    /// Whether every event is linked, every link follows the one before it, and every event is
    /// what was linked.
    pub intact: bool,
    /// Events checked: those of every link when intact, of the links before the break
    /// otherwise.
    pub events_checked: i64,
    /// Links checked: the whole chain when intact, those before the break otherwise. A link
    /// holds the events one transaction stored.
    pub links_checked: i64,
    /// The hash (hex SHA-256) of the last link checked. Noted somewhere else, it proves later
    /// that the trail up to it was not rewritten.
    pub head_hash: Option<String>,
    /// The first broken link, in chain order; null when intact.
    pub broken_at: Option<AuditChainBreak>,
    pub verified_at: DateTime<Utc>,
}

/// Where and how the chain breaks.
#[derive(SimpleObject)]
pub struct AuditChainBreak {
    /// The link's place in the chain (1 is the first link ever made).
    pub position: i64,
    /// The event at fault, when it can be told: the deleted one, the one inserted around the
    /// chain, the changed one when its link holds no other.
    pub event_id: Option<ID>,
    /// The events the link at that place holds: when its hash no longer matches them, one of
    /// them was changed.
    pub event_ids: Vec<ID>,
    pub problem: AuditChainProblem,
    /// The problem in words.
    pub message: String,
}

/// How a chain can break.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AuditChainProblem {
    /// No link holds this place: a link was deleted.
    LinkMissing,
    /// The link does not follow the one before it: links were changed or reordered.
    LinkMismatch,
    /// A linked event is gone: it was deleted.
    EventMissing,
    /// An event differs from what was linked: it was changed.
    EventChanged,
    /// An event that no link holds: it was inserted around the chain.
    EventUnlinked,
    /// An event an earlier link holds too: a link's list was rewritten.
    EventLinkedTwice,
}

impl From<Problem> for AuditChainProblem {
    fn from(p: Problem) -> Self {
        match p {
            Problem::LinkMissing => AuditChainProblem::LinkMissing,
            Problem::LinkMismatch => AuditChainProblem::LinkMismatch,
            Problem::EventMissing => AuditChainProblem::EventMissing,
            Problem::EventChanged => AuditChainProblem::EventChanged,
            Problem::EventUnlinked => AuditChainProblem::EventUnlinked,
            Problem::EventLinkedTwice => AuditChainProblem::EventLinkedTwice,
        }
    }
}

impl From<Break> for AuditChainBreak {
    fn from(b: Break) -> Self {
        AuditChainBreak {
            position: b.seq,
            event_id: b.event_id.map(to_id),
            event_ids: b.event_ids.into_iter().map(to_id).collect(),
            problem: b.problem.into(),
            message: b.problem.describe().to_owned(),
        }
    }
}

impl From<Verification> for AuditVerification {
    fn from(v: Verification) -> Self {
        AuditVerification {
            intact: v.broken.is_none(),
            events_checked: i64::try_from(v.events).unwrap_or(i64::MAX),
            links_checked: i64::try_from(v.links).unwrap_or(i64::MAX),
            head_hash: v.head,
            broken_at: v.broken.map(AuditChainBreak::from),
            verified_at: Utc::now(),
        }
    }
}
