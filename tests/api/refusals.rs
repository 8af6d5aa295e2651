//! The audit trail says what really happened, refused attempts included; refusals say what
//! is missing and teach nothing about the schema when its documentation is closed.

use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};
use uuid::Uuid;

#[tokio::test]
async fn the_operation_recorded_is_what_executed_not_what_the_caller_named_it() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let id = app
        .patient_id(&full, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let (key_id, key) = app.key_with_id(&["patients:read"]).await;
    let long_name = format!("createPatient{}", "x".repeat(5000));
    for name in ["createPatient", long_name.as_str()] {
        let resp = app
            .post(
                Some(&key),
                json!({
                    "query": format!("query {name}($id: ID!) {{ patient(id: $id) {{ id }} }}"),
                    "operationName": name,
                    "variables": { "id": id },
                }),
            )
            .await
            .1;
        data(&resp);
    }
    let reads = app
        .audit_events(json!({ "actorId": key_id, "action": "READ" }))
        .await;
    assert_eq!(reads.len(), 2, "{reads:?}");
    for read in &reads {
        assert_eq!(read["operation"], "query patient");
        let label = read["operationName"].as_str().unwrap();
        assert!(label.starts_with("createPatient") && label.chars().count() <= 100);
    }
}

#[tokio::test]
async fn attempts_outside_a_keys_limits_are_security_events() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let b_patient = app
        .patient_id(&full, &app.fx.client_b, &app.fx.loc_b1, json!({}))
        .await;
    let b_test = app.test_id(&full, &b_patient, "ACC-B").await;
    let (key_id, key) = app
        .create_key_with(json!({
            "name": "A only", "scopes": ["patients:read", "patients:update", "tests:read",
            "tests:create", "tests:update", "patients:create", "patients.demographics:write"],
            "environment": "SANDBOX", "clientIds": [app.fx.client_a],
        }))
        .await;
    let attempts = [
        (
            "query($id:ID!){ patient(id:$id){ id } }",
            json!({ "id": b_patient }),
        ),
        (
            "query($id:ID!){ test(id:$id){ id } }",
            json!({ "id": b_test }),
        ),
        (
            "mutation($id:ID!){ updatePatient(id:$id, input:{ firstName: \"X\" }){ patient { id } } }",
            json!({ "id": b_patient }),
        ),
        (
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: CANCELLED }){ id } }",
            json!({ "id": b_test }),
        ),
        (
            "mutation($p:ID!){ createTest(input:{ patientId:$p, testCode:\"X\", testName:\"X\", accessionNumber:\"X\" }){ id } }",
            json!({ "p": b_patient }),
        ),
    ];
    for (query, vars) in &attempts {
        let resp = app.gql_as(&key, query, vars.clone()).await;
        assert!(
            resp["errors"].is_array()
                || resp["data"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(|v| v.is_null()),
            "{resp}"
        );
    }
    let resp = app
        .create_patient(&key, &app.fx.client_b, &app.fx.loc_b1, json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    // Ids that exist nowhere are misses, not attempts on someone else's records.
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ id } }",
            json!({ "id": Uuid::now_v7().to_string() }),
        )
        .await;
    assert_eq!(data(&resp)["patient"], json!(null));
    let denied = app
        .audit_events(json!({ "actorId": key_id, "action": "DENIED" }))
        .await;
    let mut seen: Vec<(String, String, String)> = denied
        .iter()
        .map(|e| {
            (
                e["fields"][0].as_str().unwrap().to_owned(),
                e["recordType"].as_str().unwrap().to_owned(),
                e["recordIds"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            "createPatient".to_owned(),
            "location".to_owned(),
            app.fx.client_b.clone(),
        ),
        ("createTest".into(), "patient".into(), b_patient.clone()),
        ("patient".into(), "patient".into(), b_patient.clone()),
        ("test".into(), "test".into(), b_test.clone()),
        ("updatePatient".into(), "patient".into(), b_patient.clone()),
        ("updateTest".into(), "test".into(), b_test.clone()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "{denied:?}");
    let read = denied.iter().find(|e| e["fields"][0] == "patient").unwrap();
    assert_eq!(read["operation"], "query patient");
    assert_eq!(read["ip"], "127.0.0.1");
}

#[tokio::test]
async fn refused_fields_are_security_events_and_cannot_flood_the_trail() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let id = app
        .patient_id(
            &full,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "email": "a@example.org" }),
        )
        .await;
    let (key_id, key) = app.key_with_id(&["patients:read"]).await;
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ id email } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let denied = app
        .audit_events(json!({ "actorId": key_id, "action": "DENIED" }))
        .await;
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0]["fields"],
        json!(["patient.email: patients.contact:read"])
    );
    // A hostile client repeating refused requests writes a bounded number of events.
    let many = (0..100).map(|_| {
        app.gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ email phone address } }",
            json!({ "id": id }),
        )
    });
    for resp in futures_util::future::join_all(many).await {
        assert_eq!(codes(&resp).len(), 3);
    }
    let denied = app
        .audit_events(json!({ "actorId": key_id, "action": "DENIED" }))
        .await;
    assert_eq!(denied.len(), 60, "the per-credential budget");
}

#[tokio::test]
async fn every_forbidden_names_what_is_missing() {
    let app = spawn_app().await;
    set_documentation(&app, false).await;
    let key = app.key(&["patients:read"]).await;
    let staff = app.staff_session().await;
    let cases = [
        (key.as_str(), "mutation { logout }"),
        (key.as_str(), "{ apiKeys { id } }"),
        (key.as_str(), "{ tests { totalCount } }"),
        (staff.as_str(), "{ apiKeys { id } }"),
        (
            staff.as_str(),
            "mutation { createClient(name: \"x\", environment: SANDBOX) { id } }",
        ),
        (key.as_str(), "{ __schema { queryType { name } } }"),
    ];
    for (token, query) in cases {
        let resp = app.gql_as(token, query, json!({})).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{query}: {resp}");
        let required = resp["errors"][0]["extensions"]["requiredScope"]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: {resp}"));
        assert!(!required.is_empty(), "{query}");
    }
    let resp = app.gql_as(&key, "mutation { logout }", json!({})).await;
    assert!(
        resp["errors"][0]["extensions"]["requiredScope"]
            .as_str()
            .unwrap()
            .starts_with("role:")
    );
}

#[tokio::test]
async fn errors_suggest_no_schema_names_when_the_documentation_is_closed() {
    let app = spawn_app().await;
    let key = app.key(&["patients:read"]).await;
    set_documentation(&app, false).await;
    let typo = "{ patients { nodes { firstNam } } }";
    let resp = app.gql_as(&key, typo, json!({})).await;
    let message = resp["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("firstNam"), "{message}");
    assert!(!message.contains("Did you mean"), "{message}");
    assert!(!message.contains("firstName"), "{message}");
    // Administrators, and developers once the documentation is open, get the hint.
    let resp = app.admin(typo, json!({})).await;
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean")
    );
    set_documentation(&app, true).await;
    let resp = app.gql_as(&key, typo, json!({})).await;
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean")
    );
}

async fn set_documentation(app: &switchboard_tests::TestApp, on: bool) {
    let resp = app
        .admin(
            "mutation($on: Boolean!) { setDeveloperPortalEnabled(enabled: $on) { developerPortalEnabled } }",
            json!({ "on": on }),
        )
        .await;
    assert_eq!(
        data(&resp)["setDeveloperPortalEnabled"]["developerPortalEnabled"],
        on
    );
}
