//! Which rule of the schema a failed write broke, as the database reports it. PostgreSQL names
//! the constraint (the index names of the migrations); SQLite names the table's columns.
//! Callers then tell a reused accession number from a duplicate external id by what the
//! database said, not by guessing from the input.

use crate::error::{AppError, Unique};

/// Each uniqueness rule with the names the two backends report it by.
const UNIQUE: &[(Unique, &str, &str)] = &[
    (
        Unique::PatientExternalId,
        "ux_patients_client_external",
        "patients.client_id, patients.external_patient_id",
    ),
    (
        Unique::TestAccession,
        "ux_lab_tests_client_accession",
        "lab_tests.client_id, lab_tests.accession_number",
    ),
    (
        Unique::AdminEmail,
        "admin_users_email_key",
        "admin_users.email",
    ),
];

/// The rule a unique violation's message names.
fn unique_of(message: &str) -> Unique {
    UNIQUE
        .iter()
        .find(|(_, postgres, sqlite)| {
            message.contains(&format!("\"{postgres}\"")) || message.ends_with(sqlite)
        })
        .map_or(Unique::Other, |(rule, _, _)| *rule)
}

impl From<sea_orm::DbErr> for AppError {
    /// Constraint violations are the caller's conflict, not our failure: they must never
    /// surface as a 500.
    fn from(err: sea_orm::DbErr) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => {
                AppError::Duplicate(unique_of(&message))
            }
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                AppError::Conflict("the record refers to something that does not exist".into())
            }
            _ => AppError::Internal(anyhow::Error::new(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_reports_name_the_rule() {
        assert_eq!(
            unique_of(
                "duplicate key value violates unique constraint \"ux_lab_tests_client_accession\""
            ),
            Unique::TestAccession
        );
        assert_eq!(
            unique_of("UNIQUE constraint failed: patients.client_id, patients.external_patient_id"),
            Unique::PatientExternalId
        );
        assert_eq!(
            unique_of("UNIQUE constraint failed: admin_users.email"),
            Unique::AdminEmail
        );
        assert_eq!(unique_of("UNIQUE constraint failed: t.v"), Unique::Other);
    }
}
