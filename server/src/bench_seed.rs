//! The benchmark data set: clients × locations with synthetic patients and tests, inserted
//! in bulk, plus a scoped API key. Used by `switchboard seed-bench` (scripts/bench.sh).

use chrono::{Duration, NaiveDate, Utc};
use entity::{lab_test, patient};
use sea_orm::{EntityTrait, Set};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::api_key::new_api_key;
use crate::domain::environment::Environment;
use crate::error::AppResult;
use crate::store::api_keys::NewApiKey;
use crate::store::{Store, api_keys, clients};

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

pub async fn seed_bench(store: &Store, shape: &BenchShape) -> AppResult<BenchFixture> {
    let db = store.conn();
    let mut locations = Vec::new();
    for c in 0..shape.clients {
        let client =
            clients::insert_client(db, &format!("Bench client {c}"), Environment::Sandbox).await?;
        let mut ids = Vec::new();
        for l in 0..shape.locations_per_client {
            ids.push(
                clients::insert_location(db, client.id, &format!("Bench location {c}.{l}"))
                    .await?
                    .id,
            );
        }
        locations.push((client.id, ids));
    }
    let now = Utc::now();
    let mut fixture_patients = Vec::new();
    let mut fixture_tests = Vec::new();
    let mut patient_rows = Vec::with_capacity(CHUNK);
    let mut test_rows = Vec::with_capacity(CHUNK * shape.tests_per_patient);
    for i in 0..shape.patients {
        // Round-robin over clients, then locations, so every client has the same share.
        let (client_id, locs) = &locations[i % shape.clients];
        let location_id = locs[(i / shape.clients) % locs.len()];
        let id = Uuid::now_v7();
        if i % shape.clients == 0 && fixture_patients.len() < SAMPLE {
            fixture_patients.push(id);
        }
        patient_rows.push(patient::ActiveModel {
            id: Set(id),
            client_id: Set(*client_id),
            location_id: Set(location_id),
            external_patient_id: Set(Some(format!("BENCH-{i:08}"))),
            first_name: Set(Some("Bench".into())),
            last_name: Set(Some(format!("Patient {i}"))),
            date_of_birth: Set(NaiveDate::from_ymd_opt(
                1940 + (i % 70) as i32,
                1 + (i % 12) as u32,
                1 + (i % 28) as u32,
            )),
            sex: Set(Some(["FEMALE", "MALE"][i % 2].into())),
            email: Set(Some(format!("bench{i}@example.test"))),
            phone: Set(Some("+1-555-0100".into())),
            address: Set(Some("1 Bench Street".into())),
            diagnoses: Set("[]".into()),
            medications: Set("[]".into()),
            insurance: Set(None),
            billing_account: Set(None),
            account_status: Set("INVITED".into()),
            account_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        for t in 0..shape.tests_per_patient {
            let test_id = Uuid::now_v7();
            if i % shape.clients == 0 && fixture_tests.len() < SAMPLE {
                fixture_tests.push(test_id);
            }
            test_rows.push(lab_test::ActiveModel {
                id: Set(test_id),
                patient_id: Set(id),
                client_id: Set(*client_id),
                location_id: Set(location_id),
                test_code: Set("CBC".into()),
                test_name: Set("Complete blood count".into()),
                accession_number: Set(format!("BENCH-{i:08}-{t}")),
                status: Set("ORDERED".into()),
                results: Set("[]".into()),
                ordered_at: Set(now - Duration::minutes(t as i64)),
                collected_at: Set(None),
                resulted_at: Set(None),
                cancelled_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
        if patient_rows.len() >= CHUNK {
            flush(store, &mut patient_rows, &mut test_rows).await?;
        }
    }
    flush(store, &mut patient_rows, &mut test_rows).await?;

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
        },
    )
    .await?;
    Ok(BenchFixture {
        secret: secret.secret,
        client_id,
        location_ids,
        patient_ids: fixture_patients,
        test_ids: fixture_tests,
    })
}

async fn flush(
    store: &Store,
    patients: &mut Vec<patient::ActiveModel>,
    tests: &mut Vec<lab_test::ActiveModel>,
) -> AppResult<()> {
    if patients.is_empty() {
        return Ok(());
    }
    let txn = store.begin_write().await?;
    patient::Entity::insert_many(std::mem::take(patients))
        .exec(&txn.txn)
        .await?;
    let all = std::mem::take(tests);
    for chunk in all.chunks(CHUNK) {
        lab_test::Entity::insert_many(chunk.to_vec())
            .exec(&txn.txn)
            .await?;
    }
    txn.commit().await
}
