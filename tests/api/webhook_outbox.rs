//! The webhook outbox: each committed change has its event, written with it; a refused or
//! rolled-back change has none; events carry field names, never patient data.

use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data, spawn_app};

/// Every event in the outbox, oldest first, as (type, record id, client, location, fields).
async fn events(app: &TestApp) -> Vec<(String, String, String, String, Value)> {
    switchboard::store::webhook_events::list_after(app.store().conn(), None, 1000)
        .await
        .map_err(|e| e.message())
        .unwrap()
        .into_iter()
        .map(|e| {
            let id = |v: Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
            (
                e.event_type,
                id(e.record_id),
                id(e.client_id),
                id(e.location_id),
                serde_json::from_str(&e.fields).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_committed_change_has_its_event_and_nothing_else_does() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "EXT-1", "firstName": "Ada", "billingAccount": "BA-1" }),
        )
        .await;
    let all = events(&app).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let (kind, record, client, location, fields) = &all[0];
    assert_eq!(kind, "patient.created");
    assert_eq!(record, &patient);
    assert_eq!((client, location), (&app.fx.client_a, &app.fx.loc_a1));
    assert_eq!(
        fields,
        &json!(["externalPatientId", "firstName", "billingAccount"])
    );

    // Refused (no scope), rolled back (a duplicate external id), or changing nothing: no event.
    let reader = app.key(&["patients:read"]).await;
    let refused = app
        .create_patient(&reader, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert_eq!(codes(&refused), vec!["FORBIDDEN"]);
    let duplicate = app
        .create_patient(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "EXT-1" }),
        )
        .await;
    assert_eq!(codes(&duplicate), vec!["DUPLICATE_PATIENT"], "{duplicate}");
    let empty = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{}){ patient { id } } }",
            json!({ "id": patient }),
        )
        .await;
    assert_eq!(codes(&empty), vec!["VALIDATION_FAILED"]);
    assert_eq!(events(&app).await.len(), 1);

    // An update, a test, its result.
    data(
        &app.gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ phone: \"+1-555-0100\" }){ patient { id } } }",
            json!({ "id": patient }),
        )
        .await,
    );
    let test = app.test_id(&key, &patient, "ACC-1").await;
    data(
        &app.gql_as(
            &key,
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: COLLECTED }){ id } }",
            json!({ "id": test }),
        )
        .await,
    );
    data(
        &app.gql_as(
            &key,
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: RESULTED, results: [{ code: \"HGB\", value: \"13.5\" }] }){ id } }",
            json!({ "id": test }),
        )
        .await,
    );
    let kinds: Vec<(String, Value)> = events(&app)
        .await
        .into_iter()
        .map(|(k, _, _, _, f)| (k, f))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "patient.created".into(),
                json!(["externalPatientId", "firstName", "billingAccount"])
            ),
            ("patient.updated".into(), json!(["phone"])),
            ("test.created".into(), json!([])),
            ("test.updated".into(), json!(["status"])),
            ("test.updated".into(), json!(["status", "results"])),
            ("test.resulted".into(), json!(["status", "results"])),
        ]
    );
    // Thin: no value of any field is in the outbox.
    let raw = format!("{:?}", events(&app).await);
    for value in ["Ada", "BA-1", "555-0100", "13.5"] {
        assert!(!raw.contains(value), "{value} in {raw}");
    }
}

#[tokio::test]
async fn events_survive_a_restart_with_their_changes() {
    let mut app = spawn_app().await;
    let key = app.full_key().await;
    for i in 0..20 {
        app.patient_id(
            &key,
            &app.fx.client_b,
            &app.fx.loc_b1,
            json!({ "externalPatientId": format!("R-{i}") }),
        )
        .await;
    }
    app.restart().await;
    let all = events(&app).await;
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|(k, ..)| k == "patient.created"));
    let count = app
        .gql_as(&key, "{ patients { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&count)["patients"]["totalCount"], 20);
}

/// The plan a session makes for finding the next event after a position while the outbox is
/// empty: with generic plans, the plan that session keeps.
async fn plan_on_empty_outbox(store: &switchboard::store::Store) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let sql = "EXPLAIN SELECT id FROM webhook_events WHERE (txid, seq) > ('1'::xid8, 0) \
               ORDER BY txid, seq LIMIT 1";
    store
        .conn()
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// PostgreSQL: a plan made on the empty outbox scanned it whole at every call for as long as
/// the table had no fresh statistics (a minute or more of a fresh database, growing by
/// thousands of events a second); the worker's sessions take the index regardless.
#[tokio::test]
async fn the_workers_sessions_find_queued_rows_by_index_even_on_an_empty_table() {
    if switchboard_tests::backend() != switchboard_tests::Backend::Postgres {
        return; // SQLite reads the outbox by rowid, which has no other plan
    }
    let db = switchboard_tests::TestDb::new().await;
    let requests = switchboard::store::Store::connect(&db.url, Some(1))
        .await
        .unwrap();
    requests.migrate().await.unwrap();
    // Statistics taken while it is empty, as after a bulk load or autovacuum on a new
    // database.
    use sea_orm::ConnectionTrait;
    requests
        .conn()
        .execute_unprepared("ANALYZE webhook_events")
        .await
        .unwrap();
    let worker = switchboard::store::Store::connect_for_queues(&db.url, Some(1))
        .await
        .unwrap();
    let ordinary = plan_on_empty_outbox(&requests).await;
    assert!(ordinary.contains("Seq Scan"), "{ordinary}");
    let queues = plan_on_empty_outbox(&worker).await;
    assert!(
        queues.contains("Index") && !queues.contains("Seq Scan"),
        "{queues}"
    );
    requests.close().await;
    worker.close().await;
}
