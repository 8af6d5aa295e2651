//! The benchmark data set: clients × locations with synthetic patients and tests, inserted
//! in bulk, plus a scoped API key. Used by `switchboard seed-bench` (scripts/bench.sh).

use chrono::{Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::api_key::new_api_key;
use crate::domain::environment::Environment;
use crate::domain::network::{BURST_MAX, Limits, PER_MINUTE_MAX, RateLimit};
use crate::domain::patient::{AccountStatus, Sex};
use crate::error::AppResult;
use crate::store::api_keys::NewApiKey;
use crate::store::lab_tests::NewTest;
use crate::store::patients::NewPatient;
use crate::store::{Effects, Store, api_keys, clients, lab_tests, patients};

pub struct BenchShape {
    pub clients: usize,
    pub locations_per_client: usize,
    pub patients: usize,
    pub tests_per_patient: usize,
}

/// What the load generator needs: the key, and ids visible to it.
#[derive(Serialize)]
pub struct BenchFixture {
    pub secret: String,
    pub client_id: Uuid,
    pub location_ids: Vec<Uuid>,
    pub patient_ids: Vec<Uuid>,
    pub test_ids: Vec<Uuid>,
}

/// Rows per INSERT: well under SQLite's bound-parameter limit at ~20 columns.
const CHUNK: usize = 500;
/// Ids handed to the load generator; enough for random lookups without a huge file.
const SAMPLE: usize = 5_000;

fn synthetic_patient(i: usize, client_id: Uuid, location_id: Uuid) -> NewPatient {
    NewPatient {
        client_id,
        location_id,
        external_patient_id: Some(format!("BENCH-{i:08}")),
        first_name: Some("Bench".into()),
        last_name: Some(format!("Patient {i}")),
        date_of_birth: NaiveDate::from_ymd_opt(
            1940 + (i % 70) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        ),
        sex: Some([Sex::Female, Sex::Male][i % 2]),
        email: Some(format!("bench{i}@example.test")),
        phone: Some("+1-555-0100".into()),
        address: Some("1 Bench Street".into()),
        diagnoses: vec![],
        medications: vec![],
        insurance: None,
        billing_account: None,
        account_status: AccountStatus::Invited,
        account_reason: None,
    }
}

pub async fn seed_bench(store: &Store, shape: &BenchShape) -> AppResult<BenchFixture> {
    let db = store.conn();
    let mut locations = Vec::new();
    for c in 0..shape.clients {
        let client =
            clients::insert_client(db, &format!("Bench client {c}"), Environment::Sandbox).await?;
        let mut ids = Vec::new();
        for l in 0..shape.locations_per_client {
            let name = format!("Bench location {c}.{l}");
            ids.push(clients::insert_location(db, client.id, &name).await?.id);
        }
        locations.push((client.id, ids));
    }
    // Round-robin over clients, then locations, so every client has the same share.
    let place = |i: usize| {
        let (client_id, locs) = &locations[i % shape.clients];
        (*client_id, locs[(i / shape.clients) % locs.len()])
    };
    let now = Utc::now();
    let mut sample_patients = Vec::new();
    let mut sample_tests = Vec::new();
    for start in (0..shape.patients).step_by(CHUNK) {
        let range = start..(start + CHUNK).min(shape.patients);
        let batch = range
            .clone()
            .map(|i| {
                let (client_id, location_id) = place(i);
                synthetic_patient(i, client_id, location_id)
            })
            .collect();
        let txn = store.begin_write().await?;
        let ids = patients::insert_many(&txn.txn, batch).await?;
        let mut new_tests = Vec::with_capacity(ids.len() * shape.tests_per_patient);
        for (i, id) in range.zip(&ids) {
            let (client_id, location_id) = place(i);
            for t in 0..shape.tests_per_patient {
                new_tests.push(NewTest {
                    patient_id: *id,
                    client_id,
                    location_id,
                    test_code: "CBC".into(),
                    test_name: "Complete blood count".into(),
                    accession_number: format!("BENCH-{i:08}-{t}"),
                    ordered_at: now - Duration::minutes(t as i64),
                });
            }
        }
        let mut test_ids = Vec::with_capacity(new_tests.len());
        while !new_tests.is_empty() {
            let rest = new_tests.split_off(new_tests.len().min(CHUNK));
            test_ids.extend(lab_tests::insert_many(&txn.txn, new_tests).await?);
            new_tests = rest;
        }
        txn.commit(Effects::none()).await?;
        // The load generator's key sees the first client: sample its patients and tests.
        let first = locations[0].0;
        for (k, id) in ids.iter().enumerate() {
            if place(start + k).0 == first && sample_patients.len() < SAMPLE {
                sample_patients.push(*id);
                let of_patient =
                    &test_ids[k * shape.tests_per_patient..(k + 1) * shape.tests_per_patient];
                sample_tests.extend(
                    of_patient
                        .iter()
                        .take(SAMPLE.saturating_sub(sample_tests.len())),
                );
            }
        }
    }
    store.optimize(true).await?;

    let (client_id, location_ids) = locations[0].clone();
    let secret = new_api_key(Environment::Sandbox);
    api_keys::insert(
        db,
        NewApiKey {
            name: "bench".into(),
            prefix: secret.prefix,
            secret_hash: secret.hash,
            scopes: [
                "patients:read",
                "patients:create",
                "tests:read",
                "tests:update",
                "patients.demographics:read",
                "patients.demographics:write",
                "patients.contact:read",
            ]
            .map(String::from)
            .to_vec(),
            client_ids: Some(vec![client_id]),
            location_ids: Some(location_ids.clone()),
            environment: Environment::Sandbox.as_str().into(),
            expires_at: None,
            created_by: None,
            // Limited, as every key is, at the highest rate an administrator may set: the
            // scenarios measure the requests with their rate counted, not refused.
            limits: Limits {
                allowed_ips: None,
                rate: Some(RateLimit {
                    per_minute: PER_MINUTE_MAX,
                    burst: BURST_MAX,
                }),
            },
        },
    )
    .await?;
    Ok(BenchFixture {
        secret: secret.secret,
        client_id,
        location_ids,
        patient_ids: sample_patients,
        test_ids: sample_tests,
    })
}
