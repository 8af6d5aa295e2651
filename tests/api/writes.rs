//! A change and its effects (today its audit event) are one unit: when an effect cannot be
//! written, the change is not stored either, through both write paths (a new row, batched on
//! SQLite and one statement on PostgreSQL; a change in a transaction of its own).

use sea_orm::ConnectionTrait;
use serde_json::json;
use switchboard_tests::{TestApp, codes, data, spawn_app};

/// Takes the audit table away (and gives it back), so that writing an audit event fails the
/// way a full disk or a lost table would: in the database, not in a mock.
async fn audit_table(app: &TestApp, present: bool) {
    let (from, to) = if present {
        ("audit_events_away", "audit_events")
    } else {
        ("audit_events", "audit_events_away")
    };
    app.store()
        .conn()
        .execute_unprepared(&format!("ALTER TABLE {from} RENAME TO {to}"))
        .await
        .expect("renaming the audit table");
}

async fn external_ids(app: &TestApp, token: &str, ext: &str) -> usize {
    let resp = app
        .gql_as(
            token,
            "query($e:String){ patients(filter:{externalPatientId:$e}){ nodes { id } } }",
            json!({ "e": ext }),
        )
        .await;
    data(&resp)["patients"]["nodes"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_change_whose_audit_event_cannot_be_written_is_not_stored() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let (a, a1) = (app.fx.client_a.clone(), app.fx.loc_a1.clone());
    let id = app
        .patient_id(
            &key,
            &a,
            &a1,
            json!({ "externalPatientId": "W-1", "firstName": "Ada" }),
        )
        .await;

    audit_table(&app, false).await;
    let created = app
        .create_patient(&key, &a, &a1, json!({ "externalPatientId": "W-2" }))
        .await;
    assert_eq!(codes(&created), vec!["INTERNAL"], "{created}");
    let updated = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{firstName:\"Grace\"}){ patient { id } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(codes(&updated), vec!["INTERNAL"], "{updated}");
    let ordered = app.create_test(&key, &id, "ACC-W").await;
    assert_eq!(codes(&ordered), vec!["INTERNAL"], "{ordered}");
    audit_table(&app, true).await;

    assert_eq!(
        external_ids(&app, &key, "W-2").await,
        0,
        "no patient without its event"
    );
    let read = app
        .gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ firstName tests { id } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data(&read)["patient"]["firstName"],
        "Ada",
        "the update was undone"
    );
    assert_eq!(
        data(&read)["patient"]["tests"],
        json!([]),
        "no test was ordered"
    );

    // With the table back, the same writes go through, each with its event.
    let created = app
        .create_patient(&key, &a, &a1, json!({ "externalPatientId": "W-2" }))
        .await;
    let new_id = data(&created)["createPatient"]["patient"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.audit_rows_for(&new_id).await, 1);
    let ordered = app.create_test(&key, &id, "ACC-W").await;
    let test_id = data(&ordered)["createTest"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.audit_rows_for(&test_id).await,
        2,
        "its CREATE, and the READ of the answer that showed it"
    );
}
