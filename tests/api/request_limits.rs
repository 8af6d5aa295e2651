//! The request limits an operator configures (`[limits]`): each is tried just inside and just
//! over, and each refusal names its limit in `extensions.limit`. The defaults are tried in
//! `cost.rs` and `bad_input.rs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data};

fn limit(resp: &Value) -> &str {
    resp["errors"][0]["extensions"]["limit"]
        .as_str()
        .unwrap_or_else(|| panic!("no limit named: {resp}"))
}

async fn small_limits() -> TestApp {
    TestApp::builder()
        .configure(|s| {
            s.limits.max_depth = 4;
            s.limits.max_aliases = 2;
            s.limits.max_complexity = 40;
            s.limits.max_page_size = 5;
            s.limits.max_batch = 2;
            s.server.max_body_bytes = 2_000;
        })
        .spawn()
        .await
}

#[tokio::test]
async fn each_configured_limit_admits_what_is_within_it_and_names_itself_when_exceeded() {
    let app = small_limits().await;
    let key = app.full_key().await;

    // Depth: `patients > nodes > tests > id` is 4 deep; one more level is 5.
    let resp = app
        .gql_as(
            &key,
            "{ patients(first: 2) { nodes { tests { id } } } }",
            json!({}),
        )
        .await;
    data(&resp);
    let resp = app
        .gql_as(
            &key,
            "{ patients(first: 2) { nodes { tests { patient { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"], "{resp}");
    assert_eq!(limit(&resp), "depth");
    assert!(
        resp["data"].is_null(),
        "refused before anything ran: {resp}"
    );

    // Aliases.
    let resp = app
        .gql_as(&key, "{ a: viewer { kind } b: viewer { kind } }", json!({}))
        .await;
    data(&resp);
    let resp = app
        .gql_as(
            &key,
            "{ a: viewer { kind } b: viewer { kind } c: viewer { kind } }",
            json!({}),
        )
        .await;
    assert_eq!(limit(&resp), "aliases", "{resp}");

    // Page size: at the limit, over it (a literal and a variable), and the default page of
    // 50 that the schema would otherwise ask for.
    let resp = app
        .gql_as(&key, "{ patients(first: 5) { nodes { id } } }", json!({}))
        .await;
    data(&resp);
    for (query, vars) in [
        ("{ patients(first: 6) { nodes { id } } }", json!({})),
        (
            "query($n: Int!) { tests(first: $n) { nodes { id } } }",
            json!({ "n": 6 }),
        ),
        ("{ patients { nodes { id } } }", json!({})),
    ] {
        let resp = app.gql_as(&key, query, vars).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{query}: {resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], "first");
        assert!(
            resp["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("between 0 and 5"),
            "{resp}"
        );
    }

    // Complexity: each page item's fields count once per item. 5 × (id + 3 fields) fits in
    // 40; two such pages do not.
    let one = "p: patients(first: 5) { nodes { id firstName lastName dateOfBirth } }";
    data(&app.gql_as(&key, &format!("{{ {one} }}"), json!({})).await);
    let two = "{ a: patients(first: 5) { nodes { id firstName lastName dateOfBirth } } \
               b: patients(first: 5) { nodes { id firstName lastName dateOfBirth } } }";
    let resp = app.gql_as(&key, two, json!({})).await;
    assert_eq!(limit(&resp), "complexity", "{resp}");

    // Batch size.
    let batch = |n: usize| -> Value {
        (0..n)
            .map(|_| json!({ "query": "{ viewer { kind } }" }))
            .collect()
    };
    let (status, body) = app.post(Some(&key), batch(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    let (status, body) = app.post(Some(&key), batch(3)).await;
    assert_eq!(status, 400);
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"]);
    assert_eq!(limit(&body), "batch");

    // Request body.
    let padded = |n: usize| json!({ "query": format!("{{ viewer {{ kind }} }}{}", " ".repeat(n)) });
    let (status, body) = app.post(Some(&key), padded(1_000)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.post(Some(&key), padded(2_000)).await;
    assert_eq!(status, 413);
    assert_eq!(limit(&body), "body");
}

/// Runs `request` while the server's only database connection is held for `hold`: whatever
/// it reads waits that long, deterministically, on either backend.
async fn with_database_held<F: std::future::Future>(
    app: &TestApp,
    hold: Duration,
    request: F,
) -> F::Output {
    let held = app
        .store()
        .begin_write()
        .await
        .expect("holding the connection");
    let release = async move {
        tokio::time::sleep(hold).await;
        drop(held);
    };
    tokio::join!(request, release).0
}

#[tokio::test]
async fn a_query_over_the_time_limit_is_stopped_and_a_mutation_is_not() {
    let mut app = TestApp::builder()
        .configure(|s| {
            s.limits.execution_timeout_ms = 300;
            s.database.max_connections = Some(1);
        })
        .spawn()
        .await;
    let key = app.full_key().await;
    let (client, location) = (app.fx.client_a.clone(), app.fx.loc_a1.clone());
    let patient = app
        .patient_id(&key, &client, &location, json!({ "firstName": "Slow" }))
        .await;
    let query = "{ patients(first: 5) { totalCount nodes { id firstName tests { id } } } }";
    // Within the limit: answered in full.
    let resp = app.gql_as(&key, query, json!({})).await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);

    let hold = Duration::from_millis(1_500);
    let started = Instant::now();
    let resp = with_database_held(&app, hold, app.gql_as(&key, query, json!({}))).await;
    assert_eq!(codes(&resp), vec!["TIMEOUT"], "{resp}");
    assert_eq!(limit(&resp), "executionTime");
    assert!(
        resp["data"].is_null(),
        "nothing of a stopped query is sent: {resp}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A mutation waits as long as it must and is done: its caller could not otherwise know
    // whether the change was made.
    let create = app.create_test(&key, &patient, "SLOW-1");
    let resp = with_database_held(&app, hold, create).await;
    assert_eq!(data(&resp)["createTest"]["status"], "ORDERED", "{resp}");

    // The limit is the operator's: a generous one lets the same wait through.
    app.restart_with(|s| s.limits.execution_timeout_ms = 60_000)
        .await;
    // The key is looked up once, not while the connection is held.
    data(&app.gql_as(&key, "{ viewer { kind } }", json!({})).await);
    let resp = with_database_held(&app, hold, app.gql_as(&key, query, json!({}))).await;
    assert!(
        data(&resp)["patients"]["nodes"][0]["tests"][0]["id"].is_string(),
        "{resp}"
    );
}

#[tokio::test]
async fn limits_that_would_refuse_everything_or_open_everything_stop_the_server_starting() {
    let app = TestApp::builder().spawn().await;
    for (name, value) in [
        ("SWITCHBOARD__LIMITS__MAX_DEPTH", "0"),
        ("SWITCHBOARD__LIMITS__MAX_PAGE_SIZE", "100000"),
        ("SWITCHBOARD__LIMITS__EXECUTION_TIMEOUT_MS", "0"),
    ] {
        let (code, log) = app.serve_refused(&[(name, value)]);
        assert_ne!(code, Some(0), "{name}={value} started: {log}");
        assert!(log.contains("limits."), "{name}: {log}");
    }
}
