//! The allow/deny matrix of permissions and data categories.

use serde_json::{Value, json};
use switchboard_tests::{ALL_SCOPES, codes, data, spawn_app};

const PATIENT_FIELDS: &str = "id externalPatientId firstName lastName dateOfBirth sex email phone address diagnoses medications insurance billingAccount";

/// Every way to read one patient: alone and through both list forms, whose objects are
/// resolved another way (`graphql/types/plain.rs`). Each is (query, path to the patient).
fn read_forms() -> Vec<(String, Value)> {
    let list = r#"patients(filter:{ externalPatientId: "EXT-1" })"#;
    vec![
        (
            format!("query($id:ID!){{ patient(id:$id){{ {PATIENT_FIELDS} }} }}"),
            json!(["patient"]),
        ),
        (
            format!("{{ {list} {{ nodes {{ {PATIENT_FIELDS} }} }} }}"),
            json!(["patients", "nodes", 0]),
        ),
        (
            format!("{{ {list} {{ edges {{ node {{ {PATIENT_FIELDS} }} }} }} }}"),
            json!(["patients", "edges", 0, "node"]),
        ),
    ]
}

/// The value at `path` (keys and indexes) under `root`.
fn at<'a>(root: &'a Value, path: &Value) -> &'a Value {
    path.as_array()
        .unwrap()
        .iter()
        .fold(root, |v, step| match step {
            Value::Number(i) => &v[i.as_u64().unwrap() as usize],
            other => &v[other.as_str().unwrap()],
        })
}

/// (category, its fields, a value for one of them in a create input)
fn categories() -> Vec<(&'static str, &'static [&'static str], Value)> {
    vec![
        (
            "patients.demographics",
            &["firstName", "lastName", "dateOfBirth", "sex"],
            json!({ "firstName": "Ada" }),
        ),
        (
            "patients.contact",
            &["email", "phone", "address"],
            json!({ "phone": "+1-555-0100" }),
        ),
        (
            "patients.clinical",
            &["diagnoses", "medications"],
            json!({ "diagnoses": ["E11.9"] }),
        ),
        (
            "patients.billing",
            &["insurance", "billingAccount"],
            json!({ "billingAccount": "BA-1" }),
        ),
    ]
}

async fn full_patient(app: &switchboard_tests::TestApp, token: &str) -> String {
    app.patient_id(
        token,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({
            "externalPatientId": "EXT-1", "firstName": "Ada", "lastName": "Lovelace",
            "dateOfBirth": "1990-12-10", "sex": "FEMALE", "email": "ada@example.org",
            "phone": "+1-555-0100", "address": "1 Example Road", "diagnoses": ["E11.9"],
            "medications": ["metformin"], "insurance": "Example Health", "billingAccount": "BA-1"
        }),
    )
    .await
}

#[tokio::test]
async fn each_category_is_readable_only_with_its_read_scope() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let id = full_patient(&app, &full).await;
    for (category, fields, _) in categories() {
        let read = format!("{category}:read");
        let with = app.key(&["patients:read", &read]).await;
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != read).collect();
        let without = app.key(&others).await;
        for (query, path) in read_forms() {
            let resp = app.gql_as(&with, &query, json!({ "id": id })).await;
            let patient = at(&resp["data"], &path);
            for field in fields {
                assert!(
                    !patient[field].is_null(),
                    "{field} should be served with {read}: {query}"
                );
            }
            // Every refusal names a scope of another category, never this one.
            for err in resp["errors"].as_array().unwrap() {
                assert_eq!(err["extensions"]["code"], "FORBIDDEN");
                assert_ne!(err["extensions"]["requiredScope"], json!(read));
            }
            let resp = app.gql_as(&without, &query, json!({ "id": id })).await;
            let patient = at(&resp["data"], &path);
            assert_eq!(
                patient["id"],
                json!(id),
                "the rest of the response is served: {query}"
            );
            for field in fields {
                assert!(
                    patient[field].is_null(),
                    "{field} must be hidden without {read}: {query}"
                );
                let mut field_path = path.as_array().unwrap().clone();
                field_path.push(json!(field));
                let err = resp["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["path"] == json!(field_path))
                    .unwrap_or_else(|| panic!("no error for {field}: {resp}"));
                assert_eq!(err["extensions"]["code"], "FORBIDDEN");
                assert_eq!(err["extensions"]["requiredScope"], json!(read));
            }
        }
    }
}

