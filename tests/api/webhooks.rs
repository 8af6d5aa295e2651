//! Webhook delivery end to end: a real receiver on loopback checks every signature with its
//! own code; events arrive thin, signed and only where subscribed; retries follow the
//! schedule and `Retry-After`; `410` and long failure disable an endpoint; failures are
//! classified in the delivery log.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_tests::receiver::{Receiver, Reply};
use switchboard_tests::webhooks::loopback_receivers;
use switchboard_tests::{TestApp, codes, data};

async fn app() -> TestApp {
    TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await
}

const SECONDS: Duration = Duration::from_secs(20);

#[tokio::test]
async fn subscribed_events_arrive_signed_thin_and_only_from_their_environment() {
    let app = app().await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED", "TEST_RESULTED"]))
        .await;
    assert!(secret.starts_with("whsec_"));
    rx.trust(&secret);
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "W-1", "firstName": "Ada", "lastName": "Lovelace" }),
        )
        .await;
    let got = rx.wait_for(1, SECONDS).await;
    let first = &got[0];
    assert!(first.verified, "signature or timestamp wrong: {first:?}");
    assert!(first.id.starts_with("msg_"));
    assert_eq!(first.body["type"], "patient.created");
    let d = &first.body["data"];
    assert_eq!(d["recordType"], "patient");
    assert_eq!(d["recordId"], patient.as_str());
    assert_eq!(d["clientId"], app.fx.client_a.as_str());
    assert_eq!(d["locationId"], app.fx.loc_a1.as_str());
    assert_eq!(d["environment"], "SANDBOX");
    assert_eq!(
        d["fields"],
        json!(["externalPatientId", "firstName", "lastName"])
    );
    let raw = first.body.to_string();
    assert!(
        !raw.contains("Ada") && !raw.contains("Lovelace"),
        "patient data in {raw}"
    );

    // Not subscribed (an update, a test created), another environment (client P): nothing.
    // A result: test.resulted.
    data(&app.gql_as(&key, "mutation($id: ID!) { updatePatient(id: $id, input: { phone: \"+1-555-0100\" }) { patient { id } } }", json!({ "id": patient })).await);
    let production = app
        .create_key_with(json!({ "name": "prod", "scopes": ["patients:create", "patients:read"], "environment": "PRODUCTION" }))
        .await
        .1;
    app.patient_id(
        &production,
        &app.fx.client_p,
        &app.fx.loc_p1,
        json!({ "externalPatientId": "P-1" }),
    )
    .await;
    let test = app.test_id(&key, &patient, "ACC-1").await;
    data(&app.gql_as(&key, "mutation($id: ID!) { updateTest(id: $id, input: { status: RESULTED, results: [{ code: \"HGB\", value: \"13.5\" }] }) { id } }", json!({ "id": test })).await);
    let got = rx.wait_for(2, SECONDS).await;
    assert_eq!(got[1].body["type"], "test.resulted");
    assert_eq!(got[1].body["data"]["recordId"], test.as_str());
    assert!(got[1].verified);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.received().len(), 2, "{:?}", rx.received());

    // The log: both delivered at the first attempt, under the ids the receiver saw.
    let log = app.wait_for_deliveries(&endpoint, "DELIVERED", 2).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["id"], first.id.as_str(), "newest first");
    assert_eq!(log[1]["eventType"], "PATIENT_CREATED");
    assert_eq!(log[1]["attemptCount"], 1);
    assert_eq!(log[1]["attempts"][0]["httpStatus"], 200);
    assert_eq!(log[1]["attempts"][0]["error"], Value::Null);
    assert_eq!(log[1]["attempts"][0]["detail"], "received");
}

#[tokio::test]
async fn retries_keep_the_id_follow_the_schedule_and_honour_retry_after() {
    let app = app().await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(None, &rx.url, None).await;
    rx.trust(&secret);
    // Schedule: 1 s, 1 s, 2 s. The second failure asks for 2 s, more than its 1 s.
    rx.script([
        Reply::status(503),
        Reply {
            retry_after: Some(2),
            ..Reply::status(429)
        },
        Reply::status(200),
    ]);
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "R-1" }),
    )
    .await;
    let got = rx.wait_for(3, SECONDS).await;
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id for every attempt"
    );
    assert!(got.iter().all(|r| r.verified));
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    assert!(
        gap1 >= Duration::from_millis(850) && gap1 < Duration::from_millis(1800),
        "first retry after {gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(1900) && gap2 < Duration::from_millis(3000),
        "Retry-After not honoured: {gap2:?}"
    );
    let log = app.wait_for_deliveries(&endpoint, "DELIVERED", 1).await;
    let attempts: Vec<(Value, Value)> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["httpStatus"].clone(), a["error"].clone()))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (json!(503), json!("HTTP_5XX")),
            (json!(429), json!("HTTP_4XX")),
            (json!(200), Value::Null)
        ]
    );

    // A receiver that keeps failing: four attempts (the first and three retries), then the
    // message has failed. A 400 is not retried at all.
    rx.otherwise(Reply::status(500));
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "R-2" }),
    )
    .await;
    let log = app.wait_for_deliveries(&endpoint, "FAILED", 1).await;
    assert_eq!(log[0]["attemptCount"], 4, "{log:#?}");
    rx.otherwise(Reply::status(400));
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "R-3" }),
    )
    .await;
    let log = app.wait_for_deliveries(&endpoint, "FAILED", 2).await;
    assert_eq!(log[0]["attemptCount"], 1, "{log:#?}");
    assert_eq!(log[0]["attempts"][0]["error"], "HTTP_4XX");
}

