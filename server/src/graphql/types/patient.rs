use async_graphql::{ComplexObject, ID, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::patient::{Entity, Model};

use super::page::PageInfo;
use super::plain::Plain;
use super::record::{plain_enums, record_object};
use super::test::Test;
use crate::access::Disclosure;
use crate::access::rules::{
    BILLING, CLINICAL, CONTACT, DEMOGRAPHICS, PATIENT_ID, PATIENT_TESTS, s,
};
use crate::domain::patient::{AccountDecision, AccountStatus, NoAccountReason, Sex};
use crate::domain::scope::Scope::PatientsRead;
use crate::graphql::ids::{cursor, to_id};
use crate::graphql::loaders::Loaders;
use crate::store::columns::Projected;
use crate::store::page::Page;
use crate::store::patients::parse_list;

/// A patient (see the declaration below), as read: whole, or projected to the columns a
/// list's query reads.
pub struct Patient(pub Projected<Entity>);

plain_enums!(Sex, AccountStatus, NoAccountReason);

impl Patient {
    pub fn whole(model: Model) -> Self {
        Patient(Projected::whole(model))
    }
}

record_object! {
    /// A patient of a client organisation. Fields are grouped in data categories; each field
    /// states the scope it needs, and a caller without it gets `null` and a FORBIDDEN error.
    Patient for patient, keys [id, client_id, location_id] {
        /// Switchboard's id of the patient.
        "id" id: Option<ID>, PATIENT_ID, Disclosure::Identity, [id] plain => Some(to_id(*id));
        /// The id given by the integrated party, unique within the client.
        "externalPatientId" external_patient_id: Option<&str>, s(PatientsRead), Disclosure::Data,
            [external_patient_id] plain => external_patient_id.as_deref();
        "clientId" client_id: Option<ID>, s(PatientsRead), Disclosure::Data,
            [client_id] plain => Some(to_id(*client_id));
        "locationId" location_id: Option<ID>, s(PatientsRead), Disclosure::Data,
            [location_id] plain => Some(to_id(*location_id));
        "createdAt" created_at: Option<DateTime<Utc>>, s(PatientsRead), Disclosure::Data,
            [created_at] plain => Some(*created_at);
        "updatedAt" updated_at: Option<DateTime<Utc>>, s(PatientsRead), Disclosure::Data,
            [updated_at] plain => Some(*updated_at);
        /// Whether the patient has (or has been invited to) a patient account.
        "hasAccount" has_account: Option<bool>, s(PatientsRead), Disclosure::Data,
            [account_status] plain => Some(AccountStatus::from_stored(account_status).has_account());
        "accountStatus" account_status: Option<AccountStatus>, s(PatientsRead), Disclosure::Data,
            [account_status] plain => Some(AccountStatus::from_stored(account_status));
        /// Why the patient has no account; null when they have one.
        "accountReason" account_reason: Option<NoAccountReason>, s(PatientsRead), Disclosure::Data,
            [account_reason] plain => account_reason.as_deref().and_then(|r| r.parse::<NoAccountReason>().ok());
        "firstName" first_name: Option<&str>, DEMOGRAPHICS, Disclosure::Data,
            [first_name] plain => first_name.as_deref();
        "lastName" last_name: Option<&str>, DEMOGRAPHICS, Disclosure::Data,
            [last_name] plain => last_name.as_deref();
        "dateOfBirth" date_of_birth: Option<NaiveDate>, DEMOGRAPHICS, Disclosure::Data,
            [date_of_birth] plain => *date_of_birth;
        "sex" sex: Option<Sex>, DEMOGRAPHICS, Disclosure::Data,
            [sex] plain => sex.as_deref().and_then(|s| s.parse::<Sex>().ok());
        "email" email: Option<&str>, CONTACT, Disclosure::Data, [email] plain => email.as_deref();
        "phone" phone: Option<&str>, CONTACT, Disclosure::Data, [phone] plain => phone.as_deref();
        "address" address: Option<&str>, CONTACT, Disclosure::Data,
            [address] plain => address.as_deref();
        /// Diagnosis codes or descriptions.
        "diagnoses" diagnoses: Option<Vec<String>>, CLINICAL, Disclosure::Data,
            [diagnoses] plain => Some(parse_list(diagnoses));
        "medications" medications: Option<Vec<String>>, CLINICAL, Disclosure::Data,
            [medications] plain => Some(parse_list(medications));
        "insurance" insurance: Option<&str>, BILLING, Disclosure::Data,
            [insurance] plain => insurance.as_deref();
        "billingAccount" billing_account: Option<&str>, BILLING, Disclosure::Data,
            [billing_account] plain => billing_account.as_deref();
        /// The patient's tests visible to the caller, oldest first.
        "tests" tests(ctx): Option<Vec<Plain<Test>>>, PATIENT_TESTS, Disclosure::Data,
            [id] resolve => {
                let loaders = ctx.data::<Loaders>()?;
                let key = (*id, Test::columns(ctx.field().selection_set()));
                let tests = match loaders.take_tests(&key) {
                    Some(tests) => tests,
                    None => loaders
                        .tests_of_patient
                        .load_one(key)
                        .await?
                        .unwrap_or_default(),
                };
                Ok(Some(tests.into_iter().map(|t| Plain(Test(t))).collect()))
            };
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
        let status = AccountStatus::from_stored(&model.account_status);
        PatientAccount {
            has_account: status.has_account(),
            status,
            reason: if status.has_account() {
                None
            } else {
                decision.reason()
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
    pub fn new(page: Page<Projected<Entity>>, total: Option<u64>) -> Self {
        let end_cursor = page.items.last().map(|p| cursor(p.id()));
        PatientConnection {
            edges: page
                .items
                .into_iter()
                .map(|p| PatientEdge {
                    cursor: cursor(p.id()),
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
