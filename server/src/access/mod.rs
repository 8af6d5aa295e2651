//! Principals, scopes and the restricted handles through which every resolver reaches data.
//! A handle checks the caller's scopes itself and passes the caller's row scope to the store,
//! so a resolver cannot read or write more than its credential allows even if it tried.

pub mod admin;
pub mod audit_trail;
pub mod credentials;
pub mod directory;
pub mod external_services;
#[cfg(test)]
mod handle_tests;
pub mod imports;
pub mod key_cache;
pub mod lab_intake;
pub mod lab_tests;
pub mod login_throttle;
pub mod outside_records;
pub mod patients;
pub mod principal;
pub mod protection;
pub mod rate_limit;
pub mod rules;
pub mod service_polls;
pub mod sessions;
pub mod shared_limits;
pub mod webhooks;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use uuid::Uuid;

use crate::audit::AuditSink;
use crate::domain::environment::Environment;
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::audit::{NewAuditEvent, RecordIds};
pub use principal::{Actor, Principal};

/// What reading a field tells about a patient, for the read audit: each record field declares
/// it (`graphql::types::record`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Nothing about a patient (a test's own fields, structure).
    None,
    /// Which patient: named in the read event, but an answer that holds only this of a
    /// patient the request just wrote is not a read.
    Identity,
    /// Patient data: named in the read event.
    Data,
}

/// How a search was asked (`Access::searched`).
#[derive(Clone, Copy)]
pub enum Search {
    Count,
    Page { first: u64, found: bool },
}

/// Filter fields that say where records belong rather than what they hold.
const STRUCTURAL: [&str; 3] = ["clientId", "locationId", "patientId"];

/// A kind of record a refused attempt aimed at.
#[derive(Clone, Copy)]
pub enum Target {
    Patient,
    Test,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Patient => "patient",
            Target::Test => "test",
        }
    }
}

/// What every request's handles share: built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub sink: AuditSink,
    pub keys: key_cache::KeyCache,
    pub session_ttl: chrono::Duration,
    /// Bounds the security events one credential can write (`DENIED`).
    pub security: Arc<crate::audit::security::Throttle>,
    /// Failed portal logins per account and per address.
    pub logins: Arc<login_throttle::LoginThrottle>,
    /// The authorization server: verifies partner apps' access tokens.
    pub oauth: Arc<crate::oauth::OAuth>,
    /// Which addresses webhook endpoints may reach, and rotation bounds.
    pub webhooks: crate::webhooks::Webhooks,
    /// What connections to external services may reach.
    pub reach: Arc<crate::integrations::Reach>,
    /// How long a poll holds its connection (`services.poll_lease_seconds`).
    pub poll_lease: std::time::Duration,
    /// Allowed addresses and request rates (`protection`).
    pub protection: Arc<protection::Protection>,
}

/// Everything a request may do, bound to its principal.
#[derive(Clone)]
pub struct Access(Arc<Inner>);

struct Inner {
    principal: Principal,
    services: Services,
    ip: Option<String>,
    reads: Mutex<ReadDraft>,
    /// Set by the first `login` of the request (or batch): one guess per request.
    login_attempted: std::sync::atomic::AtomicBool,
}

/// What a request has read so far; written as audit events when the request ends.
///
/// Ids are collected as they come and sorted and deduplicated once at the end: a page of
/// tests adds hundreds, and inserting each into an ordered set showed in Q1's profile.
#[derive(Default)]
struct ReadDraft {
    patients: Vec<Uuid>,
    tests: Vec<Uuid>,
    patient_fields: BTreeSet<String>,
    /// Whether a field of `patient_fields` discloses patient data (not identity alone).
    patient_data: bool,
    /// Records a mutation wrote and whose fields its answer selects: read only if a field
    /// beyond the id was served (`finish`).
    answered_patients: Vec<Uuid>,
    answered_tests: Vec<Uuid>,
    /// Filter fields (and `totalCount`) used per record type: searches disclose what they
    /// match even when no row is returned.
    searches: Vec<(&'static str, BTreeSet<&'static str>)>,
    /// Refused attempts, written as security events.
    denied: Vec<NewAuditEvent>,
    /// What this request was refused (`FORBIDDEN`s), written as one security event.
    denied_fields: BTreeSet<String>,
    /// Records returned so far (`MAX_ROWS_RETURNED`); kept across `finish`, which ends one
    /// request of a batch, not the batch.
    rows: usize,
}

