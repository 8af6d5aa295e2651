use chrono::{DateTime, Utc};
use entity::lab_test::{Entity, Model};
use uuid::Uuid;

use super::{Access, Search, Target};
use crate::domain::lab_result::ResultLine;
use crate::domain::lab_test::TestStatus;
use crate::domain::scope::Scope;
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::{AppError, AppResult, parse_stored};
use crate::store::columns::{Columns, Projected};
use crate::store::lab_tests::{self as tests, NewTest, TestFilter, TestPatch};
use crate::store::page::{Page, PageRequest};
use crate::store::patients;
use crate::store::{Effect, Effects};

pub struct Tests<'a> {
    access: &'a Access,
}

pub struct CreateTest {
    pub patient_id: Uuid,
    pub test_code: String,
    pub test_name: String,
    pub accession_number: String,
    pub ordered_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ChangeTest {
    pub status: Option<TestStatus>,
    pub results: Option<Vec<ResultLine>>,
    pub collected_at: Option<DateTime<Utc>>,
}

impl<'a> Tests<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Tests { access }
    }

    fn require(&self, scope: Scope) -> AppResult<()> {
        self.access.principal().require(scope)
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<Model>> {
        self.require(Scope::TestsRead)?;
        let row = tests::find(
            self.access.store().conn(),
            &self.access.principal().grant.rows,
            id,
        )
        .await?;
        if row.is_none() {
            self.access.refused_target("test", Target::Test, id).await;
        }
        self.access.read_tests(row.iter().map(|t| t.id))?;
        Ok(row)
    }

    /// `columns`: what the caller will read of each row (see `store::columns`).
    pub async fn list(
        &self,
        filter: &TestFilter,
        page: PageRequest,
        columns: Columns<Entity>,
    ) -> AppResult<Page<Projected<Entity>>> {
        // Every test filter reads a test field, which `tests:read` covers.
        self.require(Scope::TestsRead)?;
        let first = page.first;
        let page = tests::list(
            self.access.store().conn(),
            &self.access.principal().grant.rows,
            filter,
            page,
            columns,
        )
        .await?;
        self.access.read_tests(page.items.iter().map(|t| t.id()))?;
        let found = !page.items.is_empty();
        self.access
            .searched("test", filter_fields(filter), Search::Page { first, found });
        Ok(page)
    }

    pub async fn count(&self, filter: &TestFilter) -> AppResult<u64> {
        self.require(Scope::TestsRead)?;
        self.access
            .searched("test", filter_fields(filter), Search::Count);
        tests::count(
            self.access.store().conn(),
            &self.access.principal().grant.rows,
            filter,
        )
        .await
    }

    pub async fn of_patients(
        &self,
        patient_ids: &[Uuid],
        columns: Columns<Entity>,
    ) -> AppResult<Vec<Projected<Entity>>> {
        self.require(Scope::TestsRead)?;
        let rows = tests::for_patients(
            self.access.store().conn(),
            &self.access.principal().grant.rows,
            patient_ids,
            columns,
        )
        .await?;
        self.access.read_tests(rows.iter().map(|t| t.id()))?;
        Ok(rows)
    }

    pub async fn create(&self, req: CreateTest) -> AppResult<Model> {
        self.require(Scope::TestsCreate)?;
        let store = self.access.store();
        let p = self.access.principal();
        // The patient must be visible to the caller: a test cannot be attached to a patient
        // outside the credential's clients or locations. Read before the write, not in its
        // transaction: a patient's client and location never change and patients are never
        // deleted, so what this read decides still holds at the insert (whose foreign key
        // refuses a missing patient regardless).
        if req.ordered_at.is_some_and(|at| at > Utc::now()) {
            return Err(AppError::invalid(
                "input.orderedAt",
                "must not be in the future",
            ));
        }
        let Some(patient) = patients::find(store.conn(), &p.grant.rows, req.patient_id).await?
        else {
            self.access
                .refused_target("createTest", Target::Patient, req.patient_id)
                .await;
            return Err(AppError::invalid("input.patientId", "no such patient"));
        };
        let (id, row) = tests::new_row(NewTest {
            patient_id: patient.id,
            client_id: patient.client_id,
            location_id: patient.location_id,
            test_code: req.test_code,
            test_name: req.test_name,
            accession_number: req.accession_number,
            ordered_at: req.ordered_at.unwrap_or_else(Utc::now),
        });
        let created = NewEvent::about(
            EventType::TestCreated,
            "test",
            id,
            patient.client_id,
            patient.location_id,
            vec![],
        );
        let event = self
            .access
            .event("CREATE", "createTest", "test", vec![id], vec![]);
        // A reused accession number is `AppError::Duplicate(Unique::TestAccession)`, which
        // says so to the caller.
        store
            .insert(row, Effects::audited(event).and(Effect::Webhook(created)))
            .await
    }

    pub async fn update(&self, id: Uuid, change: ChangeTest) -> AppResult<Model> {
        self.require(Scope::TestsUpdate)?;
        if change.status.is_none() && change.results.is_none() && change.collected_at.is_none() {
            return Err(AppError::invalid("input", "names no field to change"));
        }
        let store = self.access.store();
        let p = self.access.principal();
        let txn = store.begin_write().await?;
        let Some(current) = tests::find(&txn.txn, &p.grant.rows, id).await? else {
            drop(txn);
            self.access
                .refused_target("updateTest", Target::Test, id)
                .await;
            return Err(AppError::NotFound("test"));
        };
        let from: TestStatus = parse_stored(&current.status)?;
        let now = Utc::now();
        if from.is_final() {
            return final_unchanged(from, &change).map(|()| current);
        }
        if let Some(at) = change.collected_at
            && (at < current.ordered_at || at > now)
        {
            return Err(AppError::invalid(
                "input.collectedAt",
                "must be between the order time and now",
            ));
        }
        let mut patch = TestPatch::default();
        let mut fields = Vec::new();
        if let Some(to) = change.status {
            if !from.can_become(to) {
                return Err(AppError::invalid(
                    "input.status",
                    format!("a test cannot go from {} to {}", from.as_str(), to.as_str()),
                ));
            }
            if to != from {
                patch.status = Some(to);
                match to {
                    TestStatus::Collected if current.collected_at.is_none() => {
                        patch.collected_at = Some(change.collected_at.unwrap_or(now));
                    }
                    TestStatus::Resulted => patch.resulted_at = Some(now),
                    TestStatus::Cancelled => patch.cancelled_at = Some(now),
                    _ => {}
                }
            }
            fields.push("status".to_owned());
        }
        if let Some(at) = change.collected_at {
            patch.collected_at = Some(at);
            fields.push("collectedAt".to_owned());
        }
        if let Some(results) = change.results {
            patch.results =
                Some(serde_json::to_string(&results).map_err(|e| AppError::Internal(e.into()))?);
            fields.push("results".to_owned());
        }
        let resulted = patch.status == Some(TestStatus::Resulted);
        let updated = tests::update(&txn.txn, current, patch).await?;
        let about = |event_type| {
            Effect::Webhook(NewEvent::about(
                event_type,
                "test",
                updated.id,
                updated.client_id,
                updated.location_id,
                fields.clone(),
            ))
        };
        let mut effects = Effects::audited(self.access.event(
            "UPDATE",
            "updateTest",
            "test",
            vec![updated.id],
            fields.clone(),
        ))
        .and(about(EventType::TestUpdated));
        if resulted {
            effects = effects.and(about(EventType::TestResulted));
        }
        txn.commit(effects).await?;
        Ok(updated)
    }
}

