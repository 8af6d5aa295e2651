//! Batching of nested lookups, so a page of patients with their tests costs two queries, not
//! one per patient. Loaders are per request because what they may load depends on the caller.
//!
//! Keys carry the columns the nested selection reads (`store::columns`); one batch may hold
//! several selections (aliases of the same field), each fetched by its own query.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{lab_test, patient};
use uuid::Uuid;

use crate::access::Access;
use crate::store::columns::Columns;

pub struct Loaders {
    pub patients: DataLoader<PatientLoader>,
    pub tests_of_patient: DataLoader<TestsOfPatientLoader>,
}

impl Loaders {
    pub fn new(access: Access) -> Self {
        Loaders {
            patients: DataLoader::new(PatientLoader(access.clone()), tokio::spawn),
            tests_of_patient: DataLoader::new(TestsOfPatientLoader(access), tokio::spawn),
        }
    }
}

/// A patient's id with the columns to read of it.
pub type PatientKey = (Uuid, Columns<patient::Entity>);

pub struct PatientLoader(Access);

impl Loader<PatientKey> for PatientLoader {
    type Value = patient::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PatientKey],
    ) -> Result<HashMap<PatientKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (columns, ids) in by_columns(keys) {
            let rows = self.0.patients().get_many(&ids, columns).await?;
            found.extend(rows.into_iter().map(|p| ((p.id, columns), p)));
        }
        Ok(found)
    }
}

/// A patient's id with the columns to read of each of its tests.
pub type TestsOfPatientKey = (Uuid, Columns<lab_test::Entity>);

pub struct TestsOfPatientLoader(Access);

impl Loader<TestsOfPatientKey> for TestsOfPatientLoader {
    type Value = Vec<lab_test::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TestsOfPatientKey],
    ) -> Result<HashMap<TestsOfPatientKey, Self::Value>, Self::Error> {
        let mut by_patient: HashMap<TestsOfPatientKey, Vec<lab_test::Model>> = HashMap::new();
        for (columns, ids) in by_columns(keys) {
            for row in self.0.tests().of_patients(&ids, columns).await? {
                by_patient
                    .entry((row.patient_id, columns))
                    .or_default()
                    .push(row);
            }
        }
        Ok(by_patient)
    }
}

/// The keys' ids grouped by the columns they ask for: one query per distinct selection.
fn by_columns<E>(keys: &[(Uuid, Columns<E>)]) -> HashMap<Columns<E>, Vec<Uuid>> {
    let mut groups: HashMap<Columns<E>, Vec<Uuid>> = HashMap::new();
    for (id, columns) in keys {
        groups.entry(*columns).or_default().push(*id);
    }
    groups
}