/// Refused attempts recorded for one request at most; the rest of a hostile request adds
/// nothing (`security::Throttle` bounds them per credential over time).
const DENIED_PER_REQUEST: usize = 5;
/// Distinct refusals named in one request's security event at most.
const DENIED_FIELDS_MAX: usize = 50;

/// Characters of a caller's operation name kept in the audit trail.
const OPERATION_NAME_MAX: usize = 100;

/// Records one HTTP request (a batch included) may return. `graphql::cost` refuses documents
/// whose page sizes could exceed its own estimate up front; this counts what is really read,
/// for lists whose length is the data's (a patient's tests).
pub const MAX_ROWS_RETURNED: usize = 5_000;

impl ReadDraft {
    fn take_rows(&mut self, n: usize) -> AppResult<()> {
        if self.rows + n > MAX_ROWS_RETURNED {
            return Err(AppError::TooComplex {
                limit: "rows",
                message: format!(
                    "the request would return more than {MAX_ROWS_RETURNED} records; ask for smaller pages"
                ),
            });
        }
        self.rows += n;
        Ok(())
    }
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
            login_attempted: Default::default(),
        }))
    }

    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    pub fn patients(&self) -> patients::Patients<'_> {
        patients::Patients::new(self)
    }

    pub fn tests(&self) -> lab_tests::Tests<'_> {
        lab_tests::Tests::new(self)
    }

    pub fn admin(&self) -> admin::Admin<'_> {
        admin::Admin::new(self)
    }

    pub fn audit_trail(&self) -> audit_trail::AuditTrail<'_> {
        audit_trail::AuditTrail::new(self)
    }

    pub fn webhooks(&self) -> webhooks::Webhooks<'_> {
        webhooks::Webhooks::new(self)
    }

    pub fn external_services(&self) -> external_services::ExternalServices<'_> {
        external_services::ExternalServices::new(self)
    }

    pub fn imports(&self) -> imports::Imports<'_> {
        imports::Imports::new(self)
    }

    pub fn lab_intake(&self) -> lab_intake::LabIntake<'_> {
        lab_intake::LabIntake::new(self)
    }

    pub fn service_polls(&self) -> service_polls::ServicePolls<'_> {
        service_polls::ServicePolls::new(self)
    }

    pub fn outside_records(&self) -> outside_records::OutsideRecords<'_> {
        outside_records::OutsideRecords::new(self)
    }

    pub fn directory(&self) -> directory::Directory<'_> {
        directory::Directory::new(self)
    }

    pub fn sessions(&self) -> sessions::Sessions<'_> {
        sessions::Sessions::new(self)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.services.store
    }

    pub(crate) fn webhook_settings(&self) -> &crate::webhooks::Webhooks {
        &self.0.services.webhooks
    }

    /// The base URL partners and services reach this server at (the OAuth issuer).
    pub fn public_base(&self) -> &str {
        &self.0.services.oauth.issuer
    }

    pub(crate) fn reach(&self) -> &crate::integrations::Reach {
        &self.0.services.reach
    }

    pub(crate) fn poll_lease(&self) -> std::time::Duration {
        self.0.services.poll_lease
    }

    pub(crate) fn sink(&self) -> &AuditSink {
        &self.0.services.sink
    }

    pub(crate) fn key_cache(&self) -> &key_cache::KeyCache {
        &self.0.services.keys
    }

    pub(crate) fn protection(&self) -> &protection::Protection {
        &self.0.services.protection
    }

    /// The one environment the caller works in, if any: a key's or an app's own, or the one
    /// a portal user chose (`X-Environment`). Every list and lookup keeps to it.
    pub(crate) fn environment(&self) -> Option<Environment> {
        self.principal().grant.rows.environment
    }

    /// Whether a record stored in environment `stored` is in the caller's environment.
    pub(crate) fn sees_environment(&self, stored: &str) -> bool {
        self.environment().is_none_or(|e| e.as_str() == stored)
    }

    /// Refuses to create a record (`field` names its environment) outside the caller's one
    /// environment: a portal user working in sandbox creates sandbox records only.
    pub(crate) fn within_environment(&self, field: &str, env: Environment) -> AppResult<()> {
        match self.environment() {
            Some(own) if own != env => Err(AppError::invalid(
                field,
                format!(
                    "the request works in {own} (X-Environment); switch to {env} to create this"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    pub(crate) fn logins(&self) -> &login_throttle::LoginThrottle {
        &self.0.services.logins
    }

    /// True for the first login attempt of this request only.
    pub(crate) fn first_login_attempt(&self) -> bool {
        !self
            .0
            .login_attempted
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn session_ttl(&self) -> chrono::Duration {
        self.0.services.session_ttl
    }

    fn reads(&self) -> std::sync::MutexGuard<'_, ReadDraft> {
        // A poisoned lock only means another resolver panicked mid-insert; the set is
        // still usable and losing audit data would be worse.
        self.0.reads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that these patients are answered; refused once the request (a whole batch)
    /// would return more than `MAX_ROWS_RETURNED` records.
    pub(crate) fn read_patients(&self, ids: impl ExactSizeIterator<Item = Uuid>) -> AppResult<()> {
        let mut reads = self.reads();
        reads.take_rows(ids.len())?;
        reads.patients.extend(ids);
        Ok(())
    }

    pub(crate) fn read_tests(&self, ids: impl ExactSizeIterator<Item = Uuid>) -> AppResult<()> {
        let mut reads = self.reads();
        reads.take_rows(ids.len())?;
        reads.tests.extend(ids);
        Ok(())
    }

    /// A patient written by this request's mutation whose answer selects its fields.
    pub(crate) fn answered_patient(&self, id: Uuid) {
        self.reads().answered_patients.push(id);
    }

    /// A test written by this request's mutation whose answer selects fields beyond its id.
    pub(crate) fn answered_test(&self, id: Uuid) {
        self.reads().answered_tests.push(id);
    }

    /// A list or count of `record_type` narrowed by these filter fields: a search, which
    /// discloses what matched even when no row is returned. Recorded with the filter fields
    /// used, `totalCount` for a count and `first:0` for an existence check. A page that
    /// found rows, narrowed only by where records belong (client, location, patient),
    /// discloses exactly the rows its READ records, and adds no search of its own.
    pub(crate) fn searched(
        &self,
        record_type: &'static str,
        mut fields: Vec<&'static str>,
        how: Search,
    ) {
        match how {
            Search::Count => fields.push("totalCount"),
            Search::Page { first: 0, .. } => fields.push("first:0"),
            Search::Page { found: true, .. } if fields.iter().all(|f| STRUCTURAL.contains(f)) => {
                return;
            }
            Search::Page { .. } => {}
        }
        if fields.is_empty() {
            return;
        }
        let mut reads = self.reads();
        match reads.searches.iter_mut().find(|(t, _)| *t == record_type) {
            Some((_, set)) => set.extend(fields),
            None => reads
                .searches
                .push((record_type, fields.into_iter().collect())),
        }
    }

    /// A refused attempt at records of `record_type`; `what` says what was tried. Its
    /// operation is the request's, set when the request ends (`finish`).
    pub(crate) fn denied(
        &self,
        record_type: &str,
        record_ids: impl Into<RecordIds>,
        what: Vec<String>,
    ) {
        let event = self.event("DENIED", "", record_type, record_ids, what);
        let mut reads = self.reads();
        if reads.denied.len() < DENIED_PER_REQUEST {
            reads.denied.push(event);
        }
    }

    /// A lookup, update or order aimed at a record that this credential cannot see: if the
    /// record exists (outside the credential's limits), the attempt is a security event.
    /// Asked on every miss, so a miss costs the same whether the record exists or not.
    pub(crate) async fn refused_target(&self, attempt: &str, target: Target, id: Uuid) {
        let db = self.store().conn();
        let everywhere = crate::domain::row_scope::RowScope::unrestricted();
        let exists = match target {
            Target::Patient => crate::store::patients::find(db, &everywhere, id)
                .await
                .map(|r| r.is_some()),
            Target::Test => crate::store::lab_tests::find(db, &everywhere, id)
                .await
                .map(|r| r.is_some()),
        };
        match exists {
            Ok(true) => self.denied(target.name(), vec![id], vec![attempt.to_owned()]),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = ?e, "could not check a refused target"),
        }
    }

    /// A `FORBIDDEN` this request was answered with: `what` names where and what was
    /// missing (`patients.0.email: patients.contact:read`).
    pub fn refused(&self, what: String) {
        let mut reads = self.reads();
        if reads.denied_fields.len() < DENIED_FIELDS_MAX {
            reads.denied_fields.insert(what);
        }
    }

    /// A patient field served (by the field guard, or for a cleared request by the plan),
    /// with what its declaration says it discloses.
    pub fn disclosed(&self, field: &str, disclosure: Disclosure) {
        if disclosure == Disclosure::None {
            return;
        }
        let mut reads = self.reads();
        reads.patient_data |= disclosure == Disclosure::Data;
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
        NewAuditEvent {
            occurred_at: Utc::now(),
            who: self.principal().who(),
            action: action.to_owned(),
            operation: operation.to_owned(),
            record_type: record_type.to_owned(),
            record_ids: record_ids.into(),
            fields,
            ip: self.0.ip.clone(),
            operation_name: None,
        }
    }

    /// Stores the request's reads in the audit trail. Called once, after execution and
    /// before the answer, which waits for the commit (`AuditSink::store`): an error means the
    /// reads are not recorded, and their data must not be sent. A request that read nothing
    /// does not wait. `operation` says what executed (`graphql::Executor::operation`);
    /// `operation_name` is the caller's label for it, kept beside it (bounded) and never
    /// instead of it.
    pub async fn finish(&self, operation: &str, operation_name: Option<&str>) -> AppResult<()> {
        self.submit_reads(operation, operation_name)?
            .committed()
            .await
    }

    /// `finish` without the wait: the reads are handed to the audit writer, and nothing of
    /// their data may be sent before the returned `Pending` says they are committed.
    pub fn submit_reads(
        &self,
        operation: &str,
        operation_name: Option<&str>,
    ) -> AppResult<crate::audit::Pending> {
        let mut draft = {
            let mut reads = self.reads();
            let rows = reads.rows;
            let draft = std::mem::take(&mut *reads);
            reads.rows = rows;
            draft
        };
        let mut events = Vec::new();
        if draft.patient_data {
            draft.patients.append(&mut draft.answered_patients);
        }
        draft.tests.append(&mut draft.answered_tests);
        for (record_type, fields) in draft.searches {
            events.push(self.event(
                "SEARCH",
                operation,
                record_type,
                Vec::<Uuid>::new(),
                fields.into_iter().map(str::to_owned).collect(),
            ));
        }
        if !draft.denied_fields.is_empty() {
            let event = self.event(
                "DENIED",
                operation,
                "request",
                Vec::<Uuid>::new(),
                draft.denied_fields.into_iter().collect(),
            );
            draft.denied.push(event);
        }
        if !draft.denied.is_empty() {
            for event in &mut draft.denied {
                operation.clone_into(&mut event.operation);
            }
            // Anonymous callers are told apart by their address.
            let actor = match self.principal().id() {
                None => format!("ip:{}", self.ip().unwrap_or("unknown")),
                Some(id) => id.to_string(),
            };
            let allowed = self.0.services.security.admit(&actor, draft.denied.len());
            events.extend(draft.denied.into_iter().take(allowed));
        }
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
        if self.store().is_rehearsal() && operation.starts_with("mutation") {
            // Its own changes were rolled back with it; this says that it was asked.
            events.push(self.event(
                "VALIDATE",
                operation,
                "request",
                Vec::<Uuid>::new(),
                Vec::new(),
            ));
        }
        if events.is_empty() {
            return Ok(crate::audit::Pending::none());
        }
        let label: Option<String> =
            operation_name.map(|n| n.chars().take(OPERATION_NAME_MAX).collect());
        for event in &mut events {
            event.operation_name.clone_from(&label);
        }
        self.sink().submit(events)
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn a_request_returns_at_most_its_budget_of_records() {
        let mut draft = ReadDraft::default();
        draft.take_rows(MAX_ROWS_RETURNED - 10).unwrap();
        draft.take_rows(10).unwrap();
        let refused = draft.take_rows(1).unwrap_err();
        assert_eq!(refused.code(), "QUERY_TOO_COMPLEX");
        assert_eq!(
            draft.rows, MAX_ROWS_RETURNED,
            "a refused read takes nothing"
        );
    }
}
