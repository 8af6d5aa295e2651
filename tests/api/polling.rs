//! Polling a lab's results feed (`switchboard_tests::services::ResultsFeed`, a real HTTP server
//! on loopback whose watermark moves as the test adds results): page by page from the stored
//! cursor, across a failure and a restart, nothing fetched twice or skipped; scheduled polls
//! on three replicas at once, one at a time; backoff; and who may set or run a poll.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_tests::services::ResultsFeed;
use switchboard_tests::{TestApp, codes, data};

const FEED_KEY: &str = "feed-key-7f3a";
const CREATE: &str = "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id } }";
const SET: &str = "mutation($c: ID!, $i: ServicePollingInput!) { setServicePolling(connectionId: $c, input: $i) { everySeconds cron path enabled cursor nextPollAt consecutiveFailures } }";
const POLL: &str = "mutation($c: ID!) { pollServiceNow(connectionId: $c) { ok pages fetched accepted deadLettered more logEntry { operation outcome errorCode message } polling { cursor consecutiveFailures nextPollAt lastPolledAt lastOutcome pollingNow } } }";
const POLLING: &str = "query($c: ID!) { serviceConnection(id: $c) { polling { cursor consecutiveFailures nextPollAt lastPolledAt lastOutcome lastMessage } } }";
const LOG: &str = "query($c: ID) { integrationLog(filter: { connectionId: $c }, first: 100) { operation outcome errorCode message } }";
const TEST: &str = "query($id: ID!) { test(id: $id) { status updatedAt results { value } } }";

fn local(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
    s.services.run_polls = false;
}

/// A result for `accession` of patient `patient`, as a lab's JSON feed gives it.
fn result(id: &str, patient: &str, accession: &str) -> Value {
    json!({ "messageId": id, "patient": { "id": patient }, "orders": [{
        "accessionNumber": accession, "testCode": "CBC", "testName": "Complete blood count", "status": "FINAL",
        "results": [{ "code": "718-7", "name": "Hemoglobin", "value": "13.2", "unit": "g/dL", "referenceRange": "12.0-16.0", "flag": "N" }] }] })
}

/// A LAB connection over HTTPS_JSON to `feed`, for client A, with the feed's API key.
async fn feed_connection(app: &TestApp, feed: &ResultsFeed) -> String {
    connection_with_key(app, feed, "HTTPS_JSON", FEED_KEY).await
}

