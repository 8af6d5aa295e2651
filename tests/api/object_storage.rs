//! DATA_STORAGE connections to an S3-compatible store: Test Connection writes, reads back and
//! deletes a probe object, signed with the connection's access key, and each failure is a real
//! one from the store (tests/s3.rs checks every signature): a wrong secret, an unknown key, a
//! bucket that does not exist, nothing listening, an unknown certificate authority, an address
//! the server may not reach.

use serde_json::{Value, json};
use switchboard_tests::receiver::{PrivateCa, tls_front};
use switchboard_tests::s3::S3Store;
use switchboard_tests::services::closed_port;
use switchboard_tests::{TestApp, codes, data};

const CREATE: &str = "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id authKind credentialsSet address } }";
const TEST: &str = "mutation($id: ID!) { testConnection(id: $id) { ok code message fix steps { step ok detail } } }";
const KEY_ID: &str = "AKIASWITCHBOARDTEST";
const SECRET: &str = "s3-secret-4f1c9e0b7d2a";

fn local(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into(), "localhost".into()];
}

fn access_key(id: &str, secret: &str) -> Value {
    json!({ "kind": "ACCESS_KEY", "accessKeyId": id, "secretAccessKey": secret })
}

async fn create(app: &TestApp, address: &str, extra: Value, credentials: Value) -> Value {
    let mut input = json!({ "name": format!("Archive at {address}"), "serviceType": "DATA_STORAGE", "protocol": "S3", "address": address, "timeoutMs": 3000 });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    app.admin(CREATE, json!({ "i": input, "c": credentials }))
        .await
}

async fn tested(app: &TestApp, address: &str, extra: Value, credentials: Value) -> Value {
    let resp = create(app, address, extra, credentials).await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    assert!(id.is_string(), "{resp:#}");
    let resp = app.admin(TEST, json!({ "id": id })).await;
    data(&resp)["testConnection"].clone()
}

fn last_step(result: &Value) -> (String, bool) {
    let step = result["steps"].as_array().unwrap().last().unwrap();
    (
        step["step"].as_str().unwrap().to_owned(),
        step["ok"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn a_bucket_is_tested_with_a_signed_probe_object_and_each_failure_is_named() {
    let app = TestApp::builder().configure(local).spawn().await;
    let store = S3Store::start(KEY_ID, SECRET, "clinic-archive").await;

    // Right: written, read back, deleted; nothing left behind, and every request was signed.
    let ok = tested(
        &app,
        &format!("{}/clinic-archive/backups/daily", store.url()),
        json!({}),
        access_key(KEY_ID, SECRET),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    let steps: Vec<&str> = ok["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["RESOLVE", "CONNECT", "STORAGE"]);
    assert!(store.objects("clinic-archive").is_empty());
    let log = store.log();
    // Written and read at the prefix; deleted with a (signed) DeleteObjects request.
    let methods: Vec<&str> = log.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(methods, ["PUT", "GET", "POST"], "{log:?}");
    assert!(
        log[..2]
            .iter()
            .all(|(_, p, _)| p.starts_with("/clinic-archive/backups/daily/.switchboard-probe-")),
        "{log:?}"
    );
    assert!(log.iter().all(|(_, _, status)| *status < 300), "{log:?}");

    // A wrong secret, an unknown key: refused by the store's signature check.
    for (id, secret, says) in [
        (KEY_ID, "not-the-secret", "SignatureDoesNotMatch"),
        ("AKIAUNKNOWN", SECRET, "InvalidAccessKeyId"),
    ] {
        let r = tested(
            &app,
            &format!("{}/clinic-archive", store.url()),
            json!({}),
            access_key(id, secret),
        )
        .await;
        assert_eq!(r["code"], "AUTH_FAILED", "{r:#}");
        assert_eq!(last_step(&r), ("STORAGE".into(), false));
        assert!(r["message"].as_str().unwrap().contains(says), "{r:#}");
        assert!(!r["message"].as_str().unwrap().contains(secret));
    }

    // A bucket the store does not have.
    let r = tested(
        &app,
        &format!("{}/no-such-bucket", store.url()),
        json!({}),
        access_key(KEY_ID, SECRET),
    )
    .await;
    assert_eq!(r["code"], "UNEXPECTED_RESPONSE", "{r:#}");
    assert!(r["fix"].as_str().unwrap().contains("bucket"), "{r:#}");

    // Nothing listening.
    let r = tested(
        &app,
        &format!("http://127.0.0.1:{}/clinic-archive", closed_port()),
        json!({}),
        access_key(KEY_ID, SECRET),
    )
    .await;
    assert_eq!(r["code"], "CONNECTION_REFUSED", "{r:#}");
    assert_eq!(last_step(&r), ("CONNECT".into(), false));

    // Over TLS with a private CA: trusted when given, refused otherwise.
    let ca = PrivateCa::new();
    let front = tls_front(&ca, "localhost", false, store.addr).await;
    let address = format!("https://localhost:{front}/clinic-archive");
    let r = tested(
        &app,
        &address,
        json!({ "caCertificates": ca.pem() }),
        access_key(KEY_ID, SECRET),
    )
    .await;
    assert_eq!(r["ok"], true, "{r:#}");
    let r = tested(&app, &address, json!({}), access_key(KEY_ID, SECRET)).await;
    assert_eq!(r["code"], "TLS_ERROR", "{r:#}");
    assert_eq!(last_step(&r), ("TLS".into(), false));
}

#[tokio::test]
async fn s3_addresses_and_credentials_are_checked_when_saved() {
    let app = TestApp::builder().configure(local).spawn().await;
    let store = S3Store::start(KEY_ID, SECRET, "clinic-archive").await;
    let saved = create(
        &app,
        &format!("{}/clinic-archive?region=eu-west-1", store.url()),
        json!({}),
        access_key(KEY_ID, SECRET),
    )
    .await;
    let made = &data(&saved)["createServiceConnection"];
    assert_eq!(made["authKind"], "ACCESS_KEY", "{saved:#}");
    assert_eq!(made["credentialsSet"], true);
    assert!(!saved.to_string().contains(SECRET));

    for (address, credentials, field) in [
        // Not a bucket name; a query other than the region.
        (
            format!("{}/Bad_Bucket", store.url()),
            access_key(KEY_ID, SECRET),
            "input.address",
        ),
        (
            format!("{}/clinic-archive?acl=public", store.url()),
            access_key(KEY_ID, SECRET),
            "input.address",
        ),
        (store.url(), access_key(KEY_ID, SECRET), "input.address"),
        // Credentials that do not go with S3.
        (
            format!("{}/clinic-archive", store.url()),
            json!({ "kind": "API_KEY", "apiKeyHeader": "X-Key", "apiKey": "k" }),
            "credentials.kind",
        ),
    ] {
        let resp = create(&app, &address, json!({}), credentials).await;
        assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{address}: {resp:#}");
        assert!(resp.to_string().contains(field), "{field} in {resp:#}");
    }
    // An access key is for S3 only.
    let resp = app
        .admin(
            CREATE,
            json!({ "i": { "name": "LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": store.url() }, "c": access_key(KEY_ID, SECRET) }),
        )
        .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp:#}");

    // A replica without the allow-list refuses the loopback store when it is saved.
    let strict = TestApp::builder().spawn().await;
    let resp = create(
        &strict,
        &format!("{}/clinic-archive", store.url()),
        json!({}),
        access_key(KEY_ID, SECRET),
    )
    .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp:#}");
    assert!(
        resp.to_string().contains("services.allowed_hosts"),
        "{resp:#}"
    );
}
