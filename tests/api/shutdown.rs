//! A graceful stop (SIGTERM): no new connections, the requests in flight finished and
//! answered, their audit committed, and a clean exit.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use switchboard_tests::{Backend, TestApp, backend, data};

#[tokio::test]
async fn a_stopping_server_finishes_what_it_has_begun_and_takes_nothing_new() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    let mut server = app.spawn_process();
    let base = server.base.clone();

    // Hold the database's write lock (SQLite) or the patients table (PostgreSQL) from here,
    // so that a create sent to the server is still in flight when it is told to stop.
    let held = app.store().begin_write().await.expect("a transaction");
    let lock = match backend() {
        Backend::Sqlite => "UPDATE patients SET id = id WHERE 0 = 1",
        Backend::Postgres => "LOCK TABLE patients IN SHARE ROW EXCLUSIVE MODE",
    };
    held.txn
        .execute_raw(Statement::from_string(
            held.txn.get_database_backend(),
            lock,
        ))
        .await
        .expect("taking the lock");

    let http = app.http.clone();
    let input = json!({ "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "firstName": "Inflight" });
    let in_flight = tokio::spawn({
        let (base, key) = (base.clone(), key.clone());
        async move {
            http.post(format!("{base}/graphql"))
                .header("X-Api-Key", key)
                .json(&json!({
                    "query": "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } } }",
                    "variables": { "i": input },
                }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !in_flight.is_finished(),
        "the create should be waiting for the lock"
    );

    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // New connections are no longer taken.
    let late = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        late.is_err(),
        "a stopping server took a new request: {late:?}"
    );

    drop(held);
    let status = in_flight
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(status, 200);
    let exit = server
        .exited(Duration::from_secs(20))
        .expect("the server exited");
    assert!(exit.success(), "{exit:?}\n{}", server.output());

    // What it answered is there, with its audit event.
    let resp = app
        .gql_as(
            &key,
            "{ patients(filter: { name: \"Inflight\" }) { nodes { id firstName } } }",
            json!({}),
        )
        .await;
    let nodes: &Value = &data(&resp)["patients"]["nodes"];
    assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{resp}");
    let id = nodes[0]["id"].as_str().unwrap();
    assert!(app.audit_rows_for(id).await >= 1, "the create was audited");
}