#[tokio::test]
async fn writing_a_category_needs_its_write_scope_and_writes_nothing_otherwise() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let existing = full_patient(&app, &full).await;
    for (category, _, value) in categories() {
        let write = format!("{category}:write");
        let without: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != write).collect();
        let key = app.key(&without).await;
        let resp = app
            .create_patient(&key, &app.fx.client_a, &app.fx.loc_a1, value.clone())
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{category}: {resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["requiredScope"],
            json!(write)
        );
        let resp = app
            .gql_as(
                &key,
                "mutation($id:ID!,$i:UpdatePatientInput!){ updatePatient(id:$id, input:$i){ patient { id } } }",
                json!({ "id": existing, "i": value }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{category} update: {resp}");
        // And with the scope, the same write succeeds.
        let key = app
            .key(&["patients:create", "patients:update", &write])
            .await;
        let resp = app
            .create_patient(&key, &app.fx.client_a, &app.fx.loc_a1, value.clone())
            .await;
        data(&resp);
    }
    // Only the successful creates exist: the full patient plus one per category.
    let count = app
        .gql_as(&full, "{ patients { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&count)["patients"]["totalCount"], 5);
    // The refused updates changed nothing.
    let (read_alone, _) = &read_forms()[0];
    let resp = app
        .gql_as(&full, read_alone, json!({ "id": existing }))
        .await;
    assert_eq!(data(&resp)["patient"]["phone"], "+1-555-0100");
}

#[tokio::test]
async fn each_permission_is_required_for_its_operation() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let patient = full_patient(&app, &full).await;
    let test = app.test_id(&full, &patient, "ACC-1").await;
    let no = |scope: &'static str| -> Vec<&'static str> {
        ALL_SCOPES.iter().copied().filter(|s| *s != scope).collect()
    };
    let cases: Vec<(&str, String, Value)> = vec![
        ("patients:read", "query($id:ID!){ patient(id:$id){ id } }".into(), json!({ "id": patient })),
        ("patients:read", "{ patients { totalCount } }".into(), json!({})),
        ("tests:read", "query($id:ID!){ test(id:$id){ id status } }".into(), json!({ "id": test })),
        ("tests:read", "{ tests { totalCount } }".into(), json!({})),
        (
            "patients:create",
            "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } } }".into(),
            json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1 } }),
        ),
        (
            "patients:update",
            "mutation($id:ID!){ updatePatient(id:$id, input:{ externalPatientId: \"EXT-9\" }){ patient { id } } }".into(),
            json!({ "id": patient }),
        ),
        (
            "tests:create",
            "mutation($p:ID!){ createTest(input:{ patientId:$p, testCode:\"TSH\", testName:\"TSH\", accessionNumber:\"ACC-2\" }){ id } }".into(),
            json!({ "p": patient }),
        ),
        (
            "tests:update",
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: COLLECTED }){ id } }".into(),
            json!({ "id": test }),
        ),
    ];
    for (scope, query, vars) in cases {
        let denied = app.key(&no(scope)).await;
        let resp = app.gql_as(&denied, &query, vars.clone()).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{scope}: {resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["requiredScope"],
            json!(scope)
        );
        let allowed = app.key(&[scope]).await;
        let resp = app.gql_as(&allowed, &query, vars).await;
        data(&resp);
    }
    // The refused mutations wrote nothing.
    let resp = app
        .gql_as(
            &full,
            "query($id:ID!){ patient(id:$id){ externalPatientId tests { status } } }",
            json!({ "id": patient }),
        )
        .await;
    let p = &data(&resp)["patient"];
    assert_eq!(
        p["externalPatientId"], "EXT-9",
        "only the allowed update applied"
    );
}

