//! Rates shared by replicas through Redis, and what happens when Redis goes away mid-run.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_tests::TestApp;
use switchboard_tests::redis::RedisServer;

/// Sends one query with `key` to the server at `base`: the answer's status.
async fn status(app: &TestApp, base: &str, key: &str) -> u16 {
    app.http
        .post(format!("{base}/graphql"))
        .header("X-Api-Key", key)
        .json(&json!({ "query": "{ viewer { kind } }" }))
        .send()
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

async fn ready(app: &TestApp, base: &str) -> String {
    let resp = app.http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "ready with or without Redis");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn replicas_share_a_rate_through_redis_and_go_on_limiting_alone_when_it_goes_away() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app = TestApp::builder()
        .configure(move |s| s.redis.url = Some(url.into()))
        .spawn()
        .await;
    let other = app.spawn_process_with(&[
        ("SWITCHBOARD__REDIS__URL", &redis.url()),
        ("RUST_LOG", "info"),
    ]);
    let (_, key) = app
        .create_key_with(json!({
            "name": "shared", "scopes": ["patients:read"], "environment": "SANDBOX",
            "rateLimit": { "perMinute": 1, "burst": 4 },
        }))
        .await;
    let (here, there) = (app.base.clone(), other.base.clone());

    // One allowance of 4 for both replicas: two here, two there, then neither.
    for base in [&here, &there, &here, &there] {
        assert_eq!(status(&app, base, &key).await, 200);
    }
    assert_eq!(status(&app, &here, &key).await, 429);
    assert_eq!(status(&app, &there, &key).await, 429);
    for base in [&here, &there] {
        assert!(ready(&app, base).await.contains("rate limits shared"));
    }

    // Redis dies: each replica goes on answering, and limiting, by itself.
    redis.stop();
    for base in [&here, &there] {
        for _ in 0..4 {
            assert_eq!(status(&app, base, &key).await, 200, "{base}");
        }
        assert_eq!(status(&app, base, &key).await, 429, "{base}");
        assert!(
            ready(&app, base).await.contains("redis unavailable"),
            "{base}"
        );
    }
    assert!(
        other.output().contains("Redis is unreachable"),
        "{}",
        other.output()
    );

    // It comes back (empty): the replicas share again within a few seconds.
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    for base in [&here, &there] {
        while !ready(&app, base).await.contains("rate limits shared") {
            assert!(Instant::now() < deadline, "{base} did not see Redis again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for base in [&there, &here, &there, &here] {
        assert_eq!(status(&app, base, &key).await, 200);
    }
    assert_eq!(status(&app, &there, &key).await, 429);
    assert_eq!(status(&app, &here, &key).await, 429);
    assert!(other.output().contains("Redis answers again"));
}