/// A LAB connection over `protocol` to `feed`, for client A, sending `api_key`.
async fn connection_with_key(
    app: &TestApp,
    feed: &ResultsFeed,
    protocol: &str,
    api_key: &str,
) -> String {
    let input = json!({
        "name": "Acme feed",
        "serviceType": "LAB",
        "protocol": protocol,
        "address": feed.url(),
        "identifiers": { "receivingFacility": "ACME LAB", "assigningAuthority": "CLINIC-MRN" },
        "clientId": app.fx.client_a,
    });
    let credentials = json!({ "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": api_key });
    let resp = app
        .admin(CREATE, json!({ "i": input, "c": credentials }))
        .await;
    data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{resp:#}"))
        .to_owned()
}

async fn poll_now(app: &TestApp, conn: &str) -> Value {
    let resp = app.admin(POLL, json!({ "c": conn })).await;
    data(&resp)["pollServiceNow"].clone()
}

async fn log(app: &TestApp, conn: &str) -> Vec<Value> {
    let resp = app.admin(LOG, json!({ "c": conn })).await;
    data(&resp)["integrationLog"].as_array().unwrap().clone()
}

/// Lab messages kept (each test has one connection), counted in the database.
async fn kept(app: &TestApp) -> usize {
    use sea_orm::ConnectionTrait;
    let db = app.store().conn();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM lab_messages",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    usize::try_from(n).unwrap()
}

#[tokio::test]
async fn a_feed_is_polled_page_by_page_from_its_stored_cursor_across_a_failure_and_a_restart() {
    let mut app = TestApp::builder().configure(local).spawn().await;
    let feed = ResultsFeed::start(FEED_KEY).await;
    let conn = feed_connection(&app, &feed).await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-100" }),
        )
        .await;
    let mut tests = vec![];
    for i in 1..=5 {
        tests.push(app.test_id(&key, &patient, &format!("ACC-{i}")).await);
    }

    // Not set up yet: a poll is refused, and a bad schedule is refused by field.
    let resp = app.admin(POLL, json!({ "c": conn })).await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "{resp:#}");
    for (input, field) in [
        (json!({ "everySeconds": 0 }), "input.everySeconds"),
        (json!({ "cron": "every day" }), "input.cron"),
        (
            json!({ "everySeconds": 60, "cron": "* * * * *" }),
            "input.cron",
        ),
        (json!({}), "input.everySeconds"),
        (
            json!({ "everySeconds": 60, "path": "../admin" }),
            "input.path",
        ),
    ] {
        let resp = app.admin(SET, json!({ "c": conn, "i": input })).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp:#}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{resp:#}");
    }
    let resp = app
        .admin(
            SET,
            json!({ "c": conn, "i": { "cron": "0 */6 * * *", "path": "results" } }),
        )
        .await;
    let set = &data(&resp)["setServicePolling"];
    assert_eq!(
        (set["cron"].as_str(), set["cursor"].as_str()),
        (Some("0 */6 * * *"), None),
        "{resp:#}"
    );

    // 103 messages: three results for orders, a hundred for a patient Switchboard does not
    // have. Two pages; one log entry for the poll, none per message.
    feed.push([
        result("F-1", "E-100", "ACC-1"),
        result("F-2", "E-100", "ACC-2"),
        result("F-3", "E-100", "ACC-3"),
    ]);
    feed.push((4..=103).map(|i| result(&format!("F-{i}"), "NOBODY", "ACC-X")));
    let polled = poll_now(&app, &conn).await;
    assert_eq!(
        (
            polled["ok"].as_bool(),
            polled["pages"].as_i64(),
            polled["fetched"].as_i64(),
            polled["accepted"].as_i64(),
            polled["deadLettered"].as_i64(),
            polled["more"].as_bool(),
        ),
        (
            Some(true),
            Some(2),
            Some(103),
            Some(3),
            Some(100),
            Some(false)
        ),
        "{polled:#}"
    );
    assert_eq!(polled["polling"]["cursor"], "103");
    assert_eq!(polled["logEntry"]["operation"], "POLL_RESULTS");
    assert!(
        polled["logEntry"]["message"].as_str().unwrap().contains(
            "fetched 103 message(s) in 2 page(s): 3 accepted, 100 to the dead-letter queue"
        ),
        "{polled:#}"
    );
    assert_eq!(feed.afters(), vec![None, Some("100".to_owned())]);
    let entries = log(&app, &conn).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(kept(&app).await, 103);
    for t in &tests[..3] {
        let resp = app.gql_as(&key, TEST, json!({ "id": t })).await;
        assert_eq!(data(&resp)["test"]["status"], "RESULTED", "{resp:#}");
    }

    // Nothing new: asked from the watermark, nothing fetched.
    let polled = poll_now(&app, &conn).await;
    assert_eq!(polled["fetched"], 0, "{polled:#}");
    assert_eq!(feed.afters().last().unwrap().as_deref(), Some("103"));

    // New results while the feed fails: the poll fails, the cursor stays, the next scheduled
    // poll is pushed back.
    feed.push([
        result("F-104", "E-100", "ACC-4"),
        result("F-105", "E-100", "ACC-5"),
    ]);
    feed.fail_next(1);
    let before = chrono::Utc::now();
    let polled = poll_now(&app, &conn).await;
    assert_eq!(polled["ok"], false, "{polled:#}");
    assert_eq!(polled["logEntry"]["outcome"], "FAILED");
    assert_eq!(polled["logEntry"]["errorCode"], "UNEXPECTED_RESPONSE");
    assert!(
        polled["logEntry"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 503"),
        "{polled:#}"
    );
    assert_eq!(polled["polling"]["cursor"], "103");
    assert_eq!(polled["polling"]["consecutiveFailures"], 1);
    assert_eq!(polled["polling"]["lastOutcome"], "FAILED");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(polled["polling"]["nextPollAt"].clone()).unwrap();
    assert!(next >= before + chrono::Duration::seconds(10), "{next}");
    let resp = app.gql_as(&key, TEST, json!({ "id": tests[3] })).await;
    assert_eq!(data(&resp)["test"]["status"], "ORDERED", "{resp:#}");

    // After a restart the watermark is where it was: the two new results, and nothing else.
    app.restart().await;
    let polled = poll_now(&app, &conn).await;
    assert_eq!(
        (
            polled["ok"].as_bool(),
            polled["fetched"].as_i64(),
            polled["accepted"].as_i64()
        ),
        (Some(true), Some(2), Some(2)),
        "{polled:#}"
    );
    assert_eq!(feed.afters().last().unwrap().as_deref(), Some("103"));
    assert_eq!(polled["polling"]["cursor"], "105");
    assert_eq!(polled["polling"]["consecutiveFailures"], 0);
    for t in &tests[3..] {
        let resp = app.gql_as(&key, TEST, json!({ "id": t })).await;
        assert_eq!(data(&resp)["test"]["status"], "RESULTED", "{resp:#}");
    }
    assert_eq!(kept(&app).await, 105);

    // A feed that sends a result again (a lab re-publishing): acknowledged as before,
    // nothing stored twice.
    let first = app.gql_as(&key, TEST, json!({ "id": tests[0] })).await;
    feed.push([result("F-1", "E-100", "ACC-1")]);
    let polled = poll_now(&app, &conn).await;
    assert_eq!(
        (polled["fetched"].as_i64(), polled["accepted"].as_i64()),
        (Some(1), Some(1)),
        "{polled:#}"
    );
    assert_eq!(kept(&app).await, 105);
    let again = app.gql_as(&key, TEST, json!({ "id": tests[0] })).await;
    assert_eq!(data(&again)["test"], data(&first)["test"]);

    // Five polls, five entries; the setting and each poll are audited.
    let entries = log(&app, &conn).await;
    assert_eq!(entries.len(), 5, "{entries:#?}");
    assert!(
        entries.iter().all(|e| e["operation"] == "POLL_RESULTS"),
        "{entries:#?}"
    );
    let events = app
        .audit_events(json!({ "recordType": "service_connection" }))
        .await;
    let ops: Vec<&str> = events
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .filter(|op| op.to_lowercase().contains("poll"))
        .collect();
    assert_eq!(ops.iter().filter(|op| **op == "pollServiceNow").count(), 5);
    assert_eq!(
        ops.iter().filter(|op| **op == "setServicePolling").count(),
        1
    );
}

