//! External service connections: only settings administrators manage them; credentials are
//! sealed and never come back (not in answers, not in the audit trail); Test Connection
//! really talks to the service, and each failure is produced by a real one: an unknown
//! certificate authority, a certificate for another name, an expired one, refused
//! credentials, a closed port, a port that never answers, an unexpected answer, a name that
//! does not resolve, an MLLP peer that rejects or does not speak MLLP, an address the server
//! may not reach.

use serde_json::{Value, json};
use switchboard_tests::receiver::{PrivateCa, tls_front};
use switchboard_tests::services::{HttpService, MllpAnswer, closed_port, mllp_peer, silent_port};
use switchboard_tests::{TestApp, codes, data, spawn_app};

const CREATE: &str = "mutation($i: ServiceConnectionInput!, $e: Environment!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: $e, credentials: $c) { id authKind credentialsSet address environment } }";
const TEST: &str = "mutation($id: ID!) { testConnection(id: $id) { ok code message fix retryable latencyMs steps { step ok latencyMs detail } logEntry { id outcome errorCode connectionId } } }";
const KEY: &str = "lis-key-7f3c9a51d2";

fn local(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into(), "localhost".into()];
    s.services.storage_roots = vec![std::env::temp_dir()];
}

fn api_key(key: &str) -> Value {
    json!({ "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": key })
}

async fn create(app: &TestApp, input: Value, env: &str, credentials: Value) -> Value {
    app.admin(CREATE, json!({ "i": input, "e": env, "c": credentials }))
        .await
}

/// Registers a lab connection at `address` and tests it: the test's answer.
async fn tested(
    app: &TestApp,
    address: &str,
    protocol: &str,
    extra: Value,
    credentials: Value,
) -> Value {
    let mut input = json!({ "name": format!("LIS at {address}"), "serviceType": "LAB", "protocol": protocol, "address": address, "timeoutMs": 2000 });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let resp = create(app, input, "SANDBOX", credentials).await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let resp = app.admin(TEST, json!({ "id": id })).await;
    data(&resp)["testConnection"].clone()
}

