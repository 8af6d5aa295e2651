//! The audit trail for settings administrators: searching it, exporting it (the export is
//! itself recorded) and proving it untampered (`store::audit_chain`).

use entity::audit_event;
use uuid::Uuid;

use super::Access;
use crate::audit::export::{self, Format};
use crate::error::AppResult;
use crate::store::audit::{self, AuditFilter};
use crate::store::audit_chain::{self, Verification};
use crate::store::page::{Page, PageRequest};
use crate::store::{api_keys, partner_apps, patients, service_connections};

/// Events in one export at most: beyond it, narrow the filter (the answer says so).
pub const MAX_EXPORTED: usize = 100_000;

/// A search of the audit trail: the stored filter, and a patient's external id to turn into
/// the patients' ids first.
#[derive(Clone, Debug, Default)]
pub struct AuditSearch {
    pub filter: AuditFilter,
    pub external_patient_id: Option<String>,
}

impl AuditSearch {
    /// The filters this search uses, by their API names (what an export records).
    fn used(&self) -> Vec<String> {
        let f = &self.filter;
        [
            ("actorId", f.actor_id.is_some()),
            ("action", f.action.is_some()),
            ("recordType", f.record_type.is_some()),
            ("recordId", f.record_ids.is_some()),
            ("externalPatientId", self.external_patient_id.is_some()),
            ("occurredFrom", f.occurred_from.is_some()),
            ("occurredTo", f.occurred_to.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

pub struct AuditTrail<'a> {
    access: &'a Access,
}

impl<'a> AuditTrail<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        AuditTrail { access }
    }

    /// A page of the events `search` finds, newest first.
    pub async fn events(
        &self,
        search: &AuditSearch,
        page: PageRequest,
    ) -> AppResult<Page<audit_event::Model>> {
        let filter = self.filter(search).await?;
        self.access.sink().settled().await;
        audit::list(self.access.store().conn(), &filter, page).await
    }

    /// Every event `search` finds (at most `MAX_EXPORTED`) as one CSV or NDJSON document,
    /// newest first. The export is recorded with the filters it used.
    pub async fn export(&self, search: &AuditSearch, format: Format) -> AppResult<String> {
        let filter = self.filter(search).await?;
        self.access.sink().settled().await;
        let mut body = export::header(format);
        audit::each(
            self.access.store().conn(),
            &filter,
            Some(MAX_EXPORTED),
            |event| export::line(format, event, &mut body),
        )
        .await?;
        let event = self.access.event(
            "EXPORT",
            "audit export",
            "audit_event",
            Vec::<Uuid>::new(),
            search.used(),
        );
        self.access.store().insert_audit_events(&[event]).await?;
        Ok(body)
    }

    /// Walks the hash chain of the whole trail, recomputing every hash.
    pub async fn verify(&self) -> AppResult<Verification> {
        self.access.principal().require_settings_admin()?;
        self.access.sink().settled().await;
        Ok(audit_chain::verify(self.access.store().conn()).await?)
    }

    /// The stored filter of a search, for an administrator: a patient's external id becomes
    /// the patients' ids. (Every answered read is in the trail once the read-audit writer has
    /// settled: `AuditSink::settled`.)
    /// Working in one environment (`X-Environment`), what the other environment's keys, apps
    /// and service connections did is left out; portal users' own events show in both.
    async fn filter(&self, search: &AuditSearch) -> AppResult<AuditFilter> {
        self.access.principal().require_settings_admin()?;
        let mut filter = search.filter.clone();
        if self.access.environment().is_some() {
            let db = self.access.store().conn();
            let seen = |env: &str| self.access.sees_environment(env);
            let keys = api_keys::list(db, true).await?;
            let apps = partner_apps::list(db).await?;
            let services = service_connections::list(db).await?;
            filter.hidden_actors = keys
                .iter()
                .filter(|k| !seen(&k.environment))
                .map(|k| k.id)
                .chain(apps.iter().filter(|a| !seen(&a.environment)).map(|a| a.id))
                .chain(
                    services
                        .iter()
                        .filter(|c| !seen(&c.environment))
                        .map(|c| c.id),
                )
                .map(|id| id.to_string())
                .collect();
        }
        if let Some(external) = &search.external_patient_id {
            // Administrators see every client: the patients of any client with this id.
            let db = self.access.store().conn();
            let ids: Vec<String> = patients::ids_by_external_id(db, external)
                .await?
                .into_iter()
                .map(|id| id.to_string())
                .collect();
            filter.record_ids = Some(match filter.record_ids.take() {
                // Both given: the events about that record, if it is one of these patients.
                Some(given) => given.into_iter().filter(|id| ids.contains(id)).collect(),
                None => ids,
            });
        }
        Ok(filter)
    }
}