#[tokio::test]
async fn gone_disables_at_once_and_enabling_again_resumes_what_was_pending() {
    let app = app().await;
    let rx = Receiver::start().await;
    let watcher = Receiver::start().await;
    let (endpoint, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    rx.trust(&secret);
    let (_, watcher_secret) = app
        .webhook_endpoint(None, &watcher.url, Some(&["INTEGRATION_STATUS_CHANGED"]))
        .await;
    watcher.trust(&watcher_secret);
    rx.script([Reply::status(410)]);
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "G-1" }),
    )
    .await;
    let first = rx.wait_for(1, SECONDS).await[0].clone();
    let news = watcher.wait_for(1, SECONDS).await;
    assert_eq!(news[0].body["type"], "integration.status_changed");
    assert_eq!(news[0].body["data"]["recordId"], endpoint.as_str());
    assert!(news[0].verified);
    let state = app.endpoint_state(&endpoint).await;
    assert_eq!(state["enabled"], false);
    assert_eq!(state["disabledReason"], "GONE");

    // While disabled nothing is sent, and new events are not kept for it.
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "G-2" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.received().len(), 1);

    let resp = app
        .admin(
            "mutation($id: ID!) { enableWebhookEndpoint(id: $id) { enabled disabledReason } }",
            json!({ "id": endpoint }),
        )
        .await;
    assert_eq!(data(&resp)["enableWebhookEndpoint"]["enabled"], true);
    let got = rx.wait_for(2, SECONDS).await;
    assert_eq!(got[1].id, first.id, "the pending message, resumed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 2);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_classified_and_a_failing_endpoint_is_disabled() {
    fn quick(s: &mut switchboard::config::Settings) {
        loopback_receivers(s);
        s.webhooks.timeout_ms = 300;
        s.webhooks.disable_after_failing_seconds = 1;
    }
    let app = TestApp::builder().configure(quick).spawn().await;
    let rx = Receiver::start().await;
    rx.otherwise(Reply {
        delay: Duration::from_secs(2),
        ..Reply::status(200)
    });
    let (slow, _) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (refused, _) = app
        .webhook_endpoint(
            None,
            &format!("http://127.0.0.1:{port}/hook"),
            Some(&["PATIENT_CREATED"]),
        )
        .await;
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "T-1" }),
    )
    .await;

    // The first failure starts the streak; the retry a second later finds it over a second
    // old and disables the endpoint.
    let deadline = std::time::Instant::now() + SECONDS;
    loop {
        let (a, b) = (
            app.endpoint_state(&slow).await,
            app.endpoint_state(&refused).await,
        );
        if a["enabled"] == false && b["enabled"] == false {
            assert_eq!(a["disabledReason"], "FAILING");
            assert_eq!(b["disabledReason"], "FAILING");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{a} {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors = |log: &[Value]| -> Vec<Value> {
        log[0]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["error"].clone())
            .collect()
    };
    let slow_log = app.deliveries(&slow).await;
    assert!(errors(&slow_log).len() >= 2, "{slow_log:#?}");
    assert!(
        errors(&slow_log).iter().all(|e| e == "TIMEOUT"),
        "{slow_log:#?}"
    );
    assert_eq!(
        slow_log[0]["status"], "PENDING",
        "kept for when it is enabled"
    );
    let refused_log = app.deliveries(&refused).await;
    assert!(
        errors(&refused_log)
            .iter()
            .all(|e| e == "CONNECTION_REFUSED"),
        "{refused_log:#?}"
    );
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_overlap_then_with_the_new_one() {
    let app = app().await;
    let rx = Receiver::start().await;
    let (endpoint, old) = app.webhook_endpoint(None, &rx.url, None).await;
    rx.trust(&old);
    let rotate = |overlap: i64| {
        let app = &app;
        let endpoint = endpoint.clone();
        async move {
            let resp = app
                .admin(
                    "mutation($id: ID!, $o: Int!) { rotateWebhookSecret(id: $id, overlapSeconds: $o) { signingSecret webhookEndpoint { secrets { prefix expiresAt } } } }",
                    json!({ "id": endpoint, "o": overlap }),
                )
                .await;
            data(&resp)["rotateWebhookSecret"]["signingSecret"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let new = rotate(3600).await;
    assert_ne!(new, old);
    rx.trust(&new);
    let send = |n: usize| {
        let app = &app;
        let endpoint = endpoint.clone();
        let rx = rx.clone();
        async move {
            let resp = app
                .admin(
                    "mutation($e: ID!) { sendTestWebhookEvent(endpointId: $e) { id status } }",
                    json!({ "e": endpoint }),
                )
                .await;
            assert_eq!(data(&resp)["sendTestWebhookEvent"]["status"], "PENDING");
            rx.wait_for(n, SECONDS).await[n - 1].clone()
        }
    };
    let during = send(1).await;
    assert_eq!(during.body["type"], "webhook.test");
    assert_eq!(during.signatures.len(), 2);
    assert_eq!(during.matched, vec![0, 1], "old and new both sign");

    let newest = rotate(0).await;
    rx.trust(&newest);
    let after = send(2).await;
    assert_eq!(after.signatures.len(), 1);
    assert_eq!(after.matched, vec![2], "only the newest signs");
    // The secrets are never shown again: the endpoint lists prefixes.
    let state = app.endpoint_state(&endpoint).await;
    let listed = state["secrets"].to_string();
    assert_eq!(state["secrets"].as_array().unwrap().len(), 3);
    for s in [&old, &new, &newest] {
        assert!(!listed.contains(s.as_str()));
    }
}

#[tokio::test]
async fn deliveries_can_be_sent_again_one_or_all_since_a_time() {
    let app = app().await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(None, &rx.url, None).await;
    rx.trust(&secret);
    let key = app.full_key().await;
    for i in 0..3 {
        app.patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": format!("S-{i}") }),
        )
        .await;
    }
    rx.wait_for(3, SECONDS).await;
    let log = app.wait_for_deliveries(&endpoint, "DELIVERED", 3).await;
    let resp = app
        .admin(
            "mutation($id: String!) { resendWebhookDelivery(id: $id) { id status } }",
            json!({ "id": log[2]["id"] }),
        )
        .await;
    assert_eq!(data(&resp)["resendWebhookDelivery"]["status"], "PENDING");
    let got = rx.wait_for(4, SECONDS).await;
    assert_eq!(
        got[3].id,
        log[2]["id"].as_str().unwrap(),
        "the same webhook-id"
    );

    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    let resp = app
        .admin(
            "mutation($e: ID!, $s: DateTime!) { replayWebhookDeliveries(endpointId: $e, since: $s) }",
            json!({ "e": endpoint, "s": since }),
        )
        .await;
    assert_eq!(data(&resp)["replayWebhookDeliveries"], 3);
    let got = rx.wait_for(7, SECONDS).await;
    let mut replayed: Vec<&str> = got[4..].iter().map(|r| r.id.as_str()).collect();
    replayed.sort();
    let mut logged: Vec<&str> = log.iter().map(|d| d["id"].as_str().unwrap()).collect();
    logged.sort();
    assert_eq!(replayed, logged);

    // Unknown or malformed ids.
    let resp = app
        .admin(
            "mutation($id: String!) { resendWebhookDelivery(id: $id) { id } }",
            json!({ "id": "msg_00000000000000000000000000000000" }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);
    let resp = app
        .admin(
            "mutation($id: String!) { resendWebhookDelivery(id: $id) { id } }",
            json!({ "id": "12" }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn finished_deliveries_are_removed_after_the_retention_and_pending_ones_stay() {
    fn no_retention(s: &mut switchboard::config::Settings) {
        loopback_receivers(s);
        s.webhooks.retention_days = 0;
        s.webhooks.key_expiry_check_seconds = 1;
        s.webhooks.retry_schedule_seconds = vec![60];
    }
    let app = TestApp::builder().configure(no_retention).spawn().await;
    let rx = Receiver::start().await;
    let (endpoint, _) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    let key = app.full_key().await;
    for i in 0..2 {
        app.patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": format!("K-{i}") }),
        )
        .await;
    }
    rx.wait_for(2, SECONDS).await;
    // One more that the receiver refuses for now: pending, due in a minute.
    rx.script([Reply::status(503)]);
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "K-2" }),
    )
    .await;
    rx.wait_for(3, SECONDS).await;
    let deadline = std::time::Instant::now() + SECONDS;
    loop {
        let log = app.deliveries(&endpoint).await;
        let statuses: Vec<&str> = log.iter().map(|d| d["status"].as_str().unwrap()).collect();
        if statuses == ["PENDING"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Events fanned out are gone too, and a new one is still delivered.
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "K-3" }),
    )
    .await;
    let got = rx.wait_for(4, SECONDS).await;
    assert_eq!(got[3].body["type"], "patient.created");
    let left = switchboard::store::webhook_events::list_after(app.store().conn(), None, 100)
        .await
        .map_err(|e| e.message())
        .unwrap();
    assert!(left.len() <= 2, "{} events left", left.len());
}