fn steps(result: &Value) -> Vec<(String, bool)> {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Asserts the steps a test took, in order, and how each went.
fn went(result: &Value, expected: &[(&str, bool)]) {
    let want: Vec<(String, bool)> = expected
        .iter()
        .map(|(s, o)| ((*s).to_owned(), *o))
        .collect();
    assert_eq!(steps(result), want, "{result:#}");
}

fn failed_with(result: &Value, code: &str, step: &str, says: &str) {
    assert_eq!(result["ok"], false, "{result:#}");
    assert_eq!(result["code"], code, "{result:#}");
    let last = steps(result).pop().unwrap();
    assert_eq!(last, (step.to_owned(), false), "{result:#}");
    assert!(
        result["message"].as_str().unwrap().contains(says),
        "{says:?} in {result:#}"
    );
    assert!(!result["fix"].as_str().unwrap().is_empty());
    assert_eq!(result["logEntry"]["outcome"], "FAILED");
    assert_eq!(result["logEntry"]["errorCode"], code);
}

#[tokio::test]
async fn test_connection_over_https_succeeds_and_names_each_failure() {
    let app = TestApp::builder().configure(local).spawn().await;
    let ca = PrivateCa::new();
    let service = HttpService::start(KEY).await;
    let good = tls_front(&ca, "localhost", false, service.addr).await;
    let ca_pem = json!({ "caCertificates": ca.pem() });

    // Everything right: every step, in order, each timed.
    let ok = tested(
        &app,
        &format!("https://localhost:{good}/"),
        "HTTPS_JSON",
        ca_pem.clone(),
        api_key(KEY),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert_eq!(ok["code"], Value::Null);
    went(
        &ok,
        &[
            ("RESOLVE", true),
            ("CONNECT", true),
            ("TLS", true),
            ("CALL", true),
        ],
    );
    assert!(
        ok["steps"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP 200")
    );
    assert_eq!(ok["logEntry"]["outcome"], "OK");
    assert_eq!(
        service.keys.lock().unwrap().as_slice(),
        [KEY],
        "the key was sent"
    );

    // Refused credentials.
    let r = tested(
        &app,
        &format!("https://localhost:{good}/"),
        "HTTPS_JSON",
        ca_pem.clone(),
        api_key("wrong-key"),
    )
    .await;
    failed_with(&r, "AUTH_FAILED", "CALL", "HTTP 401");
    assert_eq!(r["retryable"], false);

    // The system's authorities do not know the private CA.
    let r = tested(
        &app,
        &format!("https://localhost:{good}/"),
        "HTTPS_JSON",
        json!({}),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "TLS_ERROR", "TLS", "unknown certificate authority");

    // A certificate for another name (the CA trusted, the address by number).
    let r = tested(
        &app,
        &format!("https://127.0.0.1:{good}/"),
        "HTTPS_JSON",
        ca_pem.clone(),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "TLS_ERROR", "TLS", "another host name");

    // An expired certificate.
    let expired = tls_front(&ca, "localhost", true, service.addr).await;
    let r = tested(
        &app,
        &format!("https://localhost:{expired}/"),
        "HTTPS_JSON",
        ca_pem.clone(),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "TLS_ERROR", "TLS", "expired");

    // An answer that is not a working service's.
    let r = tested(
        &app,
        &format!("https://localhost:{good}/"),
        "HTTPS_JSON",
        json!({ "caCertificates": ca.pem(), "healthPath": "broken" }),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "UNEXPECTED_RESPONSE", "CALL", "HTTP 500");
    assert!(r["message"].as_str().unwrap().contains("database down"));
    assert_eq!(r["retryable"], true);

    // Nothing listens.
    let r = tested(
        &app,
        &format!("http://127.0.0.1:{}/", closed_port()),
        "HTTPS_JSON",
        json!({}),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "CONNECTION_REFUSED", "CONNECT", "could not connect");

    // Accepts, never answers: the step that waits runs out of time.
    let (_held, silent) = silent_port();
    let r = tested(
        &app,
        &format!("http://127.0.0.1:{silent}/"),
        "HTTPS_JSON",
        json!({ "timeoutMs": 300 }),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "TIMEOUT", "CALL", "within 300 ms");

    // A name that does not resolve.
    let r = tested(
        &app,
        "https://no-such-lis.invalid/",
        "HTTPS_JSON",
        json!({}),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "DNS_FAILURE", "RESOLVE", "does not resolve");
    assert_eq!(steps(&r).len(), 1, "stops at the failed step");

    // Every test is in the integration log, newest first, filterable.
    let resp = app
        .admin(
            "{ integrationLog(filter: { errorCode: TLS_ERROR }) { errorCode operation direction message steps { step ok } } }",
            json!({}),
        )
        .await;
    let entries = data(&resp)["integrationLog"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert!(
        entries
            .iter()
            .all(|e| e["operation"] == "TEST_CONNECTION" && e["direction"] == "OUTBOUND")
    );
    assert!(
        entries[0]["message"].as_str().unwrap().contains("expired"),
        "newest first"
    );
    let resp = app
        .admin("{ integrationLog(first: 100) { id } }", json!({}))
        .await;
    assert_eq!(data(&resp)["integrationLog"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn test_connection_over_mllp_sends_a_test_message_and_reads_the_acknowledgement() {
    let app = TestApp::builder().configure(local).spawn().await;
    let ids =
        json!({ "identifiers": { "sendingFacility": "CLINIC-A", "receivingApplication": "LIS" } });
    let (accepting, received) = mllp_peer(MllpAnswer::Accept).await;
    let ok = tested(
        &app,
        &format!("mllp://127.0.0.1:{}", accepting.port()),
        "HL7V2_MLLP",
        ids.clone(),
        json!({ "kind": "NONE" }),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert_eq!(steps(&ok).last().unwrap().0, "CALL");
    let sent = received.lock().unwrap()[0].clone();
    let msh: Vec<&str> = sent.split('\r').next().unwrap().split('|').collect();
    assert_eq!(msh[3], "CLINIC-A");
    assert_eq!(msh[4], "LIS");
    assert_eq!(msh[10], "T", "processing id: test");

    let (rejecting, _) = mllp_peer(MllpAnswer::Reject).await;
    let r = tested(
        &app,
        &format!("mllp://127.0.0.1:{}", rejecting.port()),
        "HL7V2_MLLP",
        ids.clone(),
        json!({ "kind": "NONE" }),
    )
    .await;
    failed_with(&r, "PROTOCOL_ERROR", "CALL", "unknown sending facility");

    let (garbage, _) = mllp_peer(MllpAnswer::Garbage).await;
    let r = tested(
        &app,
        &format!("mllp://127.0.0.1:{}", garbage.port()),
        "HL7V2_MLLP",
        ids.clone(),
        json!({ "kind": "NONE" }),
    )
    .await;
    failed_with(&r, "PROTOCOL_ERROR", "CALL", "MLLP frame");

    // Over TLS, with the service's private CA.
    let ca = PrivateCa::new();
    let front = tls_front(&ca, "localhost", false, accepting).await;
    let ok = tested(
        &app,
        &format!("mllps://localhost:{front}"),
        "HL7V2_MLLP",
        json!({ "caCertificates": ca.pem() }),
        json!({ "kind": "NONE" }),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert!(steps(&ok).contains(&("TLS".to_owned(), true)));
}

#[tokio::test]
async fn storage_is_probed_only_under_the_operators_roots_and_a_failure_is_announced() {
    let mut app = TestApp::builder()
        .configure(|s| {
            local(s);
            switchboard_tests::webhooks::loopback_receivers(s);
        })
        .spawn()
        .await;
    let rx = switchboard_tests::receiver::Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["INTEGRATION_CONNECTION_FAILED"]))
        .await;
    rx.trust(&secret);
    let dir = std::env::temp_dir().join(format!("sb-archive-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = |address: &str| json!({ "name": "Archive", "serviceType": "DATA_STORAGE", "protocol": "LOCAL_PATH", "address": address });
    let resp = create(
        &app,
        input(dir.to_str().unwrap()),
        "SANDBOX",
        json!({ "kind": "NONE" }),
    )
    .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let resp = app.admin(TEST, json!({ "id": id })).await;
    let ok = &data(&resp)["testConnection"];
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "the probe file was deleted"
    );
    std::fs::remove_dir(&dir).unwrap();
    let resp = app.admin(TEST, json!({ "id": id })).await;
    let gone = &data(&resp)["testConnection"];
    assert_eq!(gone["code"], "UNEXPECTED_RESPONSE", "{gone:#}");
    // The failure, not the success, is announced to subscribers.
    let got = rx.wait_for(1, std::time::Duration::from_secs(20)).await;
    assert_eq!(got[0].body["type"], "integration.connection_failed");
    assert_eq!(got[0].body["data"]["recordType"], "service_connection");
    assert_eq!(got[0].body["data"]["recordId"], id);
    assert!(got[0].verified);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 1);

    let resp = create(&app, input("/etc"), "SANDBOX", json!({ "kind": "NONE" })).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp}");
    assert!(resp.to_string().contains("services.storage_roots"));

    // Kept for services.log_retention_days: both entries survive a restart, and go once
    // they are older than the retention.
    // (The delivery to the receiver is in the log too, kept by the webhooks' own retention.)
    let log = "{ integrationLog(filter: { webhookDeliveries: false }) { id } }";
    app.restart().await;
    let resp = app.admin(log, json!({})).await;
    assert_eq!(data(&resp)["integrationLog"].as_array().unwrap().len(), 2);
    app.restart_with(|s| s.services.log_retention_days = 0)
        .await;
    let resp = app.admin(log, json!({})).await;
    assert_eq!(data(&resp)["integrationLog"], json!([]));
}

#[tokio::test]
async fn only_settings_administrators_manage_connections_and_credentials_never_come_back() {
    let app = spawn_app().await;
    let service = HttpService::start(KEY).await;
    let input = json!({ "name": "Claims", "serviceType": "CLEARINGHOUSE", "protocol": "HTTPS_JSON", "address": "https://claims.example/api/" });

    // Staff and API keys may not, nor read the log.
    let staff = app.staff_session().await;
    let key = app.full_key().await;
    for token in [&staff, &key] {
        let resp = app
            .gql_as(
                token,
                CREATE,
                json!({ "i": input, "e": "SANDBOX", "c": api_key(KEY) }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp}");
        let resp = app
            .gql_as(token, "{ serviceConnections { id } }", json!({}))
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
        let resp = app
            .gql_as(token, "{ integrationLog { id } }", json!({}))
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    }

    // Bad input is refused by name, and nothing is written.
    for (change, field) in [
        (json!({ "protocol": "HL7V2_MLLP" }), "input.protocol"),
        (
            json!({ "address": "http://claims.example/" }),
            "input.address",
        ),
        (json!({ "address": "https://10.1.2.3/" }), "input.address"),
        (json!({ "timeoutMs": 5 }), "input.timeoutMs"),
        (
            json!({ "caCertificates": "not a certificate" }),
            "input.caCertificates",
        ),
    ] {
        let mut i = input.clone();
        for (k, v) in change.as_object().unwrap() {
            i[k] = v.clone();
        }
        let resp = create(&app, i, "PRODUCTION", api_key(KEY)).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{change}: {resp}");
        assert!(resp.to_string().contains(field), "{field}: {resp}");
    }
    for (credentials, field) in [
        (
            json!({ "kind": "API_KEY", "apiKey": KEY }),
            "credentials.apiKeyHeader",
        ),
        (
            json!({ "kind": "BASIC", "username": "lab" }),
            "credentials.password",
        ),
        (
            json!({ "kind": "NONE", "apiKey": KEY }),
            "credentials.apiKey",
        ),
        (
            json!({ "kind": "API_KEY", "apiKeyHeader": "Host", "apiKey": KEY }),
            "credentials.apiKeyHeader",
        ),
    ] {
        let resp = create(&app, input.clone(), "PRODUCTION", credentials.clone()).await;
        assert_eq!(
            codes(&resp),
            vec!["VALIDATION_FAILED"],
            "{credentials}: {resp}"
        );
        assert!(resp.to_string().contains(field), "{field}: {resp}");
    }
    let resp = app.admin("{ serviceConnections { id } }", json!({})).await;
    assert_eq!(data(&resp)["serviceConnections"], json!([]));

    // Made: the answer says a secret is set, never what it is.
    let resp = create(&app, input.clone(), "PRODUCTION", api_key(KEY)).await;
    let made = data(&resp)["createServiceConnection"].clone();
    assert_eq!(made["authKind"], "API_KEY");
    assert_eq!(made["credentialsSet"], true);
    let id = made["id"].clone();
    // Nor may they read, test, capture, change or delete it.
    for token in [&staff, &key] {
        for operation in [
            "query($id: ID!) { serviceConnection(id: $id) { id } }",
            TEST,
            "mutation($id: ID!) { setServiceConnectionDebugCapture(id: $id) { id } }",
            "mutation($id: ID!) { deleteServiceConnection(id: $id) }",
        ] {
            let resp = app.gql_as(token, operation, json!({ "id": id })).await;
            assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{operation}: {resp}");
        }
        let resp = app
            .gql_as(
                token,
                "mutation($id: ID!, $i: ServiceConnectionInput!) { updateServiceConnection(id: $id, input: $i) { id } }",
                json!({ "id": id, "i": input }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp}");
    }
    let everything = "query($id: ID!) { serviceConnection(id: $id) { id name description serviceType protocol address healthPath identifiers { sendingApplication } environment enabled timeoutMs caCertificates authKind credentialsSet credentialsChangedAt lastTest { id } createdAt updatedAt } }";
    let resp = app.admin(everything, json!({ "id": id })).await;
    let before = data(&resp)["serviceConnection"].clone();
    assert!(!resp.to_string().contains(KEY));

    // Changed without credentials: they are kept. With: replaced, and their time moves.
    let mut renamed = input.clone();
    renamed["name"] = json!("Claims (new)");
    let resp = app
        .admin(
            "mutation($id: ID!, $i: ServiceConnectionInput!) { updateServiceConnection(id: $id, input: $i) { name authKind credentialsChangedAt } }",
            json!({ "id": id, "i": renamed }),
        )
        .await;
    let after = data(&resp)["updateServiceConnection"].clone();
    assert_eq!(after["name"], "Claims (new)");
    assert_eq!(
        after["credentialsChangedAt"],
        before["credentialsChangedAt"]
    );
    let resp = app
        .admin(
            "mutation($id: ID!, $i: ServiceConnectionInput!, $c: ServiceCredentialsInput) { updateServiceConnection(id: $id, input: $i, credentials: $c) { authKind credentialsChangedAt } }",
            json!({ "id": id, "i": renamed, "c": { "kind": "BASIC", "username": "claims", "password": "pw-91b7e2" } }),
        )
        .await;
    let after = data(&resp)["updateServiceConnection"].clone();
    assert_eq!(after["authKind"], "BASIC");
    assert_ne!(
        after["credentialsChangedAt"],
        before["credentialsChangedAt"]
    );

    // The database holds them sealed; the audit trail names the change, not the secret.
    let db = app.store().conn();
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT credentials, key_id FROM service_connections",
        ))
        .await
        .unwrap();
    let stored: String = rows[0].try_get("", "credentials").unwrap();
    assert!(!stored.contains("pw-91b7e2") && !stored.contains("claims"));
    let resp = app
        .admin(
            "{ auditEvents(filter: { recordType: \"service_connection\" }) { edges { node { action fields } } } }",
            json!({}),
        )
        .await;
    let audit = resp.to_string();
    assert!(audit.contains("credentials"), "{audit}");
    assert!(
        !audit.contains(KEY) && !audit.contains("pw-91b7e2"),
        "{audit}"
    );

    // Deleted: gone, and its id answers NOT_FOUND.
    let resp = app
        .admin(
            "mutation($id: ID!) { deleteServiceConnection(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["deleteServiceConnection"], true);
    let resp = app.admin(TEST, json!({ "id": id })).await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);
    drop(service);
}

#[tokio::test]
async fn an_address_the_server_may_not_reach_is_blocked_at_the_connection() {
    // Registered while the operator allowed loopback; tested by a replica that does not.
    let app = TestApp::builder().configure(local).spawn().await;
    let service = HttpService::start(KEY).await;
    let address = format!("http://localhost:{}/", service.addr.port());
    let resp = create(
        &app,
        json!({ "name": "On-site LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": address }),
        "SANDBOX",
        api_key(KEY),
    )
    .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let replica = app.spawn_process();
    let answer: Value = app
        .http
        .post(format!("{}/graphql", replica.base))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "query": TEST, "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &answer["data"]["testConnection"];
    failed_with(result, "BLOCKED_ADDRESS", "RESOLVE", "loopback");
    assert!(
        result["fix"]
            .as_str()
            .unwrap()
            .contains("services.allowed_hosts")
    );
    assert_eq!(service.hits(), 0, "nothing reached the service");
}

#[tokio::test]
async fn oauth_client_credentials_fetch_a_token_keep_it_and_fetch_again_when_it_is_refused() {
    let app = TestApp::builder().configure(local).spawn().await;
    let service =
        switchboard_tests::services::OAuthService::start("switchboard", "cs-4e1d77").await;
    let base = format!("http://127.0.0.1:{}", service.addr.port());
    let credentials = |secret: &str| json!({ "kind": "OAUTH2_CLIENT_CREDENTIALS", "tokenUrl": format!("{base}/token"), "clientId": "switchboard", "clientSecret": secret, "scope": "results:read" });
    let input = json!({ "name": "Pharmacy gateway", "serviceType": "PHARMACY", "protocol": "HTTPS_JSON", "address": format!("{base}/"), "timeoutMs": 2000 });
    let resp = create(&app, input.clone(), "SANDBOX", credentials("cs-4e1d77")).await;
    let made = data(&resp)["createServiceConnection"].clone();
    assert_eq!(made["authKind"], "OAUTH2_CLIENT_CREDENTIALS");
    assert!(!resp.to_string().contains("cs-4e1d77"));
    let id = made["id"].clone();
    let test =
        || async { data(&app.admin(TEST, json!({ "id": id })).await)["testConnection"].clone() };

    // The first test fetches a token and calls with it.
    let first = test().await;
    assert_eq!(first["ok"], true, "{first:#}");
    went(
        &first,
        &[
            ("RESOLVE", true),
            ("CONNECT", true),
            ("AUTHENTICATE", true),
            ("CALL", true),
        ],
    );
    assert!(
        first["steps"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("valid 3600 s"),
        "{first:#}"
    );
    assert_eq!(service.token_requests(), 1);

    // The next uses the token it kept.
    let second = test().await;
    assert_eq!(second["ok"], true, "{second:#}");
    assert!(
        second["steps"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("cached")
    );
    assert_eq!(service.token_requests(), 1);

    // Revoked at the service: refused once, then a new token, and it works.
    service.revoke_all();
    let third = test().await;
    assert_eq!(third["ok"], true, "{third:#}");
    went(
        &third,
        &[
            ("RESOLVE", true),
            ("CONNECT", true),
            ("AUTHENTICATE", true),
            ("CALL", false),
            ("AUTHENTICATE", true),
            ("CALL", true),
        ],
    );
    assert_eq!(service.token_requests(), 2);

    // A secret the token endpoint refuses: the failure is the authentication's.
    let resp = create(&app, input.clone(), "SANDBOX", credentials("wrong")).await;
    let wrong = data(&resp)["createServiceConnection"]["id"].clone();
    let resp = app.admin(TEST, json!({ "id": wrong })).await;
    let r = &data(&resp)["testConnection"];
    failed_with(r, "AUTH_FAILED", "AUTHENTICATE", "invalid_client");

    // A token endpoint in production must be https.
    let resp = create(&app, json!({ "name": "P", "serviceType": "PHARMACY", "protocol": "HTTPS_JSON", "address": "https://rx.example/" }), "PRODUCTION", credentials("x")).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp}");
    assert!(resp.to_string().contains("credentials.tokenUrl"));
}

#[tokio::test]
async fn periodic_checks_keep_health_current_and_announce_each_change_of_status() {
    let app = TestApp::builder()
        .configure(|s| {
            local(s);
            switchboard_tests::webhooks::loopback_receivers(s);
            s.services.health_check_interval_seconds = 1;
        })
        .spawn()
        .await;
    let rx = switchboard_tests::receiver::Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["INTEGRATION_STATUS_CHANGED"]))
        .await;
    rx.trust(&secret);
    let service = HttpService::start(KEY).await;
    let resp = create(
        &app,
        json!({ "name": "Lab", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": format!("http://127.0.0.1:{}/", service.addr.port()), "timeoutMs": 1000 }),
        "SANDBOX",
        api_key(KEY),
    )
    .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let health = "query($id: ID!) { serviceConnection(id: $id) { health { status lastSuccessAt exchanges24h errorRate24h averageLatencyMs24h p95LatencyMs24h uptime24h uptime7d } } }";
    let status_becomes = |want: &'static str| {
        let id = id.clone();
        let app = &app;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let resp = app.admin(health, json!({ "id": id })).await;
                let h = data(&resp)["serviceConnection"]["health"].clone();
                if h["status"] == want {
                    return h;
                }
                assert!(std::time::Instant::now() < deadline, "never {want}: {h:#}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let up = status_becomes("HEALTHY").await;
    assert_eq!(up["uptime24h"], 1.0);
    assert_eq!(up["errorRate24h"], 0.0);
    assert!(up["lastSuccessAt"].is_string());
    assert!(service.hits() >= 1, "checked for real");

    service.stop().await;
    let down = status_becomes("DOWN").await;
    assert!(down["errorRate24h"].as_f64().unwrap() > 0.0, "{down:#}");
    assert!(down["uptime24h"].as_f64().unwrap() < 1.0);

    // Two changes, two events, in order. On PostgreSQL fan-out waits for every older
    // transaction of the cluster, so under the full suite's load this can take a while.
    let got = rx.wait_for(2, std::time::Duration::from_secs(60)).await;
    assert!(got.iter().all(
        |r| r.body["type"] == "integration.status_changed" && r.body["data"]["recordId"] == id
    ));
    let resp = app
        .admin(
            "query($c: ID!) { integrationLog(filter: { connectionId: $c }, first: 100) { operation outcome errorCode } }",
            json!({ "c": id }),
        )
        .await;
    let log = data(&resp)["integrationLog"].as_array().unwrap().clone();
    assert!(log.iter().all(|e| e["operation"] == "HEALTH_CHECK"));
    assert_eq!(log[0]["errorCode"], "CONNECTION_REFUSED");
}

#[tokio::test]
async fn a_client_certificate_is_presented_and_a_refused_one_is_an_authentication_failure() {
    let app = TestApp::builder().configure(local).spawn().await;
    let ca = PrivateCa::new();
    let clients = PrivateCa::new();
    let service = HttpService::start(KEY).await;
    let port = switchboard_tests::receiver::mutual_tls_front(&ca, &clients, service.addr).await;
    let address = format!("https://localhost:{port}/");
    let with = |cert: &str, key: &str| json!({ "kind": "CLIENT_CERTIFICATE", "certificate": cert, "privateKey": key });
    let input = json!({ "caCertificates": ca.pem(), "healthPath": "health" });

    // The service's health resource also wants its API key: here the certificate is what is
    // tested, so it answers 401 past the handshake only if the certificate was taken.
    let (cert, key) = clients.client_certificate("switchboard-clinic-a");
    let r = tested(
        &app,
        &address,
        "HTTPS_JSON",
        input.clone(),
        with(&cert, &key),
    )
    .await;
    failed_with(&r, "AUTH_FAILED", "CALL", "HTTP 401");
    assert!(steps(&r).contains(&("TLS".to_owned(), true)), "{r:#}");
    assert_eq!(service.hits(), 1, "the request got through the handshake");

    // Without a certificate, or with one from an authority the service does not trust, the
    // service refuses it: an authentication failure, and no request reaches it.
    let r = tested(
        &app,
        &address,
        "HTTPS_JSON",
        input.clone(),
        json!({ "kind": "NONE" }),
    )
    .await;
    assert_eq!(r["code"], "AUTH_FAILED", "{r:#}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("client certificate"),
        "{r:#}"
    );
    let stranger = PrivateCa::new();
    let (cert, key) = stranger.client_certificate("switchboard-clinic-a");
    let r = tested(
        &app,
        &address,
        "HTTPS_JSON",
        input.clone(),
        with(&cert, &key),
    )
    .await;
    assert_eq!(r["code"], "AUTH_FAILED", "{r:#}");
    assert_eq!(service.hits(), 1);

    // A key that is not the certificate's, or no PEM at all, is refused when saved.
    let (cert, _) = clients.client_certificate("a");
    let (_, other_key) = clients.client_certificate("b");
    let key_body = other_key.lines().nth(1).unwrap().to_owned();
    for credentials in [with(&cert, &other_key), with("nonsense", "nonsense")] {
        let mut i = json!({ "name": "mTLS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": address });
        i["caCertificates"] = json!(ca.pem());
        let resp = create(&app, i, "SANDBOX", credentials).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp}");
        assert!(
            resp.to_string().contains("credentials.certificate")
                || resp.to_string().contains("credentials.privateKey"),
            "{resp}"
        );
        assert!(
            !resp.to_string().contains(&key_body),
            "the key is not echoed: {resp}"
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_debug_level() {
    let app = TestApp::builder().configure(local).spawn().await;
    let process = app.spawn_process_with(&[
        ("RUST_LOG", "debug"),
        (
            "SWITCHBOARD__SERVICES__ALLOWED_HOSTS",
            "127.0.0.0/8,localhost",
        ),
    ]);
    let gql = |query: &'static str, variables: Value| {
        let (app, base) = (&app, process.base.clone());
        async move {
            app.http
                .post(format!("{base}/graphql"))
                .bearer_auth(&app.admin_token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let service = HttpService::start(KEY).await;
    let oauth = switchboard_tests::services::OAuthService::start("sb", "cs-never-logged").await;
    let http = format!("http://127.0.0.1:{}/", service.addr.port());
    let idp = format!("http://127.0.0.1:{}", oauth.addr.port());
    let secrets = [
        (api_key(KEY), http.clone()),
        (api_key("wrong-key-never-logged"), http.clone()),
        (
            json!({ "kind": "BASIC", "username": "lab", "password": "pw-never-logged" }),
            http.clone(),
        ),
        (
            json!({ "kind": "OAUTH2_CLIENT_CREDENTIALS", "tokenUrl": format!("{idp}/token"), "clientId": "sb", "clientSecret": "cs-never-logged" }),
            format!("{idp}/"),
        ),
        (
            json!({ "kind": "OAUTH2_CLIENT_CREDENTIALS", "tokenUrl": format!("{idp}/token"), "clientId": "sb", "clientSecret": "cs-wrong-never-logged" }),
            format!("{idp}/"),
        ),
    ];
    for (credentials, address) in secrets {
        let resp = gql(
            CREATE,
            json!({ "i": { "name": "Logged?", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": address }, "e": "SANDBOX", "c": credentials }),
        )
        .await;
        let id = data(&resp)["createServiceConnection"]["id"].clone();
        let resp = gql(TEST, json!({ "id": id })).await;
        data(&resp);
    }
    let log = process.output();
    assert!(log.contains("DEBUG"), "the log ran at debug level");
    for secret in [
        KEY,
        "wrong-key-never-logged",
        "pw-never-logged",
        "cs-never-logged",
        "cs-wrong-never-logged",
        "tok_",
    ] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
    // Nor, base64-encoded, in a basic authorization header.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("lab:pw-never-logged");
    assert!(!log.contains(&basic));
}

#[tokio::test]
async fn debug_capture_keeps_the_exchange_redacted_and_turns_itself_off() {
    let app = TestApp::builder().configure(local).spawn().await;
    let service = HttpService::start(KEY).await;
    let resp = create(
        &app,
        json!({ "name": "Lab", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": format!("http://127.0.0.1:{}/", service.addr.port()) }),
        "SANDBOX",
        api_key(KEY),
    )
    .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let captured = || async {
        let resp = app
            .admin(
                "mutation($id: ID!) { testConnection(id: $id) { ok logEntry { capture } } }",
                json!({ "id": id }),
            )
            .await;
        data(&resp)["testConnection"]["logEntry"]["capture"].clone()
    };
    let set = |minutes: i32| {
        let id = id.clone();
        let app = &app;
        async move {
            app.admin(
                "mutation($id: ID!, $m: Int!) { setServiceConnectionDebugCapture(id: $id, minutes: $m) { debugCaptureUntil } }",
                json!({ "id": id, "m": minutes }),
            )
            .await
        }
    };
    assert_eq!(captured().await, Value::Null, "off by default");

    let resp = set(30).await;
    assert!(data(&resp)["setServiceConnectionDebugCapture"]["debugCaptureUntil"].is_string());
    let kept = captured().await;
    let kept = kept.as_str().unwrap();
    assert!(kept.contains("> GET /health"), "{kept}");
    assert!(kept.contains("> x-api-key: <redacted>"), "{kept}");
    assert!(kept.contains("< HTTP 200"), "{kept}");
    assert!(kept.contains(r#""status":"up""#), "{kept}");
    assert!(!kept.contains(KEY), "{kept}");

    // Off on request; and by itself once its time has passed.
    set(0).await;
    assert_eq!(captured().await, Value::Null);
    set(30).await;
    let db = app.store().conn();
    use sea_orm::ConnectionTrait;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "UPDATE service_connections SET debug_capture_until = $1::timestamptz"
            }
            _ => "UPDATE service_connections SET debug_capture_until = ?",
        },
        [past.into()],
    ))
    .await
    .unwrap();
    assert_eq!(captured().await, Value::Null, "expired");
    let resp = app
        .admin(
            "query($id: ID!) { serviceConnection(id: $id) { debugCaptureUntil } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data(&resp)["serviceConnection"]["debugCaptureUntil"],
        Value::Null
    );

    let resp = set(5000).await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn hl7_over_http_posts_a_test_message_and_reads_the_acknowledgement() {
    let app = TestApp::builder().configure(local).spawn().await;
    let service = HttpService::start(KEY).await;
    let address = format!("http://127.0.0.1:{}/hl7", service.addr.port());
    let ok = tested(&app, &address, "HL7V2_HTTP", json!({}), api_key(KEY)).await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    let call = ok["steps"].as_array().unwrap().last().unwrap()["detail"].clone();
    assert!(
        call.as_str()
            .unwrap()
            .contains("POST /hl7: HTTP 200, acknowledged (AA)"),
        "{call}"
    );

    let r = tested(
        &app,
        &address,
        "HL7V2_HTTP",
        json!({ "identifiers": { "receivingFacility": "NOWHERE" } }),
        api_key(KEY),
    )
    .await;
    failed_with(&r, "PROTOCOL_ERROR", "CALL", "unknown receiving facility");
}

#[tokio::test]
async fn an_mllp_capture_keeps_both_sides_of_the_exchange() {
    let app = TestApp::builder().configure(local).spawn().await;
    let (peer, _) = mllp_peer(MllpAnswer::Reject).await;
    let resp = create(
        &app,
        json!({ "name": "LIS", "serviceType": "LAB", "protocol": "HL7V2_MLLP", "address": format!("mllp://127.0.0.1:{}", peer.port()) }),
        "SANDBOX",
        json!({ "kind": "NONE" }),
    )
    .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    app.admin(
        "mutation($id: ID!) { setServiceConnectionDebugCapture(id: $id) { debugCaptureUntil } }",
        json!({ "id": id }),
    )
    .await;
    let resp = app
        .admin(
            "mutation($id: ID!) { testConnection(id: $id) { ok code logEntry { capture } } }",
            json!({ "id": id }),
        )
        .await;
    let result = &data(&resp)["testConnection"];
    assert_eq!(result["code"], "PROTOCOL_ERROR", "{resp:#}");
    let kept = result["logEntry"]["capture"].as_str().unwrap();
    assert!(kept.contains("> MSH|^~\\&|SWITCHBOARD"), "{kept}");
    assert!(kept.contains("< MSH|"), "{kept}");
    assert!(kept.contains("< MSA|AR|"), "{kept}");
}

#[tokio::test]
async fn webhook_deliveries_are_in_the_integration_log_read_from_the_delivery_log() {
    let app = TestApp::builder()
        .configure(|s| {
            switchboard_tests::webhooks::loopback_receivers(s);
            local(s);
        })
        .spawn()
        .await;
    let rx = switchboard_tests::receiver::Receiver::start().await;
    let (endpoint, _) = app.webhook_endpoint(None, &rx.url, None).await;
    // The first attempt is answered 503; the retry is taken.
    rx.script([switchboard_tests::receiver::Reply::status(503)]);
    data(
        &app.admin(
            "mutation($e: ID!) { sendTestWebhookEvent(endpointId: $e) { id } }",
            json!({ "e": endpoint }),
        )
        .await,
    );
    app.wait_for_deliveries(&endpoint, "DELIVERED", 1).await;
    let log = |filter: Value| {
        let app = &app;
        async move {
            let resp = app
                .admin(
                    "query($f: IntegrationLogFilter) { integrationLog(filter: $f) { operation direction outcome errorCode message webhookEndpointId connectionId correlationId environment } }",
                    json!({ "f": filter }),
                )
                .await;
            data(&resp)["integrationLog"].as_array().unwrap().clone()
        }
    };
    let both = log(json!({ "webhookDeliveries": true })).await;
    assert_eq!(both.len(), 2, "{both:#?}");
    let (ok, failed) = (&both[0], &both[1]);
    assert_eq!(
        (
            ok["operation"].clone(),
            ok["outcome"].clone(),
            ok["errorCode"].clone()
        ),
        (json!("WEBHOOK_DELIVERY"), json!("OK"), Value::Null)
    );
    assert_eq!(
        (failed["outcome"].clone(), failed["errorCode"].clone()),
        (json!("FAILED"), json!("UNEXPECTED_RESPONSE"))
    );
    assert!(
        failed["message"].as_str().unwrap().contains("HTTP 503"),
        "{failed:#?}"
    );
    for e in &both {
        assert_eq!(e["webhookEndpointId"], endpoint.as_str());
        assert_eq!(e["connectionId"], Value::Null);
        assert_eq!(e["direction"], "OUTBOUND");
        assert_eq!(e["environment"], "SANDBOX");
        assert!(e["correlationId"].as_str().unwrap().starts_with("msg_"));
    }
    assert_eq!(ok["correlationId"], failed["correlationId"], "one message");

    // Filters apply to them as to every entry.
    let failures = log(json!({ "errorCode": "UNEXPECTED_RESPONSE" })).await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(
        log(json!({ "outcome": "OK", "webhookDeliveries": true }))
            .await
            .len(),
        1
    );
    assert_eq!(log(json!({ "outcome": "REFUSED" })).await.len(), 0);
    assert_eq!(log(json!({ "errorCode": "AUTH_FAILED" })).await.len(), 0);
    assert!(
        log(json!({ "webhookDeliveries": false }))
            .await
            .iter()
            .all(|e| e["operation"] != "WEBHOOK_DELIVERY")
    );
    let connection = log(json!({ "connectionId": uuid::Uuid::now_v7().to_string() })).await;
    assert!(connection.is_empty(), "{connection:#?}");
}
