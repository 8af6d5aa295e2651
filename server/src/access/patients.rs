use entity::patient::{Entity, Model};
use uuid::Uuid;

use super::{Access, Search, Target};
use crate::domain::environment::Environment;
use crate::domain::patient::{AccountDecision, AccountStatus, PatientWrite, next_account};
use crate::domain::scope::Scope;
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::{AppError, AppResult, Unique, parse_stored};
use crate::store::clients;
use crate::store::columns::{Columns, Projected};
use crate::store::page::{Page, PageRequest};
use crate::store::patients::{self, NewPatient, PatientFilter};
use crate::store::{Effect, Effects};

pub struct Patients<'a> {
    access: &'a Access,
}

/// A patient as the caller asked to create it, with values already validated.
pub struct CreatePatient {
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub write: PatientWrite,
}

impl<'a> Patients<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Patients { access }
    }

    fn require(&self, scope: Scope) -> AppResult<()> {
        self.access.principal().require(scope)
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<Model>> {
        self.require(Scope::PatientsRead)?;
        let p = self.access.principal();
        let row = patients::find(self.access.store().conn(), &p.grant.rows, id).await?;
        if row.is_none() {
            self.access
                .refused_target("patient", Target::Patient, id)
                .await;
        }
        self.access.read_patients(row.iter().map(|r| r.id))?;
        Ok(row)
    }

    /// `columns`: what the caller will read of each row (see `store::columns`).
    pub async fn get_many(
        &self,
        ids: &[Uuid],
        columns: Columns<Entity>,
    ) -> AppResult<Vec<Projected<Entity>>> {
        self.require(Scope::PatientsRead)?;
        let p = self.access.principal();
        let rows =
            patients::find_many(self.access.store().conn(), &p.grant.rows, ids, columns).await?;
        self.access.read_patients(rows.iter().map(|r| r.id()))?;
        Ok(rows)
    }

    /// A filter on a field reads that field: it needs the field's read scope, checked before
    /// any query runs. The search is audited once it ran (`Access::searched`).
    fn may_search(&self, filter: &PatientFilter) -> AppResult<()> {
        self.require(Scope::PatientsRead)?;
        if filter.name.is_some() {
            self.require(Scope::DemographicsRead)?;
        }
        Ok(())
    }

    pub async fn list(
        &self,
        filter: &PatientFilter,
        page: PageRequest,
        columns: Columns<Entity>,
    ) -> AppResult<Page<Projected<Entity>>> {
        self.may_search(filter)?;
        let first = page.first;
        let p = self.access.principal();
        let page = patients::list(
            self.access.store().conn(),
            &p.grant.rows,
            filter,
            page,
            columns,
        )
        .await?;
        self.access
            .read_patients(page.items.iter().map(|r| r.id()))?;
        let found = !page.items.is_empty();
        self.access.searched(
            "patient",
            filter_fields(filter),
            Search::Page { first, found },
        );
        Ok(page)
    }

    pub async fn count(&self, filter: &PatientFilter) -> AppResult<u64> {
        self.may_search(filter)?;
        self.access
            .searched("patient", filter_fields(filter), Search::Count);
        patients::count(
            self.access.store().conn(),
            &self.access.principal().grant.rows,
            filter,
        )
        .await
    }

    /// Every category a write touches needs its `:write` scope; checked before anything is
    /// written so that a partial write cannot happen.
    fn require_category_writes(&self, write: &PatientWrite) -> AppResult<()> {
        for category in write.categories() {
            self.require(category.write_scope())?;
        }
        Ok(())
    }

    /// The existing patient's id, if the caller would be allowed to see that patient.
    fn visible_id(&self, existing: &Model, env: Environment) -> Option<Uuid> {
        let p = self.access.principal();
        (p.grant.scopes.contains(Scope::PatientsRead)
            && p.grant
                .rows
                .allows(existing.client_id, existing.location_id, env))
        .then_some(existing.id)
    }

    /// The environment of the client and location a new patient goes to. Ids outside the
    /// credential's limits get the same answer as ids that do not exist, after the same
    /// queries, so neither the answer nor its timing tells which clients exist; the attempt
    /// is recorded as a security event.
    pub(super) async fn target(
        &self,
        client_id: Uuid,
        location_id: Uuid,
    ) -> AppResult<Environment> {
        let db = self.access.store().conn();
        let rows = &self.access.principal().grant.rows;
        let located = match clients::location_environment(db, client_id, location_id).await? {
            Some(env) => Some(parse_stored::<Environment>(&env)?),
            None => None,
        };
        if let Some(env) = located
            && rows.allows(client_id, location_id, env)
        {
            return Ok(env);
        }
        let client = match clients::find_client(db, client_id).await? {
            Some(c) => Some(parse_stored::<Environment>(&c.environment)?),
            None => None,
        };
        let client_visible = client.is_some_and(|env| rows.allows_client(client_id, env));
        if located.is_some() || client.is_some() {
            self.access.denied(
                "location",
                vec![client_id, location_id],
                vec!["createPatient".into()],
            );
        }
        Err(if client_visible {
            AppError::invalid("input.locationId", "no such location for this client")
        } else {
            AppError::invalid("input.clientId", "no such client")
        })
    }

    async fn client_environment(&self, client_id: Uuid, field: &str) -> AppResult<Environment> {
        let client = clients::find_client(self.access.store().conn(), client_id)
            .await?
            .ok_or_else(|| AppError::invalid(field, "no such client"))?;
        parse_stored(&client.environment)
    }

    pub async fn create(&self, req: CreatePatient) -> AppResult<(Model, AccountDecision)> {
        self.require(Scope::PatientsCreate)?;
        self.require_category_writes(&req.write)?;
        let store = self.access.store();
        let env = self.target(req.client_id, req.location_id).await?;
        let external = req.write.external_patient_id.clone().flatten();
        let fields = req.write.field_names();
        let (new, decision) = new_patient(req.client_id, req.location_id, req.write);
        let (id, row) = patients::new_row(new);
        let created = NewEvent::about(
            EventType::PatientCreated,
            "patient",
            id,
            req.client_id,
            req.location_id,
            fields.clone(),
        );
        let event = self
            .access
            .event("CREATE", "createPatient", "patient", vec![id], fields);
        let effects = Effects::audited(event).and(Effect::Webhook(created));
        let patient = match store.insert(row, effects).await {
            Ok(patient) => patient,
            Err(AppError::Duplicate(Unique::PatientExternalId)) => {
                return Err(self
                    .duplicate(req.client_id, external.as_deref(), env)
                    .await);
            }
            Err(other) => return Err(other),
        };
        Ok((patient, decision))
    }

    async fn duplicate(
        &self,
        client_id: Uuid,
        external: Option<&str>,
        env: Environment,
    ) -> AppError {
        let Some(external) = external else {
            return AppError::Conflict("the patient conflicts with an existing one".into());
        };
        match patients::find_by_external_id(self.access.store().conn(), client_id, external).await {
            Ok(Some(existing)) => AppError::DuplicatePatient {
                existing_id: self.visible_id(&existing, env),
            },
            Ok(None) => AppError::Conflict("the patient conflicts with an existing one".into()),
            Err(e) => e,
        }
    }

    pub async fn update(
        &self,
        id: Uuid,
        write: PatientWrite,
    ) -> AppResult<(Model, AccountDecision)> {
        self.require(Scope::PatientsUpdate)?;
        if write.field_names().is_empty() {
            return Err(AppError::invalid("input", "names no field to change"));
        }
        self.require_category_writes(&write)?;
        let store = self.access.store();
        let p = self.access.principal();
        let txn = store.begin_write().await?;
        let Some(current) = patients::find(&txn.txn, &p.grant.rows, id).await? else {
            drop(txn);
            self.access
                .refused_target("updatePatient", Target::Patient, id)
                .await;
            return Err(AppError::NotFound("patient"));
        };
        let client_id = current.client_id;
        let email = match &write.email {
            Some(new) => new.clone(),
            None => current.email.clone(),
        };
        let account = next_account(
            AccountStatus::from_stored(&current.account_status),
            email.as_deref(),
        );
        let fields = write.field_names();
        let external = write.external_patient_id.clone().flatten();
        let updated = match patients::update(&txn.txn, current, write, account).await {
            Ok(model) => model,
            Err(AppError::Duplicate(Unique::PatientExternalId)) => {
                drop(txn);
                let env = self.client_environment(client_id, "id").await?;
                return Err(self.duplicate(client_id, external.as_deref(), env).await);
            }
            Err(other) => return Err(other),
        };
        let changed = NewEvent::about(
            EventType::PatientUpdated,
            "patient",
            updated.id,
            updated.client_id,
            updated.location_id,
            fields.clone(),
        );
        let event = self.access.event(
            "UPDATE",
            "updatePatient",
            "patient",
            vec![updated.id],
            fields,
        );
        txn.commit(Effects::audited(event).and(Effect::Webhook(changed)))
            .await?;
        let decision = AccountDecision::for_email(updated.email.as_deref());
        Ok((updated, decision))
    }
}

