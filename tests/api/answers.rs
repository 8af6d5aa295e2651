//! A mutation's answer is a read, held to the same rules as a query, and audited as one.

use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data, spawn_app};

const UPDATE: &str = "mutation($id:ID!,$i:UpdatePatientInput!){ updatePatient(id:$id, input:$i){ patient { id firstName diagnoses updatedAt externalPatientId } account { status } } }";

fn refused_paths(resp: &Value) -> Vec<(String, String)> {
    let mut refused: Vec<(String, String)> = resp["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{e}");
            let path: Vec<String> = e["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect();
            (
                path.join("."),
                e["extensions"]["requiredScope"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    refused.sort();
    refused
}

async fn patient(app: &TestApp) -> String {
    app.patient_id(
        &app.full_key().await,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "EXT-1", "firstName": "Ada", "diagnoses": ["E11.9"] }),
    )
    .await
}

#[tokio::test]
async fn an_update_answer_without_patients_read_gives_only_the_id() {
    let app = spawn_app().await;
    let id = patient(&app).await;
    let key = app
        .key(&[
            "patients:update",
            "patients.demographics:write",
            "patients.demographics:read",
            "patients.clinical:read",
        ])
        .await;
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "firstName": "Grace" } }),
        )
        .await;
    let answer = &resp["data"]["updatePatient"];
    assert_eq!(answer["patient"]["id"], json!(id));
    for field in ["firstName", "diagnoses", "updatedAt", "externalPatientId"] {
        assert_eq!(answer["patient"][field], json!(null), "{field}");
    }
    assert_eq!(answer["account"], json!(null));
    assert_eq!(
        refused_paths(&resp),
        vec![
            ("updatePatient.account".into(), "patients:read".into()),
            (
                "updatePatient.patient.diagnoses".into(),
                "patients:read".into()
            ),
            (
                "updatePatient.patient.externalPatientId".into(),
                "patients:read".into()
            ),
            (
                "updatePatient.patient.firstName".into(),
                "patients:read".into()
            ),
            (
                "updatePatient.patient.updatedAt".into(),
                "patients:read".into()
            ),
        ]
    );
    // The write itself happened.
    let resp = app
        .admin(
            "query($id:ID!){ patient(id:$id){ firstName } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["patient"]["firstName"], "Grace");
    // With patients:read too, the answer is the same read as patient(id).
    let reader = app
        .key(&[
            "patients:update",
            "patients:read",
            "patients.demographics:read",
        ])
        .await;
    let resp = app
        .gql_as(
            &reader,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ externalPatientId: \"EXT-2\" }){ patient { externalPatientId firstName diagnoses } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        resp["data"]["updatePatient"]["patient"]["firstName"],
        "Grace"
    );
    assert_eq!(
        refused_paths(&resp),
        vec![(
            "updatePatient.patient.diagnoses".into(),
            "patients.clinical:read".into()
        )]
    );
}

#[tokio::test]
async fn an_empty_update_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let id = patient(&app).await;
    let key = app.full_key().await;
    let before = app
        .admin(
            "query($id:ID!){ patient(id:$id){ updatedAt firstName } }",
            json!({ "id": id }),
        )
        .await;
    let resp = app.gql_as(&key, UPDATE, json!({ "id": id, "i": {} })).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(resp["errors"][0]["extensions"]["field"], "input");
    assert_eq!(resp["data"]["updatePatient"], json!(null));
    let after = app
        .admin(
            "query($id:ID!){ patient(id:$id){ updatedAt firstName } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&before), data(&after), "updatedAt untouched");
    let updates = app
        .audit_events(json!({ "recordId": id, "action": "UPDATE" }))
        .await;
    assert!(updates.is_empty(), "nothing written: {updates:?}");
    // Tests too.
    let test = app.test_id(&key, &id, "ACC-1").await;
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updateTest(id:$id, input:{}){ id } }",
            json!({ "id": test }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn create_answers_without_read_scopes_give_only_the_id() {
    let app = spawn_app().await;
    let writer = app
        .key(&[
            "patients:create",
            "patients.demographics:write",
            "patients.demographics:read",
            "tests:create",
        ])
        .await;
    let resp = app
        .gql_as(
            &writer,
            "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id firstName tests { id } } account { hasAccount } } }",
            json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "firstName": "Ada" } }),
        )
        .await;
    let created = &resp["data"]["createPatient"];
    let id = created["patient"]["id"]
        .as_str()
        .expect("the id is the write's answer");
    assert_eq!(created["patient"]["firstName"], json!(null));
    // The account outcome follows from the caller's own input.
    assert_eq!(created["account"]["hasAccount"], false);
    assert_eq!(
        refused_paths(&resp),
        vec![
            (
                "createPatient.patient.firstName".into(),
                "patients:read".into()
            ),
            ("createPatient.patient.tests".into(), "patients:read".into()),
        ]
    );
    let resp = app
        .gql_as(
            &writer,
            "mutation($i:CreateTestInput!){ createTest(input:$i){ id status accessionNumber patient { id } } }",
            json!({ "i": { "patientId": id, "testCode": "CBC", "testName": "Blood count", "accessionNumber": "ACC-1" } }),
        )
        .await;
    assert!(resp["data"]["createTest"]["id"].is_string());
    assert_eq!(
        refused_paths(&resp),
        vec![
            ("createTest.accessionNumber".into(), "tests:read".into()),
            ("createTest.patient".into(), "patients:read".into()),
            ("createTest.status".into(), "tests:read".into()),
        ]
    );
}

#[tokio::test]
async fn what_a_mutation_answers_is_audited_as_a_read() {
    let app = spawn_app().await;
    let id = patient(&app).await;
    let (key_id, key) = app
        .key_with_id(&[
            "patients:update",
            "patients:read",
            "patients.demographics:read",
            "patients.demographics:write",
        ])
        .await;
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"Lovelace\" }){ patient { id firstName } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["updatePatient"]["patient"]["firstName"], "Ada");
    // Only the id: nothing read.
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"Byron\" }){ patient { id } } }",
            json!({ "id": id }),
        )
        .await;
    data(&resp);
    let reads = app
        .audit_events(json!({ "actorId": key_id, "action": "READ" }))
        .await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["recordIds"], json!([id]));
    assert_eq!(reads[0]["fields"], json!(["firstName", "id"]));
    assert_eq!(reads[0]["operation"], "mutation updatePatient");
}
