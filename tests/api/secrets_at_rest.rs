//! Secrets kept in the database (webhook signing secrets, the access-token signing keys) are
//! sealed under a master key the database never holds; a server without the key that sealed
//! them refuses to start; `switchboard keys rotate` seals them again under a new key, after
//! which the old key can go and everything still works.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;
use serde_json::json;
use switchboard_tests::receiver::Receiver;
use switchboard_tests::services::HttpService;
use switchboard_tests::webhooks::loopback_receivers;
use switchboard_tests::{Backend, TestApp, backend};

/// `(value, key_id)` of every row of a sealed column, read straight from the database.
async fn stored(app: &TestApp, table: &str, column: &str) -> Vec<(String, Option<String>)> {
    let db = app.store().conn();
    let sql = format!("SELECT {column} AS value, key_id FROM {table}");
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "value").unwrap(),
                r.try_get::<Option<String>>("", "key_id").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn signing_secrets_and_keys_are_sealed_in_the_database() {
    let app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(None, &rx.url, None).await;
    let rows = stored(&app, "webhook_endpoint_secrets", "secret").await;
    assert_eq!(rows.len(), 1);
    let (value, key_id) = &rows[0];
    assert!(key_id.is_some(), "sealed");
    assert!(!value.contains("whsec_"), "{value}");
    let raw = secret.trim_start_matches("whsec_");
    assert!(!value.contains(raw));
    let keys = stored(&app, "oauth_signing_keys", "private_key").await;
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|(_, id)| id == key_id), "one master key");

    // Sealed, and still what signs: the receiver checks the signature with the secret it was
    // given.
    rx.trust(&secret);
    let writer = app.full_key().await;
    app.patient_id(
        &writer,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "SEALED-1" }),
    )
    .await;
    let got = rx.wait_for(1, Duration::from_secs(20)).await;
    assert!(got[0].verified);
}

