//! Batching of nested lookups, so a page of patients with their tests costs two queries, not
//! one per patient. Loaders are per request because what they may load depends on the caller.
//!
//! Keys carry the columns the nested selection reads (`store::columns`); one batch may hold
//! several selections (aliases of the same field), each fetched by its own query.
//!
//! A page of patients whose `tests` are selected reads them ahead, in the same single query
//! (`prefetch_tests`). Why: going through the loader costs every patient of the page a key
//! set, a one-shot channel, a copy of its tests and a batching timer for the first — a
//! measurable share of Q1's CPU (docs/benchmarks-history.md) — for a batch that is known when
//! the page is read.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{lab_test, patient};
use uuid::Uuid;

use crate::access::Access;
use crate::error::AppResult;
use crate::store::columns::{Columns, Projected};

pub struct Loaders {
    pub patients: DataLoader<PatientLoader>,
    pub tests_of_patient: DataLoader<TestsOfPatientLoader>,
    /// Tests read ahead for a page of patients, each patient's taken by its `tests` fields,
    /// with how many fields are still to take them.
    prefetched_tests: Mutex<HashMap<TestsOfPatientKey, Prefetched>>,
}

impl Loaders {
    pub fn new(access: Access) -> Self {
        Loaders {
            patients: DataLoader::new(PatientLoader(access.clone()), tokio::spawn),
            tests_of_patient: DataLoader::new(TestsOfPatientLoader(access), tokio::spawn),
            prefetched_tests: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the tests of `patient_ids` with `columns` in one query, for the `fields` `tests`
    /// fields of each patient selecting them (`nodes` and `edges { node }` may both) to take
    /// (`take_tests`). Only for fields certain to be resolved, so that the audit records no
    /// read that was not served: the caller checks that the request is cleared.
    pub async fn prefetch_tests(
        &self,
        access: &Access,
        patient_ids: &[Uuid],
        columns: Columns<lab_test::Entity>,
        fields: usize,
    ) -> AppResult<()> {
        let mut found = by_patient(
            access.tests().of_patients(patient_ids, columns).await?,
            columns,
        );
        // Every patient gets an entry, those without tests too: none of them goes back to
        // the loader for a second query.
        let entries = patient_ids.iter().map(|id| {
            let key = (*id, columns);
            let tests = found.remove(&key).unwrap_or_default();
            (key, Prefetched { tests, fields })
        });
        self.prefetched().extend(entries);
        Ok(())
    }

    /// The tests read ahead for this patient and selection: a copy while other fields are
    /// still to take them, the list itself for the last. `None` sends the field to the loader.
    pub fn take_tests(&self, key: &TestsOfPatientKey) -> Option<Vec<Projected<lab_test::Entity>>> {
        let mut prefetched = self.prefetched();
        let entry = prefetched.get_mut(key)?;
        if entry.fields > 1 {
            entry.fields -= 1;
            return Some(entry.tests.clone());
        }
        prefetched.remove(key).map(|entry| entry.tests)
    }

    fn prefetched(&self) -> MutexGuard<'_, HashMap<TestsOfPatientKey, Prefetched>> {
        // Poisoned only if a resolver panicked while holding it; the map is still whole.
        self.prefetched_tests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

struct Prefetched {
    tests: Vec<Projected<lab_test::Entity>>,
    /// `tests` fields still to take them.
    fields: usize,
}

/// A patient's id with the columns to read of it.
pub type PatientKey = (Uuid, Columns<patient::Entity>);

pub struct PatientLoader(Access);

impl Loader<PatientKey> for PatientLoader {
    type Value = Projected<patient::Entity>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PatientKey],
    ) -> Result<HashMap<PatientKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (columns, ids) in by_columns(keys) {
            let rows = self.0.patients().get_many(&ids, columns).await?;
            found.extend(rows.into_iter().map(|p| ((p.id(), columns), p)));
        }
        Ok(found)
    }
}

/// A patient's id with the columns to read of each of its tests.
pub type TestsOfPatientKey = (Uuid, Columns<lab_test::Entity>);

pub struct TestsOfPatientLoader(Access);

impl Loader<TestsOfPatientKey> for TestsOfPatientLoader {
    type Value = Vec<Projected<lab_test::Entity>>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TestsOfPatientKey],
    ) -> Result<HashMap<TestsOfPatientKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (columns, ids) in by_columns(keys) {
            found.extend(by_patient(
                self.0.tests().of_patients(&ids, columns).await?,
                columns,
            ));
        }
        Ok(found)
    }
}

/// Tests read with `columns`, under their patient's key.
fn by_patient(
    rows: Vec<Projected<lab_test::Entity>>,
    columns: Columns<lab_test::Entity>,
) -> HashMap<TestsOfPatientKey, Vec<Projected<lab_test::Entity>>> {
    let mut grouped: HashMap<TestsOfPatientKey, Vec<Projected<lab_test::Entity>>> = HashMap::new();
    for row in rows {
        // Every read of tests fetches the patient id (`Test::columns`' keys).
        let Some(patient_id) = row
            .with(&[lab_test::Column::PatientId])
            .map(|t| t.patient_id)
        else {
            tracing::error!("tests were read without their patient ids");
            continue;
        };
        grouped.entry((patient_id, columns)).or_default().push(row);
    }
    grouped
}

/// The keys' ids grouped by the columns they ask for: one query per distinct selection.
fn by_columns<E>(keys: &[(Uuid, Columns<E>)]) -> HashMap<Columns<E>, Vec<Uuid>> {
    let mut groups: HashMap<Columns<E>, Vec<Uuid>> = HashMap::new();
    for (id, columns) in keys {
        groups.entry(*columns).or_default().push(*id);
    }
    groups
}
