//! Batch imports of patients: starting one from a list (files are uploaded to
//! `POST /imports/patients`), following jobs, cancelling one.

use async_graphql::{Context, ID, InputObject, Object};

use super::ContextExt;
use super::ids::parse_id;
use super::types::imports::ImportJob;
use crate::access::imports::StartImport;
use crate::domain::patient::Sex;
use crate::domain::patient_import::{ImportFormat, JsonRow, JsonTest, LIST_MAX_ROWS};
use crate::error::AppError;
use crate::imports::upload::Receiver;

type R<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    /// Import jobs, newest first: those the caller started (every one for a settings
    /// administrator).
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many, at most 100.")] first: i32,
    ) -> R<Vec<ImportJob>> {
        let first = u64::try_from(first).unwrap_or(0);
        let jobs = ctx.access()?.imports().list(first).await?;
        Ok(jobs.into_iter().map(ImportJob).collect())
    }

    /// One import job (one the caller started, or any for a settings administrator).
    async fn import_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: ID,
    ) -> R<Option<ImportJob>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.imports().get(id).await?.map(ImportJob))
    }
}

/// One patient of an import: the fields of `CreatePatientInput` but the client, checked the
/// same way.
#[derive(InputObject)]
pub struct ImportPatientRow {
    /// Another location of the job's client (else the job's).
    pub location_id: Option<ID>,
    /// Unique within the client: a row whose id the client already has is a duplicate.
    pub external_patient_id: Option<String>,
    /// Needs `patients.demographics:write`.
    pub first_name: Option<String>,
    /// Needs `patients.demographics:write`.
    pub last_name: Option<String>,
    /// Needs `patients.demographics:write`.
    pub date_of_birth: Option<chrono::NaiveDate>,
    /// Needs `patients.demographics:write`.
    pub sex: Option<Sex>,
    /// Needs `patients.contact:write`.
    pub email: Option<String>,
    /// Needs `patients.contact:write`.
    pub phone: Option<String>,
    /// Needs `patients.contact:write`.
    pub address: Option<String>,
    /// Needs `patients.clinical:write`.
    pub diagnoses: Option<Vec<String>>,
    /// Needs `patients.clinical:write`.
    pub medications: Option<Vec<String>>,
    /// Needs `patients.billing:write`.
    pub insurance: Option<String>,
    /// Needs `patients.billing:write`.
    pub billing_account: Option<String>,
    /// Tests ordered for the patient (at most 50), created with it: needs `tests:create`.
    /// An accession number the client already uses refuses the whole row (DUPLICATE_TEST).
    pub tests: Option<Vec<ImportTestRow>>,
}

/// A test ordered for an imported patient: the fields of `CreateTestInput` but the patient
/// (the row's) and the order time (the import's).
#[derive(InputObject)]
pub struct ImportTestRow {
    /// The test's code in the lab's catalogue.
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// Unique within the client.
    pub accession_number: String,
}

impl From<ImportPatientRow> for JsonRow {
    fn from(r: ImportPatientRow) -> Self {
        JsonRow {
            location_id: r.location_id.map(|id| id.to_string()),
            external_patient_id: r.external_patient_id,
            first_name: r.first_name,
            last_name: r.last_name,
            date_of_birth: r.date_of_birth.map(|d| d.to_string()),
            sex: r.sex.map(|s| s.as_str().to_owned()),
            email: r.email,
            phone: r.phone,
            address: r.address,
            diagnoses: r.diagnoses,
            medications: r.medications,
            insurance: r.insurance,
            billing_account: r.billing_account,
            tests: r.tests.map(|tests| {
                tests
                    .into_iter()
                    .map(|t| JsonTest {
                        test_code: Some(t.test_code),
                        test_name: Some(t.test_name),
                        accession_number: Some(t.accession_number),
                    })
                    .collect()
            }),
        }
    }
}

/// Patients to import.
#[derive(InputObject)]
pub struct ImportPatientsInput {
    /// The client they go to; must be within the credential's clients.
    pub client_id: ID,
    /// Their location (a row may name another of the client's).
    pub location_id: ID,
    /// At most 1,000 rows; upload larger imports as a file to `POST /imports/patients`.
    pub patients: Vec<ImportPatientRow>,
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Starts importing patients as a job: answered at once, the job then runs in the
    /// background (follow it with `importJob`). Each row is checked as `createPatient` checks
    /// one; a refused row does not stop the others.
    async fn import_patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patients and where they go.")] input: ImportPatientsInput,
    ) -> R<Option<ImportJob>> {
        if input.patients.len() > LIST_MAX_ROWS {
            return Err(AppError::invalid(
                "input.patients",
                format!(
                    "at most {LIST_MAX_ROWS} rows; upload larger imports to POST /imports/patients"
                ),
            )
            .into());
        }
        let access = ctx.access()?;
        let lease = std::time::Duration::from_secs(30);
        let job = access
            .imports()
            .start(StartImport {
                client_id: parse_id("input.clientId", &input.client_id)?,
                location_id: parse_id("input.locationId", &input.location_id)?,
                format: ImportFormat::List,
                header: None,
                lease,
            })
            .await?;
        // Row n is line n: the rows are kept as NDJSON, one per line.
        let mut text = String::new();
        for row in input.patients {
            let row = JsonRow::from(row);
            text.push_str(&serde_json::to_string(&row).map_err(|e| AppError::Internal(e.into()))?);
            text.push('\n');
        }
        let mut receiver = Receiver::new(access.imports().store().clone(), &job, false, 1, lease);
        if let Err(err) = receiver.push(text.as_bytes()).await {
            receiver.abandon(&err).await?;
            return Err(err.into());
        }
        Ok(Some(ImportJob(receiver.finish().await?)))
    }

    /// Stops an import that has not ended; the patients it created stay. Audited.
    async fn cancel_import_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: ID,
    ) -> R<ImportJob> {
        let id = parse_id("id", &id)?;
        Ok(ImportJob(ctx.access()?.imports().cancel(id).await?))
    }
}
