//! `/metrics`: what it counts (requests by operation and outcome, latencies, refusals, queues,
//! integration health), and who may read it.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_tests::webhooks::CREATE_ENDPOINT;
use switchboard_tests::{TestApp, codes, data};

async fn scrape(app: &TestApp) -> String {
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    resp.text().await.unwrap()
}

/// The value of the sample `series` (its name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
}

#[tokio::test]
async fn requests_refusals_queues_and_health_are_counted() {
    let app = TestApp::builder()
        .configure(|s| s.webhooks.allowed_hosts = vec!["127.0.0.1".into()])
        .spawn()
        .await;
    let reader = app.key(&["patients:read"]).await;
    for _ in 0..3 {
        data(
            &app.gql_as(
                &reader,
                "{ patients(first: 5) { nodes { id } } }",
                json!({}),
            )
            .await,
        );
    }
    let resp = app
        .gql_as(&reader, "{ tests(first: 5) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    // Made-up field names do not become labels.
    let resp = app
        .gql_as(&reader, "{ madeUpField123 { id } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);

    // A refusal for the address, and one for the rate.
    let (_, fenced) = app
        .create_key_with(json!({
            "name": "fenced", "scopes": ["patients:read"], "environment": "SANDBOX",
            "allowedIps": ["10.0.0.0/8"],
        }))
        .await;
    let resp = app.gql_as(&fenced, "{ viewer { kind } }", json!({})).await;
    assert_eq!(codes(&resp), vec!["IP_NOT_ALLOWED"]);
    let (_, slow) = app
        .create_key_with(json!({
            "name": "slow", "scopes": ["patients:read"], "environment": "SANDBOX",
            "rateLimit": { "perMinute": 1, "burst": 1 },
        }))
        .await;
    data(&app.gql_as(&slow, "{ viewer { kind } }", json!({})).await);
    let resp = app.gql_as(&slow, "{ viewer { kind } }", json!({})).await;
    assert_eq!(codes(&resp), vec!["RATE_LIMITED"]);

    // A webhook endpoint nobody answers at, and an event for it: a message waits.
    let resp = app
        .admin(
            CREATE_ENDPOINT,
            json!({ "i": { "url": "http://127.0.0.1:9/hook" }, "e": "SANDBOX" }),
        )
        .await;
    data(&resp);
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "firstName": "Queued" }),
    )
    .await;

    // A connection to an external service, not checked yet.
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id } }",
            json!({
                "i": { "name": "LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": "https://lis.example.org", "timeoutMs": 2000 },
                "c": { "kind": "NONE" },
            }),
        )
        .await;
    data(&resp);

    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = scrape(&app).await;
        if sample(&text, "switchboard_webhook_queue_messages").is_some_and(|n| n >= 1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no message queued:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        value(
            &text,
            r#"switchboard_graphql_requests_total{operation="query patients",outcome="ok"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"switchboard_graphql_requests_total{operation="query tests",outcome="FORBIDDEN"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"switchboard_graphql_requests_total{operation="query (unknown)",outcome="VALIDATION_FAILED"}"#
        ),
        1.0
    );
    assert!(!text.contains("madeUpField123"), "{text}");
    assert_eq!(
        value(
            &text,
            r#"switchboard_refusals_total{reason="ip_not_allowed"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"switchboard_refusals_total{reason="rate_limited"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"switchboard_http_requests_total{route="/graphql",method="POST",status="403"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"switchboard_http_requests_total{route="/graphql",method="POST",status="429"}"#
        ),
        1.0
    );
    // Latency histograms: every answered request is in the +Inf bucket.
    let answered = value(
        &text,
        r#"switchboard_graphql_request_duration_seconds_count{operation="query patients"}"#,
    );
    assert_eq!(answered, 3.0);
    assert_eq!(
        value(
            &text,
            r#"switchboard_graphql_request_duration_seconds_bucket{operation="query patients",le="+Inf"}"#
        ),
        3.0
    );
    assert!(value(&text, "switchboard_webhook_queue_oldest_seconds") >= 0.0);
    assert_eq!(value(&text, "switchboard_audit_queue_events"), 0.0);
    assert_eq!(
        value(&text, r#"switchboard_integrations{health="UNKNOWN"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"switchboard_integrations{health="DOWN"}"#),
        0.0
    );
    // No credential, patient value or secret: only names and numbers.
    for secret in [&reader, &fenced, &slow, &key, &app.admin_token] {
        assert!(!text.contains(secret.as_str()));
    }
    assert!(!text.contains("Queued"));
}

#[tokio::test]
async fn metrics_are_read_only_from_allowed_addresses_and_with_the_token_when_set() {
    let mut app = TestApp::builder()
        .configure(|s| {
            s.metrics.allowed_addresses = vec!["10.0.0.0/8".into()];
            s.server.trusted_proxies = Vec::new();
        })
        .spawn()
        .await;
    // From loopback, not in the list; a forwarding header from an untrusted peer is ignored.
    for forwarded in [None, Some("10.1.2.3")] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(ip) = forwarded {
            req = req.header("X-Forwarded-For", ip);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(codes(&body), vec!["IP_NOT_ALLOWED"]);
    }
    // Allowed, and a token set: only a scrape with the token is answered.
    app.restart_with(|s| {
        s.metrics.allowed_addresses = vec!["127.0.0.1".into()];
        s.metrics.token = Some("scrape-token-31c5d0".to_owned().into());
    })
    .await;
    for header in [None, Some("Bearer wrong"), Some("scrape-token-31c5d0")] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{header:?}");
    }
    let resp = app
        .http
        .get(app.url("/metrics"))
        .header("Authorization", "Bearer scrape-token-31c5d0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("switchboard_audit_queue_events"), "{text}");
    assert!(!text.contains("scrape-token-31c5d0"));
}
