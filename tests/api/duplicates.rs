use serde_json::Value;
use serde_json::json;
use switchboard_tests::{TestApp, codes, data, spawn_app};

#[tokio::test]
async fn twenty_concurrent_creates_of_one_external_id_make_one_patient() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let attempts = (0..20).map(|_| {
        app.create_patient(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "MRN-RACE" }),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let created: Vec<_> = results
        .iter()
        .filter(|r| r.get("errors").is_none())
        .collect();
    assert_eq!(created.len(), 1, "exactly one create succeeds");
    let winner = created[0]["data"]["createPatient"]["patient"]["id"].clone();
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(codes(r), vec!["DUPLICATE_PATIENT"], "{r}");
        assert_eq!(r["errors"][0]["extensions"]["existingPatientId"], winner);
    }
    let resp = app
        .gql_as(
            &key,
            "{ patients(filter:{ externalPatientId: \"MRN-RACE\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    // The change and its audit row are written together: the 19 refused creates left none.
    let resp = app
        .admin(
            "{ auditEvents(filter:{ action: \"CREATE\", recordType: \"patient\" }) { nodes { recordIds } } }",
            json!({}),
        )
        .await;
    let creates = data(&resp)["auditEvents"]["nodes"].as_array().unwrap();
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0]["recordIds"], json!([winner]));
}

/// Concurrent creates are stored together (SQLite group commit): refused ones among them must
/// leave nothing behind and must not take the others down with them.
#[tokio::test]
async fn refused_creates_among_concurrent_ones_leave_the_others_stored_with_their_audit() {
    let mut app = spawn_app().await;
    let key = app.full_key().await;
    let attempts = (0..30).map(|i| {
        // Every third create reuses one external id; the others are unique.
        let external = if i % 3 == 0 {
            "MRN-SHARED".to_owned()
        } else {
            format!("MRN-{i}")
        };
        app.create_patient(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": external }),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut created = Vec::new();
    for r in &results {
        match r.get("errors") {
            None => created.push(
                r["data"]["createPatient"]["patient"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            Some(_) => assert_eq!(codes(r), vec!["DUPLICATE_PATIENT"], "{r}"),
        }
    }
    assert_eq!(created.len(), 21, "20 unique ids and one of the 10 shared");
    app.restart().await;
    for id in &created {
        assert_eq!(app.audit_rows_for(id).await, 1, "{id} has its audit row");
    }
    let resp = app
        .gql_as(
            &key,
            "query($c:ID!){ patients(first: 100, filter:{ clientId:$c }) { nodes { id } } }",
            json!({ "c": app.fx.client_a }),
        )
        .await;
    let mut stored: Vec<String> = data(&resp)["patients"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    created.sort();
    assert_eq!(
        stored, created,
        "exactly the accepted creates survive a restart"
    );
}

/// Creates client A's MRN-1 again as `key` in `location`; asserts that it is refused as a
/// duplicate and returns the existing id the error discloses (null when hidden).
async fn retry_mrn1(app: &TestApp, key: &str, location: &str) -> Value {
    let resp = app
        .create_patient(
            key,
            &app.fx.client_a,
            location,
            json!({ "externalPatientId": "MRN-1" }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["DUPLICATE_PATIENT"]);
    resp["errors"][0]["extensions"]["existingPatientId"].clone()
}

#[tokio::test]
async fn duplicates_are_per_client_and_the_existing_id_is_shown_only_to_who_may_see_it() {
    let app = spawn_app().await;
    let full = app.full_key().await;
    let first = app
        .patient_id(
            &full,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "MRN-1" }),
        )
        .await;
    // Same external id, other client: a different patient.
    let other = app
        .patient_id(
            &full,
            &app.fx.client_b,
            &app.fx.loc_b1,
            json!({ "externalPatientId": "MRN-1" }),
        )
        .await;
    assert_ne!(first, other);
    // A create-only key learns that the patient exists, but not its id.
    let create_only = app.key(&["patients:create"]).await;
    assert_eq!(
        retry_mrn1(&app, &create_only, &app.fx.loc_a1).await,
        json!(null)
    );
    // A key limited to the other location cannot see it either.
    let (_, a2) = app
        .create_key_with(json!({ "name": "a2", "scopes": ["patients:create", "patients:read"], "environment": "SANDBOX", "locationIds": [app.fx.loc_a2] }))
        .await;
    assert_eq!(retry_mrn1(&app, &a2, &app.fx.loc_a2).await, json!(null));
    // A reader sees it.
    assert_eq!(retry_mrn1(&app, &full, &app.fx.loc_a1).await, json!(first));
    // Updating another patient to a taken external id is refused the same way.
    let second = app
        .patient_id(
            &full,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "MRN-2" }),
        )
        .await;
    let resp = app
        .gql_as(
            &full,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ externalPatientId: \"MRN-1\" }){ patient { id } } }",
            json!({ "id": second }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["DUPLICATE_PATIENT"]);
    let resp = app
        .gql_as(
            &full,
            "query($c:ID!){ patients(filter:{ clientId:$c }) { totalCount } }",
            json!({ "c": app.fx.client_a }),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 2);
}
