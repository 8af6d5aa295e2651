//! Validation-only requests (`X-Validate-Only: true`), for a partner onboarding to production:
//! every check runs and the answer says what would happen, but nothing is stored, no webhook
//! event is made, and the audit trail records that the request was made.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data};

const CREATE: &str = "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id firstName externalPatientId } } }";
const UPDATE: &str = "mutation($id:ID!,$i:UpdatePatientInput!){ updatePatient(id:$id, input:$i){ patient { id lastName } } }";
const CREATE_TEST: &str =
    "mutation($i:CreateTestInput!){ createTest(input:$i){ id status accessionNumber } }";

async fn validated(app: &TestApp, key: &str, query: &str, variables: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/graphql"))
        .header("X-Api-Key", key)
        .header("X-Validate-Only", "true")
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let conn = app.store().conn();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn stored(app: &TestApp) -> (i64, i64, i64) {
    (
        count(app, "patients").await,
        count(app, "lab_tests").await,
        count(app, "webhook_events").await,
    )
}

#[tokio::test]
async fn a_validation_only_request_runs_every_check_and_stores_nothing() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    let (client, location) = (app.fx.client_a.clone(), app.fx.loc_a1.clone());
    let existing = app
        .patient_id(
            &key,
            &client,
            &location,
            json!({ "externalPatientId": "EXT-1", "lastName": "Before" }),
        )
        .await;
    data(&app.create_test(&key, &existing, "ACC-1").await);
    let before = stored(&app).await;

    // A good create: answered as it would be, marked, and not stored.
    let input = json!({ "clientId": client, "locationId": location, "externalPatientId": "EXT-2", "firstName": "Dry" });
    let (status, resp) = validated(&app, &key, CREATE, json!({ "i": input })).await;
    assert_eq!(status, 200);
    let patient = &data(&resp)["createPatient"]["patient"];
    assert_eq!(patient["firstName"], "Dry");
    assert!(patient["id"].is_string());
    assert_eq!(resp["extensions"]["validationOnly"], true, "{resp}");
    assert_eq!(stored(&app).await, before, "nothing stored, no event made");
    // Sent for real, the same create is then accepted: the rehearsal left nothing behind.
    data(&app.gql_as(&key, CREATE, json!({ "i": input })).await);
    let before = stored(&app).await;

    // Every check still runs: the database's uniqueness rule…
    let dup = json!({ "clientId": client, "locationId": location, "externalPatientId": "EXT-1" });
    let (_, resp) = validated(&app, &key, CREATE, json!({ "i": dup })).await;
    assert_eq!(codes(&resp), vec!["DUPLICATE_PATIENT"], "{resp}");
    assert_eq!(
        resp["errors"][0]["extensions"]["existingPatientId"],
        existing.as_str()
    );
    // …input validation…
    let bad = json!({ "clientId": client, "locationId": location, "dateOfBirth": "yesterday" });
    let (_, resp) = validated(&app, &key, CREATE, json!({ "i": bad })).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp}");
    // …scopes…
    let reader = app.key(&["patients:read"]).await;
    let (_, resp) = validated(&app, &reader, CREATE, json!({ "i": input })).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    // …and row limits (a location outside the key's).
    let (_, limited) = app
        .create_key_with(json!({
            "name": "one location", "scopes": ["patients:create", "patients:read"],
            "environment": "SANDBOX", "locationIds": [app.fx.loc_a2],
        }))
        .await;
    let (_, resp) = validated(
        &app,
        &limited,
        CREATE,
        json!({ "i": { "clientId": client, "locationId": location } }),
    )
    .await;
    assert!(!codes(&resp).is_empty(), "{resp}");
    assert!(resp["data"]["createPatient"].is_null());

    // An update answers with the change and leaves the record as it was.
    let (_, resp) = validated(
        &app,
        &key,
        UPDATE,
        json!({ "id": existing, "i": { "lastName": "After" } }),
    )
    .await;
    assert_eq!(data(&resp)["updatePatient"]["patient"]["lastName"], "After");
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ lastName } }",
            json!({ "id": existing }),
        )
        .await;
    assert_eq!(data(&resp)["patient"]["lastName"], "Before");

    // A test: a reused accession number is refused as it would be; a new one is not stored.
    let test = |acc: &str| json!({ "i": { "patientId": existing, "testCode": "CBC", "testName": "Complete blood count", "accessionNumber": acc } });
    let (_, resp) = validated(&app, &key, CREATE_TEST, test("ACC-1")).await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "{resp}");
    let (_, resp) = validated(&app, &key, CREATE_TEST, test("ACC-2")).await;
    assert_eq!(data(&resp)["createTest"]["accessionNumber"], "ACC-2");
    assert_eq!(stored(&app).await, before, "nothing stored, no event made");

    // The trail says each was asked, and holds no change from them.
    let asked = app.audit_events(json!({ "action": "VALIDATE" })).await;
    let operations: Vec<&str> = asked
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert!(operations.contains(&"mutation createPatient"), "{asked:?}");
    assert!(operations.contains(&"mutation updatePatient"), "{asked:?}");
    assert!(operations.contains(&"mutation createTest"), "{asked:?}");
    let updates = app
        .audit_events(json!({ "action": "UPDATE", "recordId": existing }))
        .await;
    assert!(updates.is_empty(), "{updates:?}");
}

#[tokio::test]
async fn only_rehearsable_operations_may_be_validated_and_the_header_must_be_clear() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    let (status, resp) = validated(
        &app,
        &app.admin_token,
        "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ key } }",
        json!({ "i": { "name": "dry", "scopes": ["patients:read"], "environment": "SANDBOX" } }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(resp["errors"][0]["extensions"]["field"], "X-Validate-Only");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mutation createApiKey")),
        "{resp}"
    );
    let keys = app.admin("{ apiKeys { name } }", json!({})).await;
    assert!(!keys.to_string().contains("\"dry\""), "{keys}");

    // Queries are answered as usual, marked.
    let (status, resp) = validated(
        &app,
        &key,
        "{ patients(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resp["extensions"]["validationOnly"], true);

    let resp = app
        .http
        .post(app.url("/graphql"))
        .header("X-Api-Key", &key)
        .header("X-Validate-Only", "maybe")
        .json(&json!({ "query": "{ viewer { kind } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