#[tokio::test]
async fn only_settings_admins_set_or_run_polls_and_only_lab_feeds_are_polled() {
    let app = TestApp::builder().configure(local).spawn().await;
    let feed = ResultsFeed::start(FEED_KEY).await;
    let conn = feed_connection(&app, &feed).await;
    let input = json!({ "c": conn, "i": { "everySeconds": 60 } });
    let key = app.full_key().await;
    let staff = app.staff_session().await;
    for token in [&key, &staff] {
        let resp = app.gql_as(token, SET, input.clone()).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp:#}");
        assert!(resp["data"]["setServicePolling"].is_null());
        let resp = app.gql_as(token, POLL, json!({ "c": conn })).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp:#}");
        let resp = app.gql_as(token, POLLING, json!({ "c": conn })).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp:#}");
    }
    assert_eq!(feed.requests(), 0);

    // A lab that pushes over MLLP has no feed to poll, disabled or not.
    let resp = app
        .admin(
            CREATE,
            json!({ "i": {
                "name": "Acme LIS", "serviceType": "LAB", "protocol": "HL7V2_MLLP",
                "address": "mllp://127.0.0.1:2575", "clientId": app.fx.client_a, "enabled": false,
            }, "c": { "kind": "NONE" } }),
        )
        .await;
    let mllp = data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .admin(SET, json!({ "c": mllp, "i": { "everySeconds": 60 } }))
        .await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "{resp:#}");
    let resp = app
        .admin(
            SET,
            json!({ "c": "00000000-0000-7000-8000-000000000000", "i": { "everySeconds": 60 } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"], "{resp:#}");

    // The feed's credentials are the connection's: a wrong key is AUTH_FAILED, and the key
    // is not in the log.
    let wrong = connection_with_key(&app, &feed, "HTTPS_JSON", "wrong-key-4411").await;
    let resp = app
        .admin(SET, json!({ "c": wrong, "i": { "everySeconds": 60 } }))
        .await;
    assert!(data(&resp)["setServicePolling"].is_object(), "{resp:#}");
    let polled = poll_now(&app, &wrong).await;
    assert_eq!(polled["logEntry"]["errorCode"], "AUTH_FAILED", "{polled:#}");
    assert!(
        !polled["logEntry"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong-key"),
        "{polled:#}"
    );
}

#[tokio::test]
async fn scheduled_polls_run_on_three_replicas_one_at_a_time_and_back_off_while_the_feed_fails() {
    let app = TestApp::builder()
        .configure(|s| {
            local(s);
            s.services.run_polls = true;
        })
        .spawn()
        .await;
    let feed = ResultsFeed::start(FEED_KEY).await;
    // Slow enough that replicas polling at once would overlap.
    feed.set_delay_ms(150);
    let conn = feed_connection(&app, &feed).await;
    let env = [
        ("SWITCHBOARD__SERVICES__ALLOWED_HOSTS", "127.0.0.0/8"),
        ("SWITCHBOARD__SERVICES__RUN_POLLS", "true"),
        ("SWITCHBOARD__SERVICES__HEALTH_CHECK_INTERVAL_SECONDS", "0"),
    ];
    let _second = app.spawn_process_with(&env);
    let _third = app.spawn_process_with(&env);
    let resp = app
        .admin(SET, json!({ "c": conn, "i": { "everySeconds": 1 } }))
        .await;
    assert!(data(&resp)["setServicePolling"].is_object(), "{resp:#}");

    // The lab publishes a result every 200 ms for 8 s.
    for i in 1..=40 {
        feed.push([result(&format!("S-{i}"), "NOBODY", "ACC-X")]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while kept(&app).await < 40 {
        assert!(Instant::now() < deadline, "{:?}", feed.afters());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every poll started from the cursor the one before it stored: none went back.
    let positions: Vec<usize> = feed
        .afters()
        .iter()
        .map(|a| a.as_deref().map_or(0, |a| a.parse().unwrap()))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    assert!(positions.len() >= 3, "{positions:?}");
    assert_eq!(feed.most_in_flight(), 1, "two replicas polled at once");
    assert_eq!(kept(&app).await, 40);

    // The feed goes down: after the first failure the next poll waits 10 s, not 1.
    feed.set_down(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed_at = loop {
        let resp = app.admin(POLLING, json!({ "c": conn })).await;
        let p = &data(&resp)["serviceConnection"]["polling"];
        if p["consecutiveFailures"].as_i64() == Some(1) {
            break feed.requests();
        }
        assert!(Instant::now() < deadline, "{p:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        feed.requests(),
        failed_at,
        "polled again during the backoff"
    );
    let resp = app.admin(POLLING, json!({ "c": conn })).await;
    let p = &data(&resp)["serviceConnection"]["polling"];
    assert_eq!(p["lastOutcome"], "FAILED", "{p:#}");
    let failed: Vec<Value> = log(&app, &conn)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "FAILED")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["errorCode"], "UNEXPECTED_RESPONSE");
}

#[tokio::test]
async fn a_poller_killed_in_the_middle_of_a_page_is_taken_over_from_the_stored_cursor() {
    let app = TestApp::builder().configure(local).spawn().await;
    let feed = ResultsFeed::start(FEED_KEY).await;
    let conn = feed_connection(&app, &feed).await;
    feed.push((1..=300).map(|i| result(&format!("K-{i}"), "NOBODY", "ACC-X")));
    feed.set_delay_ms(300);
    let resp = app
        .admin(
            SET,
            json!({ "c": conn, "i": { "everySeconds": 1, "enabled": true } }),
        )
        .await;
    assert!(data(&resp)["setServicePolling"].is_object(), "{resp:#}");
    let poller = app.spawn_process_with(&[
        ("SWITCHBOARD__SERVICES__ALLOWED_HOSTS", "127.0.0.0/8"),
        ("SWITCHBOARD__SERVICES__RUN_POLLS", "true"),
        ("SWITCHBOARD__SERVICES__POLL_LEASE_SECONDS", "3"),
        ("SWITCHBOARD__SERVICES__HEALTH_CHECK_INTERVAL_SECONDS", "0"),
    ]);
    // Killed once it has asked for the second page: mid-page.
    let deadline = Instant::now() + Duration::from_secs(60);
    while feed.afters().len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", feed.afters());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(poller); // SIGKILL
    let stored = kept(&app).await;
    assert!((100..300).contains(&stored), "{stored}");

    // Its lease still holds: no second poll runs beside it.
    let resp = app.admin(POLL, json!({ "c": conn })).await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "{resp:#}");
    // Once it lapses, a poll goes on from the last page kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    feed.set_delay_ms(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let polled = poll_now(&app, &conn).await;
        assert_eq!(polled["ok"], true, "{polled:#}");
        if !polled["more"].as_bool().unwrap() {
            assert_eq!(polled["polling"]["cursor"], "300", "{polled:#}");
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert_eq!(kept(&app).await, 300);
    let afters = feed.afters();
    let resumed_from = afters[2].as_deref().unwrap_or("0");
    assert!(
        ["100", "200"].contains(&resumed_from),
        "the poll after the kill began at {resumed_from}: {afters:?}"
    );
}

#[tokio::test]
async fn an_hl7_feed_is_polled_for_oru_messages_and_what_is_not_one_is_kept_dead() {
    let app = TestApp::builder().configure(local).spawn().await;
    let feed = ResultsFeed::start(FEED_KEY).await;
    let conn = connection_with_key(&app, &feed, "HL7V2_HTTP", FEED_KEY).await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-700" }),
        )
        .await;
    let test = app.test_id(&key, &patient, "ACC-7").await;
    let oru = "MSH|^~\\&|LIS|ACME LAB|SWITCHBOARD|CLINIC|20261130101500||ORU^R01^ORU_R01|H-1|P|2.5.1\r\
PID|1||E-700^^^CLINIC-MRN^MR||DOE^JANE||19800101|F\r\
OBR|1||ACC-7|CBC^Complete blood count^L|||20261130090000|||||||||||||||20261130101000||HM|F\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-16.0|N|||F\r";
    feed.push([json!(oru), json!({ "not": "an HL7 message" })]);
    let resp = app
        .admin(SET, json!({ "c": conn, "i": { "everySeconds": 600 } }))
        .await;
    assert!(data(&resp)["setServicePolling"].is_object(), "{resp:#}");
    let polled = poll_now(&app, &conn).await;
    assert_eq!(
        (
            polled["ok"].as_bool(),
            polled["fetched"].as_i64(),
            polled["accepted"].as_i64(),
            polled["deadLettered"].as_i64()
        ),
        (Some(true), Some(2), Some(1), Some(1)),
        "{polled:#}"
    );
    let resp = app.gql_as(&key, TEST, json!({ "id": test })).await;
    assert_eq!(data(&resp)["test"]["status"], "RESULTED", "{resp:#}");
    let resp = app
        .admin(
            "query($c: ID) { labMessages(connectionId: $c) { status transport errorCode } }",
            json!({ "c": conn }),
        )
        .await;
    let mut kept: Vec<(String, String, Option<String>)> = data(&resp)["labMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["status"].as_str().unwrap().to_owned(),
                m["transport"].as_str().unwrap().to_owned(),
                m["errorCode"].as_str().map(str::to_owned),
            )
        })
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            ("ACCEPTED".to_owned(), "POLL".to_owned(), None),
            (
                "DEAD".to_owned(),
                "POLL".to_owned(),
                Some("MALFORMED".to_owned())
            ),
        ]
    );
}
