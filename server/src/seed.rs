//! Set-up tasks of the command line: creating admins and the synthetic demo data set.

use chrono::{Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::access::credentials::hash_password;
use crate::domain::environment::Environment;
use crate::domain::patient::{AccountDecision, Sex};
use crate::domain::role::Role;
use crate::domain::validate::Email;
use crate::error::{AppError, AppResult};
use crate::store::lab_tests::NewTest;
use crate::store::patients::NewPatient;
use crate::store::{Effects, Store, admins, clients, lab_tests, patients};

pub async fn create_admin(
    store: &Store,
    email: &str,
    role: Role,
    password: String,
) -> AppResult<Uuid> {
    let email = Email::parse(email)
        .ok_or_else(|| AppError::invalid("email", "is not a valid email address"))?;
    if password.chars().count() < 12 {
        return Err(AppError::invalid(
            "password",
            "must be at least 12 characters",
        ));
    }
    let hash = hash_password(password).await?;
    let txn = store.begin_write().await?;
    let user = admins::insert_user(
        &txn.txn,
        &email.as_str().to_lowercase(),
        role.as_str(),
        &hash,
    )
    .await?;
    txn.commit(Effects::none()).await?;
    Ok(user.id)
}

pub struct DemoSummary {
    pub client_id: Uuid,
    pub location_ids: Vec<Uuid>,
    pub patients: usize,
    pub tests: usize,
}

const TEST_CATALOGUE: [(&str, &str); 4] = [
    ("CBC", "Complete blood count"),
    ("BMP", "Basic metabolic panel"),
    ("LIPID", "Lipid panel"),
    ("TSH", "Thyroid stimulating hormone"),
];

/// A sandbox client with two locations and obviously synthetic patients ("Demo Patient 007",
/// `@example.test` addresses): never anything that looks like real PHI.
pub async fn seed_demo(store: &Store, patient_count: usize) -> AppResult<DemoSummary> {
    let txn = store.begin_write().await?;
    let client =
        clients::insert_client(&txn.txn, "Demo Clinic (sandbox)", Environment::Sandbox).await?;
    let north = clients::insert_location(&txn.txn, client.id, "Demo North Draw Station").await?;
    let south = clients::insert_location(&txn.txn, client.id, "Demo South Clinic").await?;
    let mut test_count = 0;
    for i in 0..patient_count {
        let location = if i % 2 == 0 { north.id } else { south.id };
        // Every fifth patient has no email, to show patients without accounts.
        let email = (i % 5 != 0).then(|| format!("demo.patient{i:03}@example.test"));
        let decision = AccountDecision::for_email(email.as_deref());
        let patient = patients::insert(
            &txn.txn,
            NewPatient {
                client_id: client.id,
                location_id: location,
                external_patient_id: Some(format!("DEMO-{i:05}")),
                first_name: Some("Demo".into()),
                last_name: Some(format!("Patient {i:03}")),
                date_of_birth: NaiveDate::from_ymd_opt(
                    1950 + (i % 60) as i32,
                    1 + (i % 12) as u32,
                    1 + (i % 28) as u32,
                ),
                sex: Some(Sex::ALL[i % Sex::ALL.len()]),
                email,
                phone: Some(format!("+1-555-01{:02}", i % 100)),
                address: Some(format!("{i} Example Street, Demo Town")),
                diagnoses: vec![],
                medications: vec![],
                insurance: Some("Demo Insurance Co.".into()),
                billing_account: Some(format!("DEMO-BA-{i:05}")),
                account_status: decision.status(),
                account_reason: decision.reason(),
            },
        )
        .await?;
        let (code, name) = TEST_CATALOGUE[i % TEST_CATALOGUE.len()];
        lab_tests::insert(
            &txn.txn,
            NewTest {
                patient_id: patient.id,
                client_id: client.id,
                location_id: location,
                test_code: code.into(),
                test_name: name.into(),
                accession_number: format!("DEMO-ACC-{i:06}"),
                ordered_at: Utc::now() - Duration::hours(i as i64),
            },
        )
        .await?;
        test_count += 1;
    }
    txn.commit(Effects::none()).await?;
    Ok(DemoSummary {
        client_id: client.id,
        location_ids: vec![north.id, south.id],
        patients: patient_count,
        tests: test_count,
    })
}
