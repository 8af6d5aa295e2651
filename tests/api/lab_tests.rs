use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};

const UPDATE: &str = "mutation($id:ID!,$i:UpdateTestInput!){ updateTest(id:$id, input:$i){ status collectedAt resultedAt cancelledAt results { code value unit referenceRange abnormalFlag } } }";

#[tokio::test]
async fn a_test_follows_its_lifecycle_and_refuses_illegal_moves() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let created = app.create_test(&key, &patient, "ACC-100").await;
    assert_eq!(data(&created)["createTest"]["status"], "ORDERED");
    let id = data(&created)["createTest"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "COLLECTED" } }),
        )
        .await;
    assert!(data(&resp)["updateTest"]["collectedAt"].is_string());
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "ORDERED" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(resp["errors"][0]["extensions"]["field"], "input.status");
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "IN_PROGRESS" } }),
        )
        .await;
    assert_eq!(data(&resp)["updateTest"]["status"], "IN_PROGRESS");
    let results = json!([{ "code": "718-7", "value": "13.5", "unit": "g/dL", "referenceRange": "12-16", "abnormalFlag": "NORMAL" }]);
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "RESULTED", "results": results } }),
        )
        .await;
    let test = &data(&resp)["updateTest"];
    assert_eq!(test["status"], "RESULTED");
    assert!(test["resultedAt"].is_string());
    assert_eq!(test["results"][0]["value"], "13.5");
    assert_eq!(test["results"][0]["abnormalFlag"], "NORMAL");
    // Final states are final.
    for status in ["CANCELLED", "IN_PROGRESS"] {
        let resp = app
            .gql_as(&key, UPDATE, json!({ "id": id, "i": { "status": status } }))
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{status}");
    }
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "results": [{ "code": "718-7", "value": "1" }] } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ test(id:$id){ status results { value } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data(&resp)["test"],
        json!({ "status": "RESULTED", "results": [{ "value": "13.5" }] })
    );
}

#[tokio::test]
async fn cancelling_and_accession_numbers() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let id = app.test_id(&key, &patient, "ACC-200").await;
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "CANCELLED" } }),
        )
        .await;
    assert!(data(&resp)["updateTest"]["cancelledAt"].is_string());
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "COLLECTED" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    // An accession number is unique within a client.
    let resp = app.create_test(&key, &patient, "ACC-200").await;
    assert_eq!(codes(&resp), vec!["CONFLICT"]);
    // Told by the database's report of which rule broke, not guessed from the input.
    assert_eq!(
        resp["errors"][0]["message"],
        "this accession number is already used for this client"
    );
    // Filters: by status and patient.
    let resp = app
        .gql_as(
            &key,
            "query($p:ID!){ tests(filter:{ patientId:$p, status: CANCELLED }) { totalCount } }",
            json!({ "p": patient }),
        )
        .await;
    assert_eq!(data(&resp)["tests"]["totalCount"], 1);
    let resp = app
        .create_test(&key, "00000000-0000-0000-0000-000000000000", "ACC-300")
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn final_tests_stay_final_and_timestamps_keep_their_order() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let ordered_at = "2026-01-10T08:00:00Z";
    let resp = app
        .gql_as(
            &key,
            "mutation($i:CreateTestInput!){ createTest(input:$i){ id orderedAt } }",
            json!({ "i": { "patientId": patient, "testCode": "CBC", "testName": "Blood count", "accessionNumber": "ACC-1", "orderedAt": ordered_at } }),
        )
        .await;
    let id = data(&resp)["createTest"]["id"].as_str().unwrap().to_owned();
    // Collected before it was ordered, or in the future: refused.
    for at in ["2026-01-09T08:00:00Z", "2999-01-01T00:00:00Z"] {
        let resp = app
            .gql_as(
                &key,
                UPDATE,
                json!({ "id": id, "i": { "status": "COLLECTED", "collectedAt": at } }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{at}");
        assert_eq!(
            resp["errors"][0]["extensions"]["field"],
            "input.collectedAt"
        );
    }
    // An order in the future: refused.
    let resp = app
        .gql_as(
            &key,
            "mutation($i:CreateTestInput!){ createTest(input:$i){ id } }",
            json!({ "i": { "patientId": patient, "testCode": "CBC", "testName": "Blood count", "accessionNumber": "ACC-2", "orderedAt": "2999-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    let resp = app
        .gql_as(&key, UPDATE, json!({ "id": id, "i": { "status": "COLLECTED", "collectedAt": "2026-01-11T08:00:00Z" } }))
        .await;
    data(&resp);
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "RESULTED", "results": [{ "code": "718-7", "value": "13.5", "unit": "g/dL" }] } }),
        )
        .await;
    let resulted = data(&resp)["updateTest"].clone();
    // Nothing of a resulted test can be rewritten: not its results, not its timestamps.
    for (input, field) in [
        (
            json!({ "results": [{ "code": "718-7", "value": "99" }] }),
            "input.results",
        ),
        (
            json!({ "collectedAt": "2026-01-12T08:00:00Z" }),
            "input.collectedAt",
        ),
        (
            json!({ "status": "RESULTED", "collectedAt": "2026-01-12T08:00:00Z" }),
            "input.collectedAt",
        ),
        (json!({ "status": "CANCELLED" }), "input.status"),
    ] {
        let resp = app
            .gql_as(&key, UPDATE, json!({ "id": id, "i": input }))
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{input}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{input}");
    }
    // A retried RESULTED is answered with the test as it is, unchanged.
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": id, "i": { "status": "RESULTED" } }),
        )
        .await;
    assert_eq!(data(&resp)["updateTest"], resulted);
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ test(id:$id){ orderedAt collectedAt resultedAt updatedAt } }",
            json!({ "id": id }),
        )
        .await;
    let t = &data(&resp)["test"];
    let at = |f: &str| chrono::DateTime::parse_from_rfc3339(t[f].as_str().unwrap()).unwrap();
    assert!(at("orderedAt") <= at("collectedAt") && at("collectedAt") <= at("resultedAt"));
    assert_eq!(t["resultedAt"], resulted["resultedAt"]);
    // A cancelled test is final too.
    let other = app.test_id(&key, &patient, "ACC-3").await;
    data(
        &app.gql_as(
            &key,
            UPDATE,
            json!({ "id": other, "i": { "status": "CANCELLED" } }),
        )
        .await,
    );
    let resp = app
        .gql_as(
            &key,
            UPDATE,
            json!({ "id": other, "i": { "collectedAt": "2026-01-12T08:00:00Z" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}
