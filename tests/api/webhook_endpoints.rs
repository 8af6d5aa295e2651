//! Who may manage webhook endpoints and where they may point: administrators for every
//! endpoint, a partner app for its own (which hear only what the app may see); internal
//! addresses refused at registration and at delivery; `api_key.expiring`; the audit trail.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_tests::receiver::{PrivateCa, Receiver};
use switchboard_tests::webhooks::{CREATE_ENDPOINT, loopback_receivers};
use switchboard_tests::{TestApp, codes, data, spawn_app};

const SECONDS: Duration = Duration::from_secs(20);

async fn create(app: &TestApp, token: &str, url: &str, env: &str) -> Value {
    app.gql_as(
        token,
        CREATE_ENDPOINT,
        json!({ "i": { "url": url }, "e": env }),
    )
    .await
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_allowed_and_production_needs_https() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let resp = create(&app, &admin, url, "SANDBOX").await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{url}: {resp}");
        assert!(resp.to_string().contains("may not reach"), "{resp}");
    }
    for (url, env) in [
        ("http://hooks.example.com/in", "PRODUCTION"),
        ("ftp://hooks.example.com/in", "SANDBOX"),
        ("https://user:pw@hooks.example.com/in", "SANDBOX"),
        ("not a url", "SANDBOX"),
    ] {
        let resp = create(&app, &admin, url, env).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{url}: {resp}");
    }
    // A public address (not resolved: a literal) is accepted.
    let resp = create(&app, &admin, "https://93.184.216.34/in", "PRODUCTION").await;
    assert_eq!(
        data(&resp)["createWebhookEndpoint"]["webhookEndpoint"]["environment"],
        "PRODUCTION"
    );

    // The allow-list opens what it names, and only that.
    let open = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let admin = open.admin_token.clone();
    data(&create(&open, &admin, "http://127.0.0.1:8080/hook", "SANDBOX").await);
    let resp = create(&open, &admin, "http://10.0.0.1/hook", "SANDBOX").await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn a_destination_refused_at_delivery_is_logged_as_a_blocked_address() {
    let mut app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    // Registered while loopback was allowed, by name; the allow-list is then emptied.
    let url = rx.url.replace("127.0.0.1", "localhost");
    let (endpoint, _) = app.webhook_endpoint(None, &url, None).await;
    app.restart_with(|s| s.webhooks.allowed_hosts.clear()).await;
    data(
        &app.admin(
            "mutation($e: ID!) { sendTestWebhookEvent(endpointId: $e) { id } }",
            json!({ "e": endpoint }),
        )
        .await,
    );
    let log = app.wait_for_deliveries(&endpoint, "FAILED", 1).await;
    assert_eq!(
        log[0]["attempts"][0]["error"], "BLOCKED_ADDRESS",
        "{log:#?}"
    );
    assert!(rx.received().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn only_administrators_and_partner_apps_manage_endpoints_and_apps_see_only_their_own() {
    let app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    let (admin_endpoint, _) = app.webhook_endpoint(None, &rx.url, None).await;
    // A staff user and an API key with every scope may not.
    let staff = app.staff_session().await;
    let key = app.full_key().await;
    for token in [&staff, &key] {
        let resp = create(&app, token, &rx.url, "SANDBOX").await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp}");
        let resp = app
            .gql_as(token, "{ webhookEndpoints { id } }", json!({}))
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    }
    let resp = app
        .gql(None, "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["UNAUTHENTICATED"]);

    // A partner app limited to client A, reading patients and tests.
    let partner = app
        .register_app_with(
            json!({ "scopes": ["patients:read", "tests:read"], "clientIds": [app.fx.client_a] }),
            "SANDBOX",
            "CONFIDENTIAL",
        )
        .await;
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let app_rx = Receiver::start().await;
    let (own, secret) = app.webhook_endpoint(Some(&token), &app_rx.url, None).await;
    app_rx.trust(&secret);
    let resp = app
        .gql_as(
            &token,
            "{ webhookEndpoints { id partnerAppId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&resp)["webhookEndpoints"],
        json!([{ "id": own, "partnerAppId": partner.id }]),
        "an app lists its own endpoints only"
    );
    for (query, vars) in [(
        "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
        json!({ "id": admin_endpoint }),
    )] {
        let resp = app.gql_as(&token, query, vars).await;
        assert_eq!(data(&resp)["webhookEndpoint"], Value::Null);
    }
    for mutation in [
        "mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }",
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
        "mutation($id: ID!) { rotateWebhookSecret(id: $id) { signingSecret } }",
    ] {
        let resp = app
            .gql_as(&token, mutation, json!({ "id": admin_endpoint }))
            .await;
        assert_eq!(codes(&resp), vec!["NOT_FOUND"], "{mutation}: {resp}");
    }
    let resp = app
        .gql_as(
            &token,
            CREATE_ENDPOINT,
            json!({ "i": { "url": app_rx.url, "eventTypes": ["API_KEY_EXPIRING"] }, "e": "SANDBOX" }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    let resp = create(&app, &token, &app_rx.url, "PRODUCTION").await;
    assert_eq!(
        codes(&resp),
        vec!["VALIDATION_FAILED"],
        "the app's environment only"
    );

    // The app's endpoint hears about client A's patient and test, not client B's patient.
    let writer = app.full_key().await;
    let a = app
        .patient_id(
            &writer,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "A-1" }),
        )
        .await;
    app.patient_id(
        &writer,
        &app.fx.client_b,
        &app.fx.loc_b1,
        json!({ "externalPatientId": "B-1" }),
    )
    .await;
    app.create_test(&writer, &a, "ACC-A").await;
    let admin_rx_count = || rx.received().len();
    rx.wait_for(3, SECONDS).await;
    let got = app_rx.wait_for(2, SECONDS).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got_now = app_rx.received();
    assert_eq!(
        got_now.len(),
        2,
        "{:?}",
        got_now.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let heard = |kind: &str| {
        got.iter()
            .find(|r| r.body["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    assert_eq!(
        heard("patient.created").body["data"]["recordId"],
        a.as_str()
    );
    assert_eq!(
        heard("test.created").body["data"]["clientId"],
        app.fx.client_a.as_str()
    );
    assert!(got.iter().all(|r| r.verified));
    assert_eq!(
        admin_rx_count(),
        3,
        "the administrator's endpoint hears everything"
    );

    // Nor can the app read, send to, replay or resend from the administrator's endpoint.
    let theirs = app
        .wait_for_deliveries(&admin_endpoint, "DELIVERED", 3)
        .await;
    for (operation, vars) in [
        (
            "query($e: ID!) { webhookDeliveries(endpointId: $e) { id } }",
            json!({ "e": admin_endpoint }),
        ),
        (
            "mutation($e: ID!) { sendTestWebhookEvent(endpointId: $e) { id } }",
            json!({ "e": admin_endpoint }),
        ),
        (
            "mutation($e: ID!) { replayWebhookDeliveries(endpointId: $e, since: \"2020-01-01T00:00:00Z\") }",
            json!({ "e": admin_endpoint }),
        ),
        (
            "mutation($id: String!) { resendWebhookDelivery(id: $id) { id } }",
            json!({ "id": theirs[0]["id"] }),
        ),
    ] {
        let resp = app.gql_as(&token, operation, vars).await;
        assert_eq!(codes(&resp), vec!["NOT_FOUND"], "{operation}: {resp}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admin_rx_count(), 3, "nothing was sent for the app");

    // Revoking the app disables its endpoints; the administrator hears of it.
    data(
        &app.admin(
            "mutation($id: ID!) { revokePartnerApp(id: $id) { id } }",
            json!({ "id": partner.id }),
        )
        .await,
    );
    let got = rx.wait_for(4, SECONDS).await;
    assert_eq!(got[3].body["type"], "partner_app.revoked");
    assert_eq!(got[3].body["data"]["recordId"], partner.id.as_str());
    let state = app.endpoint_state(&own).await;
    assert_eq!(state["enabled"], false);
    assert_eq!(state["disabledReason"], "APP_REVOKED");
    let resp = app
        .admin(
            "mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }",
            json!({ "id": own }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["CONFLICT"]);
}

#[tokio::test]
async fn an_apps_endpoint_hears_only_what_its_users_consented_to_and_nothing_once_revoked() {
    let app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    // Everything that happens reaches the administrator's endpoint: the app's must have had
    // its chance by the time the administrator's has it.
    let all_rx = Receiver::start().await;
    app.webhook_endpoint(None, &all_rx.url, None).await;
    // A public app (no client credentials) whose ceiling reads tests too, but whose user
    // approved patients only.
    let partner = app
        .register_app_with(
            json!({ "scopes": ["patients:read", "tests:read"] }),
            "SANDBOX",
            "PUBLIC",
        )
        .await;
    let (verifier, challenge) = switchboard_tests::oauth::pkce();
    let code = switchboard_tests::oauth::Browser::new(&app)
        .authorize(
            &partner,
            &challenge,
            "patients:read tests:read",
            Some(&["patients:read"]),
        )
        .await;
    let (status, body) = app
        .exchange_code(
            &partner,
            &code,
            switchboard_tests::oauth::REDIRECT,
            &verifier,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let app_rx = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(Some(token), &app_rx.url, None).await;
    app_rx.trust(&secret);

    let writer = app.full_key().await;
    let patient = |n: &str| {
        app.patient_id(
            &writer,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": n }),
        )
    };
    let first = patient("CONSENTED-1").await;
    app.create_test(&writer, &first, "ACC-C1").await;
    all_rx.wait_for(2, SECONDS).await;
    let got = app_rx.wait_for(1, SECONDS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app_rx.received().len(), 1, "no test event: not consented");
    assert_eq!(got[0].body["type"], "patient.created");
    assert_eq!(got[0].body["data"]["recordId"], first.as_str());

    // The user's grant revoked: the app can read nothing, so hears nothing.
    let resp = app
        .admin(
            "query($id:ID!){ partnerApp(id:$id){ grants { id } } }",
            json!({ "id": partner.id }),
        )
        .await;
    let grant = data(&resp)["partnerApp"]["grants"][0]["id"].clone();
    data(
        &app.admin(
            "mutation($id: ID!) { revokePartnerAppGrant(id: $id) { id } }",
            json!({ "id": grant }),
        )
        .await,
    );
    patient("CONSENTED-2").await;
    all_rx.wait_for(3, SECONDS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app_rx.received().len(),
        1,
        "nothing after the grant was revoked"
    );
}

#[tokio::test]
async fn changes_to_endpoints_are_audited_without_their_secrets() {
    let app = TestApp::builder()
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(None, &rx.url, None).await;
    let rotated = app
        .admin(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 0) { signingSecret } }",
            json!({ "id": endpoint }),
        )
        .await;
    let new_secret = data(&rotated)["rotateWebhookSecret"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &app.admin(
            "mutation($id: ID!, $i: WebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $i) { eventTypes } }",
            json!({ "id": endpoint, "i": { "url": rx.url, "eventTypes": ["TEST_RESULTED", "TEST_RESULTED"] } }),
        )
        .await,
    );
    let resp = app
        .admin(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 99999999) { signingSecret } }",
            json!({ "id": endpoint }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    data(
        &app.admin(
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": endpoint }),
        )
        .await,
    );
    let events = app
        .audit_events(json!({ "recordType": "webhook_endpoint" }))
        .await;
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        vec![
            "deleteWebhookEndpoint",
            "updateWebhookEndpoint",
            "rotateWebhookSecret",
            "createWebhookEndpoint"
        ]
    );
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(&secret) && !all.contains(&new_secret));
    let resp = app
        .admin(
            "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
            json!({ "id": endpoint }),
        )
        .await;
    assert_eq!(data(&resp)["webhookEndpoint"], Value::Null, "deleted");
}

#[tokio::test]
async fn a_key_about_to_expire_is_announced_once() {
    fn often(s: &mut switchboard::config::Settings) {
        loopback_receivers(s);
        s.webhooks.key_expiry_check_seconds = 1;
    }
    let mut app = TestApp::builder().configure(often).spawn().await;
    let rx = Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["API_KEY_EXPIRING"]))
        .await;
    rx.trust(&secret);
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (expiring, _) = app
        .create_key_with(json!({ "name": "soon", "scopes": ["patients:read"], "environment": "SANDBOX", "expiresAt": soon }))
        .await;
    app.create_key_with(json!({ "name": "later", "scopes": ["patients:read"], "environment": "SANDBOX", "expiresAt": later }))
        .await;
    let got = rx.wait_for(1, SECONDS).await;
    assert_eq!(got[0].body["type"], "api_key.expiring");
    assert_eq!(got[0].body["data"]["recordId"], expiring.as_str());
    assert_eq!(got[0].body["data"]["environment"], "SANDBOX");
    assert!(got[0].verified);
    // Once, across checks and restarts.
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.received().len(), 1);
}

/// Registers a production endpoint at `url` (whose signing secret `receiver` is told), sends
/// it a `webhook.test` ping, and answers the delivery and its first attempt once made.
async fn ping(app: &TestApp, url: &str, receiver: &Receiver) -> (Value, Value) {
    let resp = create(app, &app.admin_token, url, "PRODUCTION").await;
    let created = &data(&resp)["createWebhookEndpoint"];
    let endpoint = created["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.trust(created["signingSecret"].as_str().unwrap());
    data(
        &app.admin(
            "mutation($e: ID!) { sendTestWebhookEvent(endpointId: $e) { id } }",
            json!({ "e": endpoint }),
        )
        .await,
    );
    let deadline = std::time::Instant::now() + SECONDS;
    loop {
        let log = app.deliveries(&endpoint).await;
        if let Some(attempt) = log[0]["attempts"].as_array().and_then(|a| a.first()) {
            // The log reads the delivery and its attempts in two statements: a successful
            // attempt can be seen before its delivery's new status. A failed one leaves the
            // delivery PENDING (retried later).
            let settled = log[0]["status"] != "PENDING" || !attempt["error"].is_null();
            if settled {
                return (log[0].clone(), attempt.clone());
            }
        }
        assert!(std::time::Instant::now() < deadline, "{log:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn local_https(s: &mut switchboard::config::Settings) {
    loopback_receivers(s);
    s.webhooks.allowed_hosts = vec!["localhost".into(), "127.0.0.0/8".into()];
}

#[tokio::test]
async fn a_receiver_whose_certificate_is_not_trusted_fails_with_a_tls_error() {
    let app = TestApp::builder().configure(local_https).spawn().await;
    let receiver = Receiver::start().await;
    let url = receiver.https(&PrivateCa::new()).await;
    let (delivery, attempt) = ping(&app, &url, &receiver).await;
    assert_eq!(attempt["error"], "TLS_ERROR", "{delivery:#?}");
    assert_eq!(attempt["httpStatus"], Value::Null);
    assert!(
        attempt["detail"].as_str().unwrap().contains("certificate"),
        "{attempt}"
    );
    assert_eq!(delivery["status"], "PENDING", "retried later");
    assert!(receiver.received().is_empty(), "nothing got through");
}

#[tokio::test]
async fn a_receiver_under_a_private_ca_named_in_ca_file_is_delivered_to_and_its_name_still_checked()
{
    let ca = PrivateCa::new();
    let file = std::env::temp_dir().join(format!("switchboard-ca-{}.pem", uuid::Uuid::now_v7()));
    std::fs::write(&file, ca.pem()).unwrap();
    let ca_file = file.clone();
    let app = TestApp::builder()
        .configure(move |s| {
            local_https(s);
            s.webhooks.ca_file = Some(ca_file);
        })
        .spawn()
        .await;
    let receiver = Receiver::start().await;
    let url = receiver.https(&ca).await;

    let (delivery, attempt) = ping(&app, &url, &receiver).await;
    assert_eq!(attempt["httpStatus"], 200, "{delivery:#?}");
    assert_eq!(attempt["error"], Value::Null);
    assert_eq!(delivery["status"], "DELIVERED");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].verified,
        "signed with the endpoint's secret: {:?}",
        got[0]
    );
    assert_eq!(got[0].body["type"], "webhook.test");

    // The same listener by its address: the certificate names only `localhost`, and trusting
    // its authority does not stop the name from being checked.
    let by_address = url.replace("localhost", "127.0.0.1");
    let (delivery, attempt) = ping(&app, &by_address, &receiver).await;
    assert_eq!(attempt["error"], "TLS_ERROR", "{delivery:#?}");
    assert!(
        attempt["detail"].as_str().unwrap().contains("certificate"),
        "{attempt}"
    );
    assert_eq!(receiver.received().len(), 1, "nothing more got through");
    std::fs::remove_file(file).unwrap();
}
