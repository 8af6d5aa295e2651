//! Nothing is lost and nothing is sent twice at once: a `switchboard serve` process killed
//! with SIGKILL in the middle of a thousand deliveries, then started again; two processes
//! sharing one PostgreSQL database.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use switchboard_tests::receiver::{Receiver, Reply};
use switchboard_tests::webhooks::loopback_receivers;
use switchboard_tests::{Backend, TestApp, backend, data};

/// Settings of the delivering processes: what `loopback_receivers` sets, by environment.
const PROCESS_ENV: [(&str, &str); 5] = [
    ("SWITCHBOARD__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.0/8"),
    ("SWITCHBOARD__WEBHOOKS__RETRY_SCHEDULE_SECONDS", "1,1,2"),
    ("SWITCHBOARD__WEBHOOKS__POLL_INTERVAL_MS", "100"),
    ("SWITCHBOARD__WEBHOOKS__TIMEOUT_MS", "2000"),
    ("SWITCHBOARD__WEBHOOKS__LEASE_SECONDS", "3"),
];

/// The in-test server registers and writes; only the processes deliver.
fn registers_only(s: &mut switchboard::config::Settings) {
    loopback_receivers(s);
    s.webhooks.deliver = false;
}

/// `n` patients created, 16 requests at a time: `n` events.
async fn burst(app: &TestApp, n: usize) {
    let key = app.bulk_key().await;
    futures_util::stream::iter(0..n)
        .map(|i| {
            let key = key.clone();
            async move {
                app.patient_id(
                    &key,
                    &app.fx.client_a,
                    &app.fx.loc_a1,
                    json!({ "externalPatientId": format!("BURST-{i}") }),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// Every delivery id in the endpoint's log, paging through it, with the statuses seen.
async fn logged(app: &TestApp, endpoint: &str) -> (HashSet<String>, HashSet<String>) {
    let mut ids = HashSet::new();
    let mut statuses = HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let resp = app
            .admin(
                "query($e: ID!, $b: String) { webhookDeliveries(endpointId: $e, first: 100, before: $b) { id status } }",
                json!({ "e": endpoint, "b": before }),
            )
            .await;
        let page = data(&resp)["webhookDeliveries"].as_array().unwrap().clone();
        for d in &page {
            ids.insert(d["id"].as_str().unwrap().to_owned());
            statuses.insert(d["status"].as_str().unwrap().to_owned());
        }
        match page.last() {
            Some(last) if page.len() == 100 => before = last["id"].as_str().map(str::to_owned),
            _ => return (ids, statuses),
        }
    }
}

async fn wait_for_distinct(rx: &Receiver, n: usize, within: Duration) -> HashSet<String> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let distinct: HashSet<String> = rx.received().into_iter().map(|r| r.id).collect();
        if distinct.len() >= n {
            return distinct;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} messages arrived",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_kill_9_in_the_middle_of_a_thousand_deliveries_loses_none() {
    let app = TestApp::builder().configure(registers_only).spawn().await;
    let rx = Receiver::start().await;
    // Slow enough (16 at a time, 50 ms each) that the kill lands in the middle.
    rx.otherwise(Reply {
        delay: Duration::from_millis(50),
        ..Reply::status(200)
    });
    let (endpoint, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    rx.trust(&secret);
    burst(&app, 1000).await;

    let first = app.spawn_process_with(&PROCESS_ENV);
    rx.wait_for(150, Duration::from_secs(60)).await;
    drop(first); // SIGKILL: no graceful stop, leases held, outcomes unwritten
    let at_kill = rx.received().len();
    assert!(
        at_kill < 1000,
        "the kill came too late to prove anything ({at_kill})"
    );

    let _second = app.spawn_process_with(&PROCESS_ENV);
    let distinct = wait_for_distinct(&rx, 1000, Duration::from_secs(90)).await;
    let received = rx.received();
    assert!(received.iter().all(|r| r.verified), "every request signed");
    let duplicates = received.len() - distinct.len();
    eprintln!("killed after {at_kill} requests; {duplicates} sent twice");
    // Only what was in flight at the kill (16 attempts at most, and answers not yet
    // recorded) is sent twice.
    assert!(duplicates <= 32, "{duplicates} duplicates");
    // Every message in the log reached the receiver, and all are delivered.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (ids, statuses) = logged(&app, &endpoint).await;
        assert_eq!(
            ids, distinct,
            "the receiver saw every webhook-id it was sent"
        );
        if statuses == HashSet::from(["DELIVERED".to_owned()]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_endpoint_registered_while_a_backlog_waits_hears_only_what_happened_after_it() {
    let app = TestApp::builder().configure(registers_only).spawn().await;
    let key = app.full_key().await;
    async fn patients(app: &TestApp, key: &str, which: std::ops::Range<usize>) -> Vec<String> {
        let mut ids = vec![];
        for i in which {
            let fields = json!({ "externalPatientId": format!("BACKLOG-{i}") });
            ids.push(
                app.patient_id(key, &app.fx.client_a, &app.fx.loc_a1, fields)
                    .await,
            );
        }
        ids
    }
    let old_rx = Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &old_rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    old_rx.trust(&secret);
    // Nothing delivers yet: these wait in the outbox.
    let before = patients(&app, &key, 0..4).await;
    let new_rx = Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &new_rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    new_rx.trust(&secret);
    let after = patients(&app, &key, 4..6).await;

    let _delivering = app.spawn_process_with(&PROCESS_ENV);
    let record_ids = |got: Vec<switchboard_tests::receiver::Received>| {
        got.iter()
            .map(|r| r.body["data"]["recordId"].as_str().unwrap().to_owned())
            .collect::<HashSet<_>>()
    };
    let old = record_ids(old_rx.wait_for(6, Duration::from_secs(30)).await);
    assert_eq!(old, before.iter().chain(&after).cloned().collect());
    let new = record_ids(new_rx.wait_for(2, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        new,
        after.iter().cloned().collect(),
        "only events since it was registered"
    );
    assert_eq!(new_rx.received().len(), 2);
}

#[tokio::test]
async fn two_processes_on_postgres_share_the_work_and_send_nothing_twice() {
    if backend() != Backend::Postgres {
        eprintln!("two delivering processes need PostgreSQL; skipped on SQLite");
        return;
    }
    let app = TestApp::builder().configure(registers_only).spawn().await;
    let rx = Receiver::start().await;
    rx.otherwise(Reply {
        delay: Duration::from_millis(10),
        ..Reply::status(200)
    });
    let (endpoint, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    rx.trust(&secret);
    let _a = app.spawn_process_with(&PROCESS_ENV);
    let _b = app.spawn_process_with(&PROCESS_ENV);
    burst(&app, 500).await;
    let distinct = wait_for_distinct(&rx, 500, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = rx.received();
    assert_eq!(received.len(), 500, "no message was sent twice");
    assert!(received.iter().all(|r| r.verified));
    let (ids, _) = logged(&app, &endpoint).await;
    assert_eq!(ids, distinct);
}

#[tokio::test]
async fn a_graceful_stop_finishes_the_attempts_under_way() {
    let mut app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    rx.otherwise(Reply {
        delay: Duration::from_millis(700),
        ..Reply::status(200)
    });
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    rx.trust(&secret);
    burst(&app, 5).await;
    rx.wait_for(1, Duration::from_secs(20)).await;
    // Stopped while answers are outstanding: they are waited for and recorded, so the
    // restarted server sends none of them again.
    app.restart().await;
    let distinct = wait_for_distinct(&rx, 5, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), distinct.len(), "nothing sent twice");
}
