use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};

async fn patient_count(app: &switchboard_tests::TestApp) -> i64 {
    let resp = app.admin("{ patients { totalCount } }", json!({})).await;
    data(&resp)["patients"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let app = spawn_app().await;
    let (status, body) = app.post_raw("{ not json", "application/json").await;
    assert_eq!(status, 400);
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"]);
    let (status, body) = app.post_raw("{\"variables\":{}}", "application/json").await;
    assert_eq!(status, 400);
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"]);
    // GraphQL syntax errors.
    let resp = app.admin("{ patients { ", json!({})).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    // Unknown fields.
    let resp = app
        .admin("{ patients { nodes { socialSecurityNumber } } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn bad_inputs_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let fx = app.fx.clone();
    let huge = "x".repeat(10_000);
    let cases = [
        (json!({ "unknownField": 1 }), None),
        (json!({ "firstName": 42 }), None),
        (json!({ "dateOfBirth": "not-a-date" }), None),
        (
            json!({ "dateOfBirth": "2999-01-01" }),
            Some("input.dateOfBirth"),
        ),
        (json!({ "sex": "ROBOT" }), None),
        (json!({ "firstName": huge }), Some("input.firstName")),
        (json!({ "firstName": "   " }), Some("input.firstName")),
        (
            json!({ "externalPatientId": "has spaces" }),
            Some("input.externalPatientId"),
        ),
        (
            json!({ "diagnoses": vec!["x"; 101] }),
            Some("input.diagnoses"),
        ),
        (
            json!({ "locationId": "not-a-uuid" }),
            Some("input.locationId"),
        ),
        (json!({ "locationId": fx.loc_b1 }), Some("input.locationId")),
    ];
    for (fields, field) in cases {
        let resp = app
            .create_patient(&key, &fx.client_a, &fx.loc_a1, fields.clone())
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{fields}: {resp}");
        if let Some(field) = field {
            assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{fields}");
        }
    }
    assert_eq!(patient_count(&app).await, 0);
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused() {
    let app = spawn_app().await;
    let big = "y".repeat(2 * 1024 * 1024);
    let (status, body) = app
        .post(
            Some(&app.admin_token),
            json!({ "query": "{ viewer { kind } }", "variables": { "pad": big } }),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"]);
    let batch: Vec<_> = (0..11)
        .map(|_| json!({ "query": "{ viewer { kind } }" }))
        .collect();
    let (status, _) = app.post(Some(&app.admin_token), json!(batch)).await;
    assert_eq!(status, 400);
    let batch: Vec<_> = (0..2)
        .map(|_| json!({ "query": "{ viewer { kind } }" }))
        .collect();
    let (status, body) = app.post(Some(&app.admin_token), json!(batch)).await;
    assert_eq!(status, 200);
    assert_eq!(body[1]["data"]["viewer"]["kind"], "ADMIN");
}

#[tokio::test]
async fn too_deep_queries_are_refused() {
    let app = spawn_app().await;
    let deep = "{ tests { nodes { patient { tests { patient { tests { patient { tests { patient { tests { patient { id } } } } } } } } } } } }";
    let resp = app.admin(deep, json!({})).await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
}

#[tokio::test]
async fn internal_errors_carry_a_correlation_id_and_no_details() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let key = app.full_key().await;
    // Break the database under the running server.
    app.store()
        .conn()
        .execute_unprepared("DROP TABLE lab_tests")
        .await
        .unwrap();
    let resp = app
        .gql_as(&key, "{ tests { totalCount } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["INTERNAL"]);
    assert_eq!(resp["errors"][0]["message"], "internal error");
    assert!(resp["errors"][0]["extensions"]["correlationId"].is_string());
    assert!(
        !resp.to_string().contains("lab_tests"),
        "no internal detail leaks: {resp}"
    );
}

#[tokio::test]
async fn control_characters_are_refused_in_every_string_argument() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let nul = "a\u{0}b";
    let cases = [
        (
            "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } } }",
            json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "externalPatientId": "X-1", "address": nul } }),
        ),
        (
            "query($n:String!){ patients(filter:{ name: $n }){ totalCount } }",
            json!({ "n": nul }),
        ),
        (
            "query($a:String!){ tests(filter:{ accessionNumber: $a }){ totalCount } }",
            json!({ "a": "\u{7}bell" }),
        ),
        (
            "query($c:String){ patients(after: $c){ totalCount } }",
            json!({ "c": nul }),
        ),
        (
            "mutation($id:ID!){ updatePatient(id:$id, input:{ firstName: \"a\\u0000b\" }){ patient { id } } }",
            json!({ "id": patient }),
        ),
    ];
    for (query, vars) in cases {
        let resp = app.gql_as(&key, query, vars.clone()).await;
        assert_eq!(
            codes(&resp),
            vec!["VALIDATION_FAILED"],
            "{query} {vars}: {resp}"
        );
        assert!(resp["data"].is_null(), "nothing ran: {resp}");
    }
    // Nothing was written.
    let resp = app
        .gql_as(&key, "{ patients { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    // Line breaks and tabs are text.
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!,$a:String!){ updatePatient(id:$id, input:{ address: $a }){ patient { address } } }",
            json!({ "id": patient, "a": "1 Example Road\nExample Town" }),
        )
        .await;
    assert_eq!(
        data(&resp)["updatePatient"]["patient"]["address"],
        "1 Example Road\nExample Town"
    );
}
