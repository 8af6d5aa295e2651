//! GraphQL inputs and their conversion, at the edge, into validated domain requests.

use async_graphql::{ID, InputObject, MaybeUndefined};
use chrono::{DateTime, NaiveDate, Utc};

use super::ids::{parse_id, parse_ids};
use crate::access::admin::CreateKey;
use crate::access::audit_trail::AuditSearch;
use crate::access::lab_tests::{ChangeTest, CreateTest};
use crate::access::patients::CreatePatient;
use crate::domain::environment::Environment;
use crate::domain::lab_result::{self, AbnormalFlag, ResultLine};
use crate::domain::lab_test::{self, TestStatus};
use crate::domain::patient::{
    BILLING_ACCOUNT_MAX, NAME_MAX, PHONE_MAX, PatientWrite, Sex, TEXT_MAX,
};
use crate::domain::patient_input::{PatientFields, date_of_birth, email, list, text};
use crate::domain::scope::ScopeSet;
use crate::domain::validate::{EXTERNAL_ID_MAX, ExternalPatientId, Invalid};
use crate::error::AppError;

/// Longest audit-filter values: an id, a record type or an action name.
const AUDIT_ID_MAX: usize = 64;
const AUDIT_NAME_MAX: usize = 32;

/// Longest name of a client or a location.
const ORGANISATION_NAME_MAX: usize = 200;

/// A key's name, as created or renamed. An `AppError`, not an `Invalid`: in a resolver `?`
/// would turn an `Invalid` into a plain message without its code and field.
pub fn key_name(path: &str, raw: &str) -> Result<String, AppError> {
    Ok(text(path, raw, NAME_MAX)?)
}

/// A client's or a location's name (an `AppError`, as `key_name`).
pub fn organisation_name(path: &str, raw: &str) -> Result<String, AppError> {
    Ok(text(path, raw, ORGANISATION_NAME_MAX)?)
}

fn opt_text(path: &str, raw: Option<&String>, max: usize) -> Result<Option<String>, Invalid> {
    raw.map(|v| text(path, v, max)).transpose()
}

/// A patient to create.
#[derive(InputObject)]
pub struct CreatePatientInput {
    /// The client the patient belongs to; must be within the credential's clients.
    pub client_id: ID,
    /// The location; must belong to the client and be within the credential's locations.
    pub location_id: ID,
    /// Your id for the patient; unique within the client. Needs no extra scope.
    pub external_patient_id: Option<String>,
    /// Needs `patients.demographics:write`.
    pub first_name: Option<String>,
    /// Needs `patients.demographics:write`.
    pub last_name: Option<String>,
    /// Needs `patients.demographics:write`.
    pub date_of_birth: Option<NaiveDate>,
    /// Needs `patients.demographics:write`.
    pub sex: Option<Sex>,
    /// Needs `patients.contact:write`. A valid address creates a patient account.
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
}

impl CreatePatientInput {
    pub fn parse(self) -> Result<CreatePatient, AppError> {
        let write = PatientFields {
            external_patient_id: self.external_patient_id,
            first_name: self.first_name,
            last_name: self.last_name,
            date_of_birth: self.date_of_birth,
            sex: self.sex,
            email: self.email,
            phone: self.phone,
            address: self.address,
            diagnoses: self.diagnoses,
            medications: self.medications,
            insurance: self.insurance,
            billing_account: self.billing_account,
        }
        .validate("input.")?;
        Ok(CreatePatient {
            client_id: parse_id("input.clientId", &self.client_id)?,
            location_id: parse_id("input.locationId", &self.location_id)?,
            write,
        })
    }
}