#[tokio::test]
async fn nested_fields_are_guarded_too() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let patient = full_patient(&app, &full).await;
    app.create_test(&full, &patient, "ACC-N").await;
    // Tests without patients: the nested patient is refused, the tests are served.
    let key = app.key(&["tests:read"]).await;
    let resp = app
        .gql_as(
            &key,
            "{ tests { nodes { accessionNumber patient { id firstName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        resp["data"]["tests"]["nodes"][0]["accessionNumber"],
        "ACC-N"
    );
    assert_eq!(resp["data"]["tests"]["nodes"][0]["patient"], json!(null));
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["requiredScope"],
        "patients:read"
    );
    // Patients without tests: the nested tests are refused.
    let key = app.key(&["patients:read"]).await;
    let resp = app
        .gql_as(
            &key,
            "{ patients { nodes { id tests { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(resp["data"]["patients"]["nodes"][0]["tests"], json!(null));
    assert_eq!(
        resp["errors"][0]["extensions"]["requiredScope"],
        "tests:read"
    );
}

/// A query whose every field is allowed runs without the per-field guard (`graphql::plan`);
/// these try to get a refused field past that decision: through fragments, aliases, a query
/// text the cache already approved for a stronger key, and a second operation.
#[tokio::test]
async fn refused_fields_stay_refused_however_the_query_is_written() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let id = full_patient(&app, &full).await;
    let weak = app
        .key(&["patients:read", "patients.demographics:read"])
        .await;
    let queries = [
        "query($id:ID!){ patient(id:$id){ firstName ...C } } fragment C on Patient { email }",
        "query($id:ID!){ patient(id:$id){ firstName ... on Patient { email } } }",
        "query($id:ID!){ patient(id:$id){ firstName ... { email } } }",
        "query($id:ID!){ patient(id:$id){ firstName mail: email } }",
        "query($id:ID!){ p: patient(id:$id){ firstName } patient(id:$id){ email } }",
    ];
    for query in queries {
        // First the full key, so that the plan of this exact text is cached as allowed.
        let resp = app.gql_as(&full, query, json!({ "id": id })).await;
        assert!(resp["errors"].is_null(), "{query}: {resp}");
        let resp = app.gql_as(&weak, query, json!({ "id": id })).await;
        let text = resp["data"].to_string();
        assert!(!text.contains("ada@example.org"), "{query} leaked: {resp}");
        assert!(text.contains("Ada"), "{query}: the rest is served: {resp}");
        let errors = resp["errors"].as_array().expect("a refusal");
        assert!(!errors.is_empty(), "{query}");
        for err in errors {
            assert_eq!(err["extensions"]["code"], "FORBIDDEN", "{query}");
            assert_eq!(
                err["extensions"]["requiredScope"], "patients.contact:read",
                "{query}"
            );
        }
    }
    // Two operations in one document: the allowed one runs unguarded, the other is refused.
    let doc = "query A($id:ID!){ patient(id:$id){ firstName } } query B($id:ID!){ patient(id:$id){ email } }";
    for (op, leaks) in [("A", false), ("B", true)] {
        let (_, resp) = app
            .post(
                Some(&weak),
                json!({ "query": doc, "operationName": op, "variables": { "id": id } }),
            )
            .await;
        assert!(!resp.to_string().contains("ada@example.org"), "{op}");
        assert_eq!(!resp["errors"].is_null(), leaks, "{op}: {resp}");
    }
}

/// A partner app's token whose consent was narrowed (one category unticked) gets the same
/// answers, field for field and refusal for refusal, as an API key with the same scopes.
#[tokio::test]
async fn a_narrowed_consent_answers_exactly_as_a_key_with_the_same_scopes() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let id = full_patient(&app, &full).await;
    for (category, fields, _) in categories() {
        let read = format!("{category}:read");
        let approved: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != read).collect();
        let token = app.oauth_token(&ALL_SCOPES, &approved).await;
        let key = app.key(&approved).await;
        for (query, path) in read_forms() {
            let by_token = app.gql_as(&token, &query, json!({ "id": id })).await;
            let by_key = app.gql_as(&key, &query, json!({ "id": id })).await;
            assert_eq!(by_token, by_key, "{category}: {query}");
            let patient = at(&by_token["data"], &path);
            assert_eq!(patient["id"], json!(id));
            for field in fields {
                assert!(patient[field].is_null(), "{field} hidden from the token");
            }
            assert!(
                by_token["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|e| e["extensions"]["requiredScope"] == json!(read))
            );
        }
    }
}
