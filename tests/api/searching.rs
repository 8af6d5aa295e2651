//! Searching is reading: a filter on a field needs that field's read scope, and searches
//! and counts are audited with the filter fields they used.

use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};

const BY_NAME: &str =
    "query($n:String!){ patients(filter:{ name: $n }){ totalCount nodes { id } } }";

#[tokio::test]
async fn a_name_filter_needs_the_demographics_read_scope_and_runs_nothing_without_it() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    app.patient_id(
        &full,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "firstName": "Ada", "lastName": "Lovelace" }),
    )
    .await;
    let (_, ids_only) = app.key_with_id(&["patients:read"]).await;
    // Warm up the key (its first use is recorded), then count statements.
    data(
        &app.gql_as(&ids_only, "{ viewer { kind } }", json!({}))
            .await,
    );
    let before = app.statements();
    for probe in ["a", "Lov", "zzz"] {
        let resp = app.gql_as(&ids_only, BY_NAME, json!({ "n": probe })).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["requiredScope"],
            "patients.demographics:read"
        );
        assert_eq!(resp["data"]["patients"], json!(null));
    }
    assert_eq!(app.statements(), before, "refused before any query ran");
    // The other filters need only patients:read.
    let resp = app
        .gql_as(
            &ids_only,
            "query($c:ID!){ patients(filter:{ clientId: $c }){ totalCount } }",
            json!({ "c": app.fx.client_a }),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    // With the scope, the name filter works.
    let names = app
        .key(&["patients:read", "patients.demographics:read"])
        .await;
    let resp = app.gql_as(&names, BY_NAME, json!({ "n": "lov" })).await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    let resp = app.gql_as(&names, BY_NAME, json!({ "n": "zzz" })).await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
}

#[tokio::test]
async fn counts_existence_checks_and_filters_are_audited_as_searches() {
    let app = spawn_app().await;
    let (key_id, key) = app
        .key_with_id(&["patients:read", "patients.demographics:read", "tests:read"])
        .await;
    let resp = app
        .gql_as(
            &key,
            "{ patients(filter:{ name: \"nobody\" }, first: 0){ totalCount pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
    let resp = app
        .gql_as(
            &key,
            "{ tests(filter:{ status: RESULTED, accessionNumber: \"ACC-9\" }){ totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&resp)["tests"]["totalCount"], 0);
    let searches = app
        .audit_events(json!({ "actorId": key_id, "action": "SEARCH" }))
        .await;
    let patient = searches
        .iter()
        .find(|e| e["recordType"] == "patient")
        .unwrap_or_else(|| panic!("patient search audited: {searches:?}"));
    assert_eq!(patient["fields"], json!(["first:0", "name", "totalCount"]));
    assert_eq!(patient["operation"], "query patients");
    assert_eq!(patient["recordIds"], json!([]));
    let test = searches
        .iter()
        .find(|e| e["recordType"] == "test")
        .unwrap_or_else(|| panic!("test search audited: {searches:?}"));
    assert_eq!(
        test["fields"],
        json!(["accessionNumber", "status", "totalCount"])
    );
    // A page without filters, or narrowed only by where records belong and finding some,
    // discloses exactly the rows its READ records: no search of its own.
    let full = app.full_key().await;
    app.patient_id(&full, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let by_client = "query($c:ID!){ patients(filter:{ clientId: $c }){ nodes { id } } }";
    for query in ["{ patients { nodes { id } } }", by_client] {
        let resp = app
            .gql_as(&key, query, json!({ "c": app.fx.client_a }))
            .await;
        assert_eq!(
            data(&resp)["patients"]["nodes"].as_array().unwrap().len(),
            1
        );
    }
    let after = app
        .audit_events(json!({ "actorId": key_id, "action": "SEARCH" }))
        .await;
    assert_eq!(after.len(), searches.len());
    // Finding nothing is an existence check, however it was narrowed.
    let resp = app
        .gql_as(&key, by_client, json!({ "c": app.fx.client_b }))
        .await;
    assert_eq!(data(&resp)["patients"]["nodes"], json!([]));
    let after = app
        .audit_events(json!({ "actorId": key_id, "action": "SEARCH" }))
        .await;
    assert_eq!(after.len(), searches.len() + 1);
    assert_eq!(after[0]["fields"], json!(["clientId"]));
}
