//! Two servers on one PostgreSQL database: a credential works on both, and a change made on
//! one (a key revoked, rotated, narrowed; the server-wide settings) is in force on the other
//! as soon as PostgreSQL has delivered the change's notification, although that one had the
//! key in its cache (5 s): alone, at its very next request; on a machine busy with the whole
//! suite, a request sent the same millisecond may still be let through.

use serde_json::{Value, json};
use switchboard_tests::{Backend, ServerProcess, TestApp, backend, codes, data, spawn_app};

const VIEWER: &str = "{ viewer { name } }";

/// Status and body of a request to the other server.
async fn on(app: &TestApp, other: &ServerProcess, token: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}/graphql", other.base))
        .bearer_auth(token)
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Asks the other server with `token` until it answers `status`: how long that took after the
/// change committed. Far below the cache's 5 s, or the change was not heard.
async fn refused_within(
    app: &TestApp,
    other: &ServerProcess,
    token: &str,
    status: u16,
    code: &str,
) {
    let started = std::time::Instant::now();
    loop {
        let (now, body) = on(app, other, token).await;
        if now == status {
            assert_eq!(codes(&body), [code]);
            break;
        }
        assert_eq!(now, 200, "{body}");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1000),
            "still accepted {:?} after the change",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    eprintln!(
        "refused on the other replica {:?} after the change",
        started.elapsed()
    );
}

/// Uses `token` on the other server a few times, so that it is in its cache.
async fn warm(app: &TestApp, other: &ServerProcess, token: &str) {
    for _ in 0..3 {
        let (status, body) = on(app, other, token).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_change_on_one_replica_is_in_force_on_the_other_at_its_next_request() {
    if backend() != Backend::Postgres {
        eprintln!("PostgreSQL only: replicas share a PostgreSQL database, not a SQLite file");
        return;
    }
    let app = spawn_app().await;
    let other = app.spawn_process();

    // A key made on one works on the other; revoked on one, refused on the other at once.
    let (id, key) = app.key_with_id(&["patients:read"]).await;
    warm(&app, &other, &key).await;
    let resp = app
        .admin(
            "mutation($id:ID!){ revokeApiKey(id:$id){ status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["revokeApiKey"]["status"], "REVOKED");
    // In force as soon as the other hears the change's notification: a few milliseconds, which
    // under the full suite's load can be later than the test's next request.
    refused_within(&app, &other, &key, 401, "UNAUTHENTICATED").await;

    // A rotation's end: the old secret is refused on the other at once, the new one works.
    let (id, old) = app.key_with_id(&["patients:read"]).await;
    warm(&app, &other, &old).await;
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id){ secret } }",
            json!({ "id": id }),
        )
        .await;
    let new = data(&resp)["rotateApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    warm(&app, &other, &old).await;
    app.admin(
        "mutation($id:ID!){ endApiKeyRotation(id:$id){ status } }",
        json!({ "id": id }),
    )
    .await;
    refused_within(&app, &other, &old, 401, "UNAUTHENTICATED").await;
    assert_eq!(on(&app, &other, &new).await.0, 200);

    // Narrowed to other addresses: refused on the other at once.
    let (id, key) = app.key_with_id(&["patients:read"]).await;
    warm(&app, &other, &key).await;
    app.admin(
        "mutation($id:ID!){ setApiKeyLimits(id:$id, input:{ allowedIps: [\"192.0.2.0/24\"] }){ id } }",
        json!({ "id": id }),
    )
    .await;
    refused_within(&app, &other, &key, 403, "IP_NOT_ALLOWED").await;

    // The server-wide settings too.
    let fresh = app.key(&["patients:read"]).await;
    warm(&app, &other, &fresh).await;
    let resp = app
        .admin(
            "mutation($i:ProtectionSettingsInput!){ setProtectionSettings(input:$i){ allowedIps } }",
            json!({ "i": {
                "allowedIps": ["192.0.2.0/24"],
                "credentialRateLimit": { "perMinute": 6000, "burst": 600 },
                "addressRateLimit": { "perMinute": 600, "burst": 100 },
            } }),
        )
        .await;
    data(&resp);
    refused_within(&app, &other, &fresh, 403, "IP_NOT_ALLOWED").await;

    // A portal session made on the other is accepted here, and its logout ends it here.
    let resp = app
        .http
        .post(format!("{}/graphql", other.base))
        .json(&json!({
            "query": "mutation($e:String!,$p:String!){ login(email:$e, password:$p){ token } }",
            "variables": { "e": switchboard_tests::ADMIN_EMAIL, "p": switchboard_tests::ADMIN_PASSWORD },
        }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let session = data(&body)["login"]["token"].as_str().unwrap().to_owned();
    assert_eq!(app.status_with(&session).await, 200);
    let resp = app
        .http
        .post(format!("{}/graphql", other.base))
        .bearer_auth(&session)
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(app.status_with(&session).await, 401);
}