/// The GraphQL names of the filter fields a search uses, for its audit event.
fn filter_fields(f: &PatientFilter) -> Vec<&'static str> {
    [
        (f.client_id.is_some(), "clientId"),
        (f.location_id.is_some(), "locationId"),
        (f.external_patient_id.is_some(), "externalPatientId"),
        (f.name.is_some(), "name"),
        (f.created_from.is_some(), "createdFrom"),
        (f.created_to.is_some(), "createdTo"),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect()
}

/// The patient a validated create makes, and whether it gets an account: the same for
/// `createPatient` and each row of an import.
pub fn new_patient(
    client_id: Uuid,
    location_id: Uuid,
    w: PatientWrite,
) -> (NewPatient, AccountDecision) {
    let email = w.email.flatten();
    let decision = AccountDecision::for_email(email.as_deref());
    let new = NewPatient {
        client_id,
        location_id,
        external_patient_id: w.external_patient_id.flatten(),
        first_name: w.first_name.flatten(),
        last_name: w.last_name.flatten(),
        date_of_birth: w.date_of_birth.flatten(),
        sex: w.sex.flatten(),
        email,
        phone: w.phone.flatten(),
        address: w.address.flatten(),
        diagnoses: w.diagnoses.unwrap_or_default(),
        medications: w.medications.unwrap_or_default(),
        insurance: w.insurance.flatten(),
        billing_account: w.billing_account.flatten(),
        account_status: decision.status(),
        account_reason: decision.reason(),
    };
    (new, decision)
}