#[tokio::test]
async fn keys_rotate_seals_everything_again_and_then_the_old_key_can_go() {
    let old_key = switchboard::keyring::generate_key();
    let new_key = switchboard::keyring::generate_key();
    let configured = old_key.clone();
    let app = TestApp::builder()
        .configure(move |s| {
            loopback_receivers(s);
            // This server registers; the processes started below deliver.
            s.webhooks.deliver = false;
            s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
            s.secrets.master_key = Some(SecretString::from(configured));
        })
        .spawn()
        .await;
    let rx = Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["PATIENT_CREATED"]))
        .await;
    rx.trust(&secret);
    // A connection whose API key is sealed too.
    let lis = HttpService::start("lis-key-sealed").await;
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id } }",
            json!({
                "i": { "name": "LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": format!("http://127.0.0.1:{}/", lis.addr.port()) },
                "c": { "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": "lis-key-sealed" },
            }),
        )
        .await;
    let connection = switchboard_tests::data(&resp)["createServiceConnection"]["id"].clone();
    // And a records service's inbound secret.
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: { kind: NONE }) { id } }",
            json!({ "i": { "name": "Records", "serviceType": "RECORDS_EXCHANGE", "protocol": "HTTPS_JSON", "address": format!("http://127.0.0.1:{}/", lis.addr.port()) } }),
        )
        .await;
    let records = switchboard_tests::data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .admin(
            "mutation($id: ID!) { rotateServiceInboundSecret(id: $id) { secret } }",
            json!({ "id": records }),
        )
        .await;
    let inbound = switchboard_tests::data(&resp)["rotateServiceInboundSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = stored(&app, "webhook_endpoint_secrets", "secret").await;

    // A server with a key that sealed nothing here refuses to start, and says which key it
    // lacks.
    let sealed_under = before[0].1.clone().unwrap();
    let (status, stderr) =
        app.serve_refused(&[("SWITCHBOARD__SECRETS__MASTER_KEY", new_key.as_str())]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains(&sealed_under), "{stderr}");
    assert!(stderr.contains("not configured"), "{stderr}");
    assert!(!stderr.contains(&new_key) && !stderr.contains(&old_key));

    // Rotation: the new key current, the old one still opening.
    let rotate = || {
        app.command(&[
            ("SWITCHBOARD__SECRETS__MASTER_KEY", new_key.as_str()),
            (
                "SWITCHBOARD__SECRETS__PREVIOUS_MASTER_KEYS",
                old_key.as_str(),
            ),
        ])
        .args(["keys", "rotate"])
        .output()
        .unwrap()
    };
    let out = rotate();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let after = stored(&app, "webhook_endpoint_secrets", "secret").await;
    let new_id = after[0].1.clone().unwrap();
    assert_ne!(new_id, sealed_under);
    assert_ne!(after[0].0, before[0].0);
    assert!(said.contains(&new_id), "{said}");
    for (table, column) in [
        ("oauth_signing_keys", "private_key"),
        ("service_connections", "credentials"),
        ("service_inbound_secrets", "secret"),
    ] {
        let rows = stored(&app, table, column).await;
        assert!(
            rows.iter()
                .all(|(_, id)| id.as_deref() == Some(new_id.as_str())),
            "{table}"
        );
    }
    // Run again, there is nothing left to do.
    let again = rotate();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("sealed 0 secret(s)"),
        "{again:?}"
    );

    // The old key alone no longer opens anything.
    let (status, stderr) = app.serve_refused(&[]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains(&new_id), "{stderr}");

    // The new key alone: the server starts, opens the signing secret and signs with it.
    let delivering = app.spawn_process_with(&[
        ("SWITCHBOARD__SECRETS__MASTER_KEY", new_key.as_str()),
        ("SWITCHBOARD__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.0/8"),
        ("SWITCHBOARD__WEBHOOKS__POLL_INTERVAL_MS", "100"),
        ("SWITCHBOARD__SERVICES__ALLOWED_HOSTS", "127.0.0.0/8"),
    ]);
    // It opens the connection's key and the service takes it.
    let answer: serde_json::Value = app
        .http
        .post(format!("{}/graphql", delivering.base))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "query": "mutation($id: ID!) { testConnection(id: $id) { ok message } }", "variables": { "id": connection } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["testConnection"]["ok"], true, "{answer}");
    // It opens the inbound secret: a message signed with it is checked and read (it names no
    // request, so 404), not refused as unsigned (401).
    let (status, body) = switchboard_tests::services::RecordsService::answer(
        &format!("{}/services/{records}/inbound", delivering.base),
        &inbound,
        "msg_rotated",
        chrono::Utc::now().timestamp(),
        &json!({ "requestId": uuid::Uuid::now_v7(), "status": "NOT_FOUND" }),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let writer = app.full_key().await;
    app.patient_id(
        &writer,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "ROTATED-1" }),
    )
    .await;
    let got = rx.wait_for(1, Duration::from_secs(30)).await;
    assert!(
        got[0].verified,
        "signed with the secret sealed before rotation"
    );
}

#[tokio::test]
async fn sqlite_keeps_its_key_in_a_file_beside_the_database_and_will_not_start_without_it() {
    if backend() != Backend::Sqlite {
        eprintln!("the key file is SQLite's; skipped on PostgreSQL");
        return;
    }
    let app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    app.webhook_endpoint(None, &rx.url, None).await;
    let url = app.settings().database.url.clone().unwrap();
    let db = secrecy::ExposeSecret::expose_secret(&url)
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let file = std::path::PathBuf::from(format!("{db}.master-key"));
    let meta = std::fs::metadata(&file).expect("the key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "its owner's only");
    }
    let moved = file.with_extension("moved");
    std::fs::rename(&file, &moved).unwrap();
    let (status, stderr) = app.serve_refused(&[]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("is missing"), "{stderr}");
    assert!(
        !file.exists(),
        "no new key was made over the sealed secrets"
    );
    std::fs::rename(&moved, &file).unwrap();
}
