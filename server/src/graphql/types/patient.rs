use async_graphql::{
    ComplexObject, Context, Enum, ID, Object, SelectionField, SimpleObject, Value,
};
use chrono::{DateTime, NaiveDate, Utc};
use entity::patient::{Column, Entity, Model};

use super::page::PageInfo;
use super::plain::{Plain, PlainFields, text};
use super::test::Test;
use crate::domain::patient::AccountDecision;
use crate::graphql::ids::{cursor, to_id};
use crate::graphql::loaders::Loaders;
use crate::store::columns::Columns;
use crate::store::page::Page;
use crate::store::patients::parse_list;

/// A patient of a client organisation. Fields are grouped in data categories; each field
/// names the scope it needs, and a caller without it gets `null` and a FORBIDDEN error.
pub struct Patient(pub Model);

/// Administrative sex.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "FEMALE",
            Sex::Male => "MALE",
            Sex::Other => "OTHER",
            Sex::Unknown => "UNKNOWN",
        }
    }
    fn parse(raw: &str) -> Option<Sex> {
        match raw {
            "FEMALE" => Some(Sex::Female),
            "MALE" => Some(Sex::Male),
            "OTHER" => Some(Sex::Other),
            "UNKNOWN" => Some(Sex::Unknown),
            _ => None,
        }
    }
}

/// Whether the patient can log in to see results.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Invited by email; not yet activated.
    Invited,
    /// Active account.
    Active,
    /// No account (see `accountReason`).
    None,
}

/// Why a patient has no account.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum NoAccountReason {
    NoEmail,
    InvalidEmail,
}

fn status(raw: &str) -> AccountStatus {
    match raw {
        "INVITED" => AccountStatus::Invited,
        "ACTIVE" => AccountStatus::Active,
        _ => AccountStatus::None,
    }
}

fn reason(raw: Option<&str>) -> Option<NoAccountReason> {
    match raw {
        Some("NO_EMAIL") => Some(NoAccountReason::NoEmail),
        Some("INVALID_EMAIL") => Some(NoAccountReason::InvalidEmail),
        _ => None,
    }
}

impl Patient {
    /// The columns that resolving `fields` reads, plus the keys every row carries. A field not
    /// named here reads every column, so a new field is correct before it is fast; a test
    /// compares every field of a projected list with the same patient read whole.
    pub fn columns<'a>(fields: impl IntoIterator<Item = SelectionField<'a>>) -> Columns<Entity> {
        let mut set = Columns::of(&[Column::Id, Column::ClientId, Column::LocationId]);
        for field in fields {
            let col = match field.name() {
                "id" | "clientId" | "locationId" | "tests" | "__typename" => continue,
                "externalPatientId" => Column::ExternalPatientId,
                "createdAt" => Column::CreatedAt,
                "updatedAt" => Column::UpdatedAt,
                "hasAccount" | "accountStatus" => Column::AccountStatus,
                "accountReason" => Column::AccountReason,
                "firstName" => Column::FirstName,
                "lastName" => Column::LastName,
                "dateOfBirth" => Column::DateOfBirth,
                "sex" => Column::Sex,
                "email" => Column::Email,
                "phone" => Column::Phone,
                "address" => Column::Address,
                "diagnoses" => Column::Diagnoses,
                "medications" => Column::Medications,
                "insurance" => Column::Insurance,
                "billingAccount" => Column::BillingAccount,
                _ => return Columns::all(),
            };
            set = set.with(col);
        }
        set
    }

    /// Whether the patient has an account (the field and its plain copy share it).
    fn has_account_value(&self) -> bool {
        self.0.account_status != "NONE"
    }
}

impl PlainFields for Patient {
    fn plain(&self, name: &str) -> Option<Value> {
        let p = &self.0;
        Some(match name {
            "id" => Value::String(to_id(p.id).0),
            "clientId" => Value::String(to_id(p.client_id).0),
            "locationId" => Value::String(to_id(p.location_id).0),
            "externalPatientId" => text(p.external_patient_id.as_deref()),
            "firstName" => text(p.first_name.as_deref()),
            "lastName" => text(p.last_name.as_deref()),
            "email" => text(p.email.as_deref()),
            "phone" => text(p.phone.as_deref()),
            "address" => text(p.address.as_deref()),
            "insurance" => text(p.insurance.as_deref()),
            "billingAccount" => text(p.billing_account.as_deref()),
            "hasAccount" => Value::Boolean(self.has_account_value()),
            _ => return None,
        })
    }
}