/// Changes to a patient. Omitted fields stay as they are; `null` clears a field.
#[derive(InputObject)]
pub struct UpdatePatientInput {
    /// Your id for the patient; unique within the client.
    pub external_patient_id: MaybeUndefined<String>,
    /// Needs `patients.demographics:write`.
    pub first_name: MaybeUndefined<String>,
    /// Needs `patients.demographics:write`.
    pub last_name: MaybeUndefined<String>,
    /// Needs `patients.demographics:write`.
    pub date_of_birth: MaybeUndefined<NaiveDate>,
    /// Needs `patients.demographics:write`.
    pub sex: MaybeUndefined<Sex>,
    /// Needs `patients.contact:write`. A valid address invites a patient without an account.
    pub email: MaybeUndefined<String>,
    /// Needs `patients.contact:write`.
    pub phone: MaybeUndefined<String>,
    /// Needs `patients.contact:write`.
    pub address: MaybeUndefined<String>,
    /// Needs `patients.clinical:write`. Replaces the list.
    pub diagnoses: MaybeUndefined<Vec<String>>,
    /// Needs `patients.clinical:write`. Replaces the list.
    pub medications: MaybeUndefined<Vec<String>>,
    /// Needs `patients.billing:write`.
    pub insurance: MaybeUndefined<String>,
    /// Needs `patients.billing:write`.
    pub billing_account: MaybeUndefined<String>,
}

/// `None` = leave alone, `Some(None)` = clear, `Some(Some(v))` = set to the parsed value.
fn patch<T, U>(
    value: MaybeUndefined<T>,
    parse: impl FnOnce(T) -> Result<U, Invalid>,
) -> Result<Option<Option<U>>, Invalid> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => parse(v).map(|u| Some(Some(u))),
    }
}

impl UpdatePatientInput {
    pub fn parse(self) -> Result<PatientWrite, AppError> {
        let p = |f: &str| format!("input.{f}");
        let list_patch = |value: MaybeUndefined<Vec<String>>, path: String| match value {
            MaybeUndefined::Undefined => Ok(None),
            MaybeUndefined::Null => Ok(Some(Vec::new())),
            MaybeUndefined::Value(v) => list(&path, &v).map(Some),
        };
        Ok(PatientWrite {
            external_patient_id: patch(self.external_patient_id, |v| {
                ExternalPatientId::parse(&p("externalPatientId"), &v).map(|e| e.into_inner())
            })?,
            first_name: patch(self.first_name, |v| text(&p("firstName"), &v, NAME_MAX))?,
            last_name: patch(self.last_name, |v| text(&p("lastName"), &v, NAME_MAX))?,
            date_of_birth: patch(self.date_of_birth, |d| date_of_birth(&p("dateOfBirth"), d))?,
            sex: patch(self.sex, Ok)?,
            email: patch(self.email, |e| email(&p("email"), &e))?.map(Option::flatten),
            phone: patch(self.phone, |v| text(&p("phone"), &v, PHONE_MAX))?,
            address: patch(self.address, |v| text(&p("address"), &v, TEXT_MAX))?,
            diagnoses: list_patch(self.diagnoses, p("diagnoses"))?,
            medications: list_patch(self.medications, p("medications"))?,
            insurance: patch(self.insurance, |v| text(&p("insurance"), &v, TEXT_MAX))?,
            billing_account: patch(self.billing_account, |v| {
                text(&p("billingAccount"), &v, BILLING_ACCOUNT_MAX)
            })?,
        })
    }
}

/// A test to order for a patient. Client and location come from the patient.
#[derive(InputObject)]
pub struct CreateTestInput {
    /// The patient; must be visible to the caller.
    pub patient_id: ID,
    /// The test's code in the lab's catalogue.
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// Unique within the client.
    pub accession_number: String,
    /// Defaults to now.
    pub ordered_at: Option<DateTime<Utc>>,
}

impl CreateTestInput {
    pub fn parse(self) -> Result<CreateTest, AppError> {
        Ok(CreateTest {
            patient_id: parse_id("input.patientId", &self.patient_id)?,
            test_code: text("input.testCode", &self.test_code, lab_test::CODE_MAX)?,
            test_name: text("input.testName", &self.test_name, lab_test::NAME_MAX)?,
            accession_number: text(
                "input.accessionNumber",
                &self.accession_number,
                lab_test::ACCESSION_MAX,
            )?,
            ordered_at: self.ordered_at,
        })
    }
}

/// One analyte of a result.
#[derive(InputObject)]
pub struct TestResultInput {
    /// Analyte code (e.g. a LOINC code).
    pub code: String,
    /// Analyte name.
    pub name: Option<String>,
    /// The measured value, as reported.
    pub value: String,
    /// Unit of the value.
    pub unit: Option<String>,
    /// The normal range, as reported.
    pub reference_range: Option<String>,
    /// How the value compares with the range.
    pub abnormal_flag: Option<AbnormalFlag>,
}