/// A final test changes no more: the same status again (a retried update) is answered with
/// the test as it is, without a write; anything else is refused.
fn final_unchanged(from: TestStatus, change: &ChangeTest) -> AppResult<()> {
    let (field, message) = if change.results.is_some() {
        (
            "input.results",
            format!("results of a {} test cannot be changed", from.as_str()),
        )
    } else if change.collected_at.is_some() {
        (
            "input.collectedAt",
            format!("a {} test cannot be changed", from.as_str()),
        )
    } else {
        match change.status {
            Some(to) if to != from => (
                "input.status",
                format!("a test cannot go from {} to {}", from.as_str(), to.as_str()),
            ),
            _ => return Ok(()),
        }
    };
    Err(AppError::invalid(field, message))
}

/// The GraphQL names of the filter fields a search uses, for its audit event.
fn filter_fields(f: &TestFilter) -> Vec<&'static str> {
    [
        (f.client_id.is_some(), "clientId"),
        (f.location_id.is_some(), "locationId"),
        (f.patient_id.is_some(), "patientId"),
        (f.status.is_some(), "status"),
        (f.accession_number.is_some(), "accessionNumber"),
        (f.ordered_from.is_some(), "orderedFrom"),
        (f.ordered_to.is_some(), "orderedTo"),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect()
}