/// A patient of a client organisation. Fields are grouped in data categories; each field
/// states the scope it needs, and a caller without it gets `null` and a FORBIDDEN error.
#[Object(serial)]
impl Patient {
    /// Switchboard's id of the patient.
    async fn id(&self) -> Option<ID> {
        Some(to_id(self.0.id))
    }
    /// The id given by the integrated party, unique within the client.
    async fn external_patient_id(&self) -> Option<&str> {
        self.0.external_patient_id.as_deref()
    }
    async fn client_id(&self) -> Option<ID> {
        Some(to_id(self.0.client_id))
    }
    async fn location_id(&self) -> Option<ID> {
        Some(to_id(self.0.location_id))
    }
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        Some(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        Some(self.0.updated_at)
    }
    /// Whether the patient has (or has been invited to) a patient account.
    async fn has_account(&self) -> Option<bool> {
        Some(self.has_account_value())
    }
    async fn account_status(&self) -> Option<AccountStatus> {
        Some(status(&self.0.account_status))
    }
    /// Why the patient has no account; null when they have one.
    async fn account_reason(&self) -> Option<NoAccountReason> {
        reason(self.0.account_reason.as_deref())
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    async fn date_of_birth(&self) -> Option<NaiveDate> {
        self.0.date_of_birth
    }
    async fn sex(&self) -> Option<Sex> {
        self.0.sex.as_deref().and_then(Sex::parse)
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    /// Diagnosis codes or descriptions.
    async fn diagnoses(&self) -> Option<Vec<String>> {
        Some(parse_list(&self.0.diagnoses))
    }
    async fn medications(&self) -> Option<Vec<String>> {
        Some(parse_list(&self.0.medications))
    }
    async fn insurance(&self) -> Option<&str> {
        self.0.insurance.as_deref()
    }
    async fn billing_account(&self) -> Option<&str> {
        self.0.billing_account.as_deref()
    }
    /// The patient's tests visible to the caller, oldest first.
    async fn tests(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Plain<Test>>>> {
        let loaders = ctx.data::<Loaders>()?;
        let key = (self.0.id, Test::columns(ctx.field().selection_set()));
        let tests = match loaders.take_tests(&key) {
            Some(tests) => tests,
            None => loaders
                .tests_of_patient
                .load_one(key)
                .await?
                .unwrap_or_default(),
        };
        Ok(Some(tests.into_iter().map(|t| Plain(Test(t))).collect()))
    }
}

/// The account outcome of a create or update, derived from what was submitted.
#[derive(SimpleObject)]
pub struct PatientAccount {
    pub has_account: bool,
    pub status: AccountStatus,
    /// Why there is no account (NO_EMAIL or INVALID_EMAIL); null when there is one.
    pub reason: Option<NoAccountReason>,
}

impl PatientAccount {
    pub fn of(model: &Model, decision: AccountDecision) -> Self {
        let st = status(&model.account_status);
        PatientAccount {
            has_account: st != AccountStatus::None,
            status: st,
            reason: if st == AccountStatus::None {
                reason(decision.reason())
            } else {
                None
            },
        }
    }
}

/// The created patient and whether they got an account.
#[derive(SimpleObject)]
pub struct CreatePatientPayload {
    pub patient: Patient,
    pub account: PatientAccount,
}

/// The updated patient and their account outcome.
#[derive(SimpleObject)]
pub struct UpdatePatientPayload {
    pub patient: Patient,
    /// The patient's account after the update. Needs `patients:read`: unless the update
    /// gave the email, it tells whether the patient has a valid one.
    pub account: Option<PatientAccount>,
}

/// A patient and its cursor.
#[derive(SimpleObject)]
pub struct PatientEdge {
    pub cursor: String,
    pub node: Plain<Patient>,
}

/// A page of patients.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PatientConnection {
    pub edges: Vec<PatientEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub total: Option<u64>,
}

#[ComplexObject]
impl PatientConnection {
    /// The patients of this page (the edges' nodes).
    async fn nodes(&self) -> Vec<&Plain<Patient>> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// All patients matching the filter, across pages.
    async fn total_count(&self) -> Option<u64> {
        self.total
    }
}

impl PatientConnection {
    pub fn new(page: Page<Model>, total: Option<u64>) -> Self {
        let end_cursor = page.items.last().map(|p| cursor(p.id));
        PatientConnection {
            edges: page
                .items
                .into_iter()
                .map(|p| PatientEdge {
                    cursor: cursor(p.id),
                    node: Plain(Patient(p)),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total,
        }
    }
}
