//! Principals, scopes and the restricted handles through which every resolver reaches data.
//! A handle checks the caller's scopes itself and passes the caller's row scope to the store,
//! so a resolver cannot read or write more than its credential allows even if it tried.

pub mod admin;
pub mod credentials;
pub mod key_cache;
pub mod patients;
pub mod principal;
pub mod rules;
pub mod tests;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use uuid::Uuid;

use crate::audit::AuditSink;
use crate::store::Store;
use crate::store::audit::{NewAuditEvent, RecordIds};
pub use principal::{Actor, Principal};

/// What every request's handles share: built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub sink: AuditSink,
    pub keys: key_cache::KeyCache,
    pub session_ttl: chrono::Duration,
}

/// Everything a request may do, bound to its principal.
#[derive(Clone)]
pub struct Access(Arc<Inner>);

struct Inner {
    principal: Principal,
    services: Services,
    ip: Option<String>,
    reads: Mutex<ReadDraft>,
}

/// What a request has read so far; written as audit events when the request ends.
///
/// Ids are collected as they come and sorted and deduplicated once at the end: a page of
/// tests adds hundreds, and inserting each into an ordered set was 2% of Q1's CPU.
#[derive(Default)]
struct ReadDraft {
    patients: Vec<Uuid>,
    tests: Vec<Uuid>,
    patient_fields: BTreeSet<String>,
}

/// `ids` in order, each once: the record ids of one read event.
fn distinct(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Access {
    pub fn new(principal: Principal, services: Services, ip: Option<String>) -> Self {
        Access(Arc::new(Inner {
            principal,
            services,
            ip,
            reads: Mutex::new(ReadDraft::default()),
        }))
    }

    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    pub fn patients(&self) -> patients::Patients<'_> {
        patients::Patients::new(self)
    }

    pub fn tests(&self) -> tests::Tests<'_> {
        tests::Tests::new(self)
    }

    pub fn admin(&self) -> admin::Admin<'_> {
        admin::Admin::new(self)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.services.store
    }

    pub(crate) fn sink(&self) -> &AuditSink {
        &self.0.services.sink
    }

    pub(crate) fn key_cache(&self) -> &key_cache::KeyCache {
        &self.0.services.keys
    }

    pub(crate) fn session_ttl(&self) -> chrono::Duration {
        self.0.services.session_ttl
    }

    fn reads(&self) -> std::sync::MutexGuard<'_, ReadDraft> {
        // A poisoned lock only means another resolver panicked mid-insert; the set is
        // still usable and losing audit data would be worse.
        self.0.reads.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn read_patients(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.reads().patients.extend(ids);
    }

    pub(crate) fn read_tests(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.reads().tests.extend(ids);
    }

    /// Called by the field guard for every patient field actually served.
    pub fn disclosed_patient_field(&self, field: &str) {
        let mut reads = self.reads();
        if !reads.patient_fields.contains(field) {
            reads.patient_fields.insert(field.to_owned());
        }
    }

    /// An audit event by this principal, now.
    pub(crate) fn event(
        &self,
        action: &str,
        operation: &str,
        record_type: &str,
        record_ids: impl Into<RecordIds>,
        fields: Vec<String>,
    ) -> NewAuditEvent {
        let p = self.principal();
        NewAuditEvent {
            occurred_at: Utc::now(),
            actor_kind: p.kind().to_owned(),
            actor_id: p.id(),
            actor_label: p.label(),
            action: action.to_owned(),
            operation: operation.to_owned(),
            record_type: record_type.to_owned(),
            record_ids: record_ids.into(),
            fields,
            ip: self.0.ip.clone(),
        }
    }

    /// Hands the request's reads to the audit writer. Called once, after execution and
    /// before the answer: a request that read records waits while the writer is too far
    /// behind (`AuditSink::room`); one that read none adds nothing to the queue and does not.
    pub async fn finish(&self, operation: &str) {
        let draft = std::mem::take(&mut *self.reads());
        let mut events = Vec::new();
        if !draft.patients.is_empty() {
            events.push(self.event(
                "READ",
                operation,
                "patient",
                distinct(draft.patients),
                draft.patient_fields.into_iter().collect(),
            ));
        }
        if !draft.tests.is_empty() {
            events.push(self.event("READ", operation, "test", distinct(draft.tests), Vec::new()));
        }
        if events.is_empty() {
            return;
        }
        self.sink().record(events);
        self.sink().room().await;
    }
}
