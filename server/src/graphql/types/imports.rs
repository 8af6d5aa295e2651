//! Batch imports of patients: a job's progress and its refused rows.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{import_job, import_refusal};

use crate::domain::patient_import::{ImportFormat, ImportStatus, RefusalCode};
use crate::graphql::ContextExt;
use crate::graphql::ids::to_id;

/// A batch import of patients.
pub struct ImportJob(pub import_job::Model);

/// A batch import of patients: where it is and what it did so far. `processed` counts the
/// rows done of `totalRows`; each is `created`, a duplicate, or `failed` (see
/// `refusedRows`).
#[Object]
impl ImportJob {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn status(&self) -> ImportStatus {
        ImportStatus::from(&self.0)
    }
    async fn format(&self) -> Option<ImportFormat> {
        self.0.format.parse().ok()
    }
    /// The client the patients go to.
    async fn client_id(&self) -> ID {
        to_id(self.0.client_id)
    }
    /// Their location, unless a row names another of the client's.
    async fn location_id(&self) -> ID {
        to_id(self.0.location_id)
    }
    /// Rows in the upload (known once it has arrived whole).
    async fn total_rows(&self) -> i32 {
        self.0.total_rows
    }
    async fn processed(&self) -> i32 {
        self.0.processed
    }
    async fn created(&self) -> i32 {
        self.0.created
    }
    /// Rows whose `externalPatientId` the client already had (or an earlier row had).
    async fn duplicates(&self) -> i32 {
        self.0.duplicates
    }
    /// Rows refused for another reason (see `refusedRows`).
    async fn failed(&self) -> i32 {
        self.0.failed
    }
    /// Tests created with the patients (rows that ordered them).
    async fn tests_created(&self) -> i32 {
        self.0.tests_created
    }
    /// Why the job as a whole failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// Who started it (a key's name or a user's email).
    async fn started_by(&self) -> String {
        crate::imports::who_from_stored(&self.0.actor).label
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Where the refused rows are downloaded as CSV (`line,code,field,message`), with the same
    /// credential.
    async fn refused_rows_url(&self) -> String {
        format!("/imports/{}/refusals.csv", self.0.id)
    }
    /// The rows refused (duplicates included), in line order.
    async fn refused_rows(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100, desc = "How many, at most 1000.")] first: i32,
        #[graphql(default = 0, desc = "Rows after this line.")] after_line: i32,
    ) -> async_graphql::Result<Vec<ImportRefusal>> {
        let first = u64::try_from(first).unwrap_or(0);
        let rows = ctx
            .access()?
            .imports()
            .refusals(&self.0, after_line, first)
            .await?;
        Ok(rows.into_iter().map(ImportRefusal::from).collect())
    }
}

/// A row an import created no patient from. Its values are not kept: the line says which.
#[derive(SimpleObject)]
pub struct ImportRefusal {
    /// The row's line in the upload (its position for a list, from 1).
    pub line: i32,
    pub code: Option<RefusalCode>,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl From<import_refusal::Model> for ImportRefusal {
    fn from(r: import_refusal::Model) -> Self {
        ImportRefusal {
            line: r.line,
            code: r.code.parse().ok(),
            field: r.field,
            message: r.message,
        }
    }
}
