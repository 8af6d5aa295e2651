//! Batch imports of patients, for the caller: starting one (the same checks as
//! `createPatient`: `patients:create`, a client and location within the credential's rows,
//! and the `:write` scope of every category a CSV's columns write, all before anything is
//! read from the upload), following it, cancelling it and reading its refused rows. A job is
//! seen by whoever started it and by settings administrators.

use chrono::Utc;
use entity::{import_job, import_refusal};
use uuid::Uuid;

use super::Access;
use crate::domain::patient_import::{CsvHeader, ImportAuthority, ImportFormat, ImportStatus};
use crate::domain::scope::Scope;
use crate::error::{AppError, AppResult};
use crate::imports::who_to_stored;
use crate::store::imports::{self, NewJob};
use crate::store::{Effects, Store};

/// Jobs per list at most.
pub const MAX_JOBS: u64 = 100;
/// Refused rows per page at most.
pub const MAX_REFUSALS: u64 = 1_000;

pub struct Imports<'a> {
    access: &'a Access,
}

/// An import to start.
pub struct StartImport {
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub format: ImportFormat,
    /// A CSV upload's header line.
    pub header: Option<String>,
    /// How long the upload may go without a chunk before it counts as interrupted.
    pub lease: std::time::Duration,
}

impl<'a> Imports<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Imports { access }
    }

    pub fn store(&self) -> &Store {
        self.access.store()
    }

    /// Checks the caller may import there, and opens the job to receive the upload.
    pub async fn start(&self, req: StartImport) -> AppResult<import_job::Model> {
        let p = self.access.principal();
        p.require(Scope::PatientsCreate)?;
        let header = match (req.format, &req.header) {
            (ImportFormat::Csv, Some(line)) => {
                let header = CsvHeader::parse(line)?;
                for category in header.categories() {
                    p.require(category.write_scope())?;
                }
                if header.has_tests() {
                    p.require(crate::domain::scope::Scope::TestsCreate)?;
                }
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            }
            (ImportFormat::Csv, None) => {
                return Err(AppError::invalid(
                    "header",
                    "a CSV upload starts with its header line",
                ));
            }
            _ => None,
        };
        let env = self
            .access
            .patients()
            .target(req.client_id, req.location_id)
            .await?;
        let authority = ImportAuthority {
            scopes: p.grant.scopes.clone(),
            locations: p.grant.rows.locations.clone(),
        };
        let id = Uuid::now_v7();
        let lease = chrono::Duration::from_std(req.lease).unwrap_or(chrono::Duration::seconds(30));
        let who = p.who();
        let new = NewJob {
            id,
            environment: env.as_str().into(),
            client_id: req.client_id,
            location_id: req.location_id,
            format: req.format.as_str().into(),
            actor_kind: who.kind.as_str().into(),
            actor_id: who.id,
            actor: who_to_stored(&who),
            authority: authority.to_stored(),
            ip: self.access.ip().map(str::to_owned),
            header,
            receiver: Uuid::now_v7(),
            lease_until: Utc::now() + lease,
        };
        let event = self.access.event(
            "CREATE",
            "importPatients",
            "import_job",
            vec![id],
            vec![req.format.as_str().into()],
        );
        let txn = self.store().begin_write().await?;
        let job = imports::create(&txn.txn, new).await?;
        txn.commit(Effects::audited(event)).await?;
        Ok(job)
    }

    /// Whether the caller may see the job: they started it, or they manage settings.
    fn sees(&self, job: &import_job::Model) -> bool {
        let p = self.access.principal();
        p.is_authenticated()
            && self.access.sees_environment(&job.environment)
            && (p.require_settings_admin().is_ok()
                || (job.actor_id.is_some() && job.actor_id == p.id()))
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<import_job::Model>> {
        self.access.principal().authenticated()?;
        Ok(imports::find(self.store().conn(), id)
            .await?
            .filter(|job| self.sees(job)))
    }

    /// Newest first: the caller's own, or every job for a settings administrator.
    pub async fn list(&self, first: u64) -> AppResult<Vec<import_job::Model>> {
        let p = self.access.principal();
        p.authenticated()?;
        let own = match p.require_settings_admin() {
            Ok(()) => None,
            Err(_) => Some(p.id().ok_or(AppError::NotFound("import job"))?),
        };
        let env = self.access.environment();
        imports::list(self.store().conn(), own, env, first.min(MAX_JOBS)).await
    }

    /// Stops a job that has not ended; what it imported stays. Audited.
    pub async fn cancel(&self, id: Uuid) -> AppResult<import_job::Model> {
        let job = self
            .get(id)
            .await?
            .ok_or(AppError::NotFound("import job"))?;
        let status = ImportStatus::from(&job);
        if status.is_finished() {
            return Err(AppError::Conflict(format!(
                "the import has ended ({status}); there is nothing to cancel"
            )));
        }
        if !imports::end(self.store(), id, ImportStatus::Cancelled, None).await? {
            return Err(AppError::Conflict(
                "the import ended meanwhile; there is nothing to cancel".into(),
            ));
        }
        let event = self.access.event(
            "UPDATE",
            "cancelImportJob",
            "import_job",
            vec![id],
            vec!["status".into()],
        );
        self.store().insert_audit_events(&[event]).await?;
        imports::find(self.store().conn(), id)
            .await?
            .ok_or(AppError::NotFound("import job"))
    }

    /// A job's refused rows after line `after`, in line order.
    pub async fn refusals(
        &self,
        job: &import_job::Model,
        after: i32,
        first: u64,
    ) -> AppResult<Vec<import_refusal::Model>> {
        if !self.sees(job) {
            return Err(AppError::NotFound("import job"));
        }
        imports::refusals(self.store().conn(), job.id, after, first.min(MAX_REFUSALS)).await
    }
}
