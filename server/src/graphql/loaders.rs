//! Batching of nested lookups, so a page of patients with their tests costs two queries, not
//! one per patient. Loaders are per request because what they may load depends on the caller.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{lab_test, patient};
use uuid::Uuid;

use crate::access::Access;

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

pub struct PatientLoader(Access);

impl Loader<Uuid> for PatientLoader {
    type Value = patient::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = self.0.patients().get_many(keys).await?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

pub struct TestsOfPatientLoader(Access);

impl Loader<Uuid> for TestsOfPatientLoader {
    type Value = Vec<lab_test::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = self.0.tests().of_patients(keys).await?;
        let mut by_patient: HashMap<Uuid, Vec<lab_test::Model>> = HashMap::new();
        for row in rows {
            by_patient.entry(row.patient_id).or_default().push(row);
        }
        Ok(by_patient)
    }
}