/// Changes to a test. Status changes must follow the lifecycle.
#[derive(InputObject)]
pub struct UpdateTestInput {
    /// The next status; must follow the lifecycle.
    pub status: Option<TestStatus>,
    /// Replaces the results; not allowed once RESULTED or CANCELLED.
    pub results: Option<Vec<TestResultInput>>,
    /// When the sample was collected (defaults to now on COLLECTED).
    pub collected_at: Option<DateTime<Utc>>,
}

impl UpdateTestInput {
    pub fn parse(self) -> Result<ChangeTest, AppError> {
        let results = match self.results {
            None => None,
            Some(lines) if lines.len() > lab_result::LINES_MAX => {
                return Err(AppError::invalid(
                    "input.results",
                    format!("at most {} result lines", lab_result::LINES_MAX),
                ));
            }
            Some(lines) => Some(
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        ResultLine::parse(
                            &format!("input.results[{i}]"),
                            &r.code,
                            r.name.as_deref(),
                            &r.value,
                            r.unit.as_deref(),
                            r.reference_range.as_deref(),
                            r.abnormal_flag,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(ChangeTest {
            status: self.status,
            results,
            collected_at: self.collected_at,
        })
    }
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// A name to recognise the key by.
    pub name: String,
    /// Scope names, e.g. `patients:read`, `patients.contact:read`.
    pub scopes: Vec<String>,
    /// Limit the key to these clients; omit for all clients of its environment.
    pub client_ids: Option<Vec<ID>>,
    /// Limit the key to these locations; omit for all locations.
    pub location_ids: Option<Vec<ID>>,
    /// When the key stops working; omit for no expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// The environment whose data the key reaches.
    pub environment: Environment,
    /// CIDR ranges or addresses the key may be used from; omit for anywhere.
    pub allowed_ips: Option<Vec<String>>,
    /// The key's own request rate; omit for the server-wide default.
    pub rate_limit: Option<super::protection::RateLimitInput>,
}

/// What a credential is granted (an API key, a partner app's ceiling): its scopes, at least
/// one, and its client and location limits.
pub struct GrantParts {
    pub scopes: ScopeSet,
    pub client_ids: Option<Vec<uuid::Uuid>>,
    pub location_ids: Option<Vec<uuid::Uuid>>,
}

impl GrantParts {
    pub fn parse(
        scopes: &[String],
        client_ids: Option<Vec<ID>>,
        location_ids: Option<Vec<ID>>,
    ) -> Result<Self, AppError> {
        let scopes = ScopeSet::parse(scopes.iter().map(String::as_str))
            .map_err(|e| AppError::invalid("input.scopes", e.to_string()))?;
        if scopes.is_empty() {
            return Err(AppError::invalid(
                "input.scopes",
                "must name at least one scope",
            ));
        }
        Ok(GrantParts {
            scopes,
            client_ids: client_ids
                .map(|ids| parse_ids("input.clientIds", &ids))
                .transpose()?,
            location_ids: location_ids
                .map(|ids| parse_ids("input.locationIds", &ids))
                .transpose()?,
        })
    }
}

impl CreateApiKeyInput {
    pub fn parse(self) -> Result<CreateKey, AppError> {
        let grant = GrantParts::parse(&self.scopes, self.client_ids, self.location_ids)?;
        Ok(CreateKey {
            name: key_name("input.name", &self.name)?,
            scopes: grant.scopes,
            client_ids: grant.client_ids,
            location_ids: grant.location_ids,
            environment: self.environment,
            expires_at: self.expires_at,
            limits: super::protection::CredentialLimitsInput {
                allowed_ips: self.allowed_ips,
                rate_limit: self.rate_limit,
            }
            .parse("input")?,
        })
    }
}

/// Narrows a patient list.
#[derive(InputObject, Default)]
pub struct PatientFilterInput {
    /// Only this client's patients.
    pub client_id: Option<ID>,
    /// Only this location's patients.
    pub location_id: Option<ID>,
    /// Only the patient with this external id.
    pub external_patient_id: Option<String>,
    /// Case-insensitive part of the first or last name.
    pub name: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
}

impl PatientFilterInput {
    pub fn parse(self) -> Result<crate::store::patients::PatientFilter, AppError> {
        Ok(crate::store::patients::PatientFilter {
            client_id: self
                .client_id
                .map(|id| parse_id("filter.clientId", &id))
                .transpose()?,
            location_id: self
                .location_id
                .map(|id| parse_id("filter.locationId", &id))
                .transpose()?,
            external_patient_id: opt_text(
                "filter.externalPatientId",
                self.external_patient_id.as_ref(),
                EXTERNAL_ID_MAX,
            )?,
            name: opt_text("filter.name", self.name.as_ref(), NAME_MAX)?,
            created_from: self.created_from,
            created_to: self.created_to,
        })
    }
}

/// Narrows a test list.
#[derive(InputObject, Default)]
pub struct TestFilterInput {
    /// Only this client's tests.
    pub client_id: Option<ID>,
    /// Only this location's tests.
    pub location_id: Option<ID>,
    /// Only this patient's tests.
    pub patient_id: Option<ID>,
    /// Only tests in this status.
    pub status: Option<TestStatus>,
    /// Only the test with this accession number.
    pub accession_number: Option<String>,
    /// Ordered at or after.
    pub ordered_from: Option<DateTime<Utc>>,
    /// Ordered before.
    pub ordered_to: Option<DateTime<Utc>>,
}

impl TestFilterInput {
    pub fn parse(self) -> Result<crate::store::lab_tests::TestFilter, AppError> {
        Ok(crate::store::lab_tests::TestFilter {
            client_id: self
                .client_id
                .map(|id| parse_id("filter.clientId", &id))
                .transpose()?,
            location_id: self
                .location_id
                .map(|id| parse_id("filter.locationId", &id))
                .transpose()?,
            patient_id: self
                .patient_id
                .map(|id| parse_id("filter.patientId", &id))
                .transpose()?,
            status: self.status,
            accession_number: opt_text(
                "filter.accessionNumber",
                self.accession_number.as_ref(),
                lab_test::ACCESSION_MAX,
            )?,
            ordered_from: self.ordered_from,
            ordered_to: self.ordered_to,
        })
    }
}

/// Narrows the audit trail.
#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    /// Only this key's or user's events.
    pub actor_id: Option<String>,
    /// patient, test, api_key, client, location, admin_user.
    pub record_type: Option<String>,
    /// READ, CREATE, UPDATE, ROTATE, REVOKE, LOGIN, LOGIN_FAILED.
    pub action: Option<String>,
    /// Only events about this record (a patient, a test, a key…).
    pub record_id: Option<ID>,
    /// Only events about the patients with this external id (in any client).
    pub external_patient_id: Option<String>,
    /// Only events at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub occurred_to: Option<DateTime<Utc>>,
}

impl AuditFilterInput {
    pub fn parse(self) -> Result<AuditSearch, AppError> {
        if let (Some(from), Some(to)) = (self.occurred_from, self.occurred_to)
            && from >= to
        {
            return Err(AppError::invalid(
                "filter.occurredTo",
                "must be after occurredFrom",
            ));
        }
        let external_patient_id = self
            .external_patient_id
            .map(|v| {
                ExternalPatientId::parse("filter.externalPatientId", &v).map(|e| e.into_inner())
            })
            .transpose()?;
        let filter = crate::store::audit::AuditFilter {
            actor_id: opt_text("filter.actorId", self.actor_id.as_ref(), AUDIT_ID_MAX)?,
            record_type: opt_text(
                "filter.recordType",
                self.record_type.as_ref(),
                AUDIT_NAME_MAX,
            )?,
            action: opt_text("filter.action", self.action.as_ref(), AUDIT_NAME_MAX)?,
            record_ids: self
                .record_id
                .map(|id| parse_id("filter.recordId", &id).map(|u| vec![u.to_string()]))
                .transpose()?,
            occurred_from: self.occurred_from,
            occurred_to: self.occurred_to,
            hidden_actors: Vec::new(),
        };
        Ok(AuditSearch {
            filter,
            external_patient_id,
        })
    }
}
