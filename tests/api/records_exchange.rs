//! The records-exchange flow: a patient's request goes to the service with the patient's
//! demographics and clinical information, and the service's answer comes back signed to the
//! connection's inbound address. Forged, stale, malformed and replayed answers change nothing;
//! environments never mix; retryable failures are tried again and refusals are not; only
//! readers of the data sent may ask.

use serde_json::{Value, json};
use switchboard_tests::receiver::{PrivateCa, tls_front};
use switchboard_tests::services::{RecordsService, closed_port};
use switchboard_tests::{ALL_SCOPES, TestApp, codes, data};

const CREATE: &str = "mutation($i: ServiceConnectionInput!, $e: Environment!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: $e, credentials: $c) { id } }";
const REQUEST: &str = "mutation($p: ID!, $c: ID!) { requestOutsideRecords(patientId: $p, connectionId: $c) { id status validation errorCode message attempts environment records { kind title date source } } }";
const LIST: &str = "query($p: ID!) { outsideRecordsRequests(patientId: $p) { id status answeredAt records { kind title date source text } } }";
const ROTATE: &str = "mutation($id: ID!) { rotateServiceInboundSecret(id: $id) { secret url } }";
const LOG: &str = "query($c: ID!) { integrationLog(filter: { connectionId: $c }) { direction operation outcome errorCode message } }";
const KEY: &str = "records-key-51c0e2";

fn local(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into(), "localhost".into()];
}

/// Registers a RECORDS_EXCHANGE connection (`extra` merged into its input): its id.
async fn connection(app: &TestApp, address: &str, env: &str, extra: Value) -> String {
    let mut input = json!({ "name": format!("Records at {address}"), "serviceType": "RECORDS_EXCHANGE", "protocol": "HTTPS_JSON", "address": address, "timeoutMs": 2000 });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let credentials = json!({ "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": KEY });
    let resp = app
        .admin(CREATE, json!({ "i": input, "e": env, "c": credentials }))
        .await;
    data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{resp:#}"))
        .to_owned()
}

/// The connection's new inbound secret and address.
async fn inbound(app: &TestApp, connection: &str) -> (String, String) {
    let resp = app.admin(ROTATE, json!({ "id": connection })).await;
    let d = &data(&resp)["rotateServiceInboundSecret"];
    (
        d["secret"].as_str().unwrap().to_owned(),
        d["url"].as_str().unwrap().to_owned(),
    )
}

async fn request(app: &TestApp, token: &str, patient: &str, connection: &str) -> Value {
    app.gql_as(token, REQUEST, json!({ "p": patient, "c": connection }))
        .await
}

async fn log(app: &TestApp, connection: &str) -> Vec<Value> {
    let resp = app.admin(LOG, json!({ "c": connection })).await;
    data(&resp)["integrationLog"].as_array().unwrap().clone()
}

/// An app that may reach loopback, a records service, a sandbox connection to it, a full
/// sandbox key, and a patient of client A with `fields`: (app, service, connection, key,
/// patient).
async fn setup(fields: Value) -> (TestApp, RecordsService, String, String, String) {
    let app = TestApp::builder().configure(local).spawn().await;
    let service = RecordsService::start(KEY).await;
    let conn = connection(&app, &service.url(), "SANDBOX", json!({})).await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, fields)
        .await;
    (app, service, conn, key, patient)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_request_goes_out_with_the_patients_data_and_only_a_signed_fresh_answer_comes_back() {
    let (mut app, service, conn, key, patient) = setup(
        json!({ "externalPatientId": "OR-1", "firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1990-12-10", "diagnoses": ["E11.9"], "medications": ["metformin 500 mg"] }),
    )
    .await;

    // Before a secret is set, the connection says so, and nothing it is sent is taken.
    let resp = app
        .admin(
            "query($id: ID!) { serviceConnection(id: $id) { inbound { url secretSet } } }",
            json!({ "id": conn }),
        )
        .await;
    let before = &data(&resp)["serviceConnection"]["inbound"];
    assert_eq!(before["secretSet"], false, "{resp:#}");
    let (secret, url) = inbound(&app, &conn).await;
    assert_eq!(before["url"], url.as_str());
    assert!(secret.starts_with("whsec_"));
    assert!(url.ends_with(&format!("/services/{conn}/inbound")), "{url}");

    let resp = request(&app, &key, &patient, &conn).await;
    let sent = &data(&resp)["requestOutsideRecords"];
    assert_eq!(sent["status"], "SENT", "{resp:#}");
    assert_eq!(
        (sent["attempts"].clone(), sent["validation"].clone()),
        (json!(1), json!(false))
    );
    let id = sent["id"].as_str().unwrap().to_owned();

    // What the service received: demographics and clinical information, where to answer,
    // the connection's credentials, and the request's id as the idempotency key.
    let got = service.received();
    assert_eq!(got.len(), 1);
    let body = &got[0].body;
    assert_eq!(body["requestId"], id.as_str());
    assert_eq!(body["environment"], "SANDBOX");
    assert_eq!(body["callbackUrl"], url.as_str());
    assert_eq!(body["patient"]["firstName"], "Ada");
    assert_eq!(body["patient"]["externalPatientId"], "OR-1");
    assert_eq!(body["patient"]["dateOfBirth"], "1990-12-10");
    assert_eq!(body["patient"]["diagnoses"], json!(["E11.9"]));
    assert_eq!(body["patient"]["medications"], json!(["metformin 500 mg"]));
    assert_eq!(got[0].idempotency_key, id);
    assert_eq!(got[0].api_key, KEY);

    let answer = json!({ "requestId": id, "status": "FOUND", "records": [
        { "kind": "ENCOUNTER", "title": "Annual visit", "date": "2025-03-04", "source": "St. Elsewhere", "text": "Well." }
    ] });
    let (other, _) = switchboard::domain::webhook_endpoint::new_signing_secret();
    // Forged (another secret), stale, unsigned, for an unknown request, malformed: refused,
    // each with its code, and the request still waits.
    let (status, body) = RecordsService::answer(&url, &other, "msg_1", now(), &answer).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("SIGNATURE_INVALID")),
        "{body}"
    );
    let (status, body) = RecordsService::answer(&url, &secret, "msg_1", now() - 600, &answer).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("TIMESTAMP_STALE")),
        "{body}"
    );
    let unsigned = reqwest::Client::new()
        .post(&url)
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let unknown = json!({ "requestId": uuid::Uuid::now_v7(), "status": "NOT_FOUND" });
    let (status, body) = RecordsService::answer(&url, &secret, "msg_2", now(), &unknown).await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("INVALID_MESSAGE")),
        "{body}"
    );
    let bad = json!({ "requestId": id, "status": "FOUND", "records": [{ "kind": "X" }] });
    let (status, body) = RecordsService::answer(&url, &secret, "msg_3", now(), &bad).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("INVALID_MESSAGE")),
        "{body}"
    );
    let resp = app.gql_as(&key, LIST, json!({ "p": patient })).await;
    assert_eq!(
        data(&resp)["outsideRecordsRequests"][0]["status"],
        "SENT",
        "{resp:#}"
    );

    // The request and the sealed secret outlive a restart (the address moves with the
    // port, as `oauth.issuer` is not set here).
    app.restart().await;
    let resp = app
        .admin(
            "query($id: ID!) { serviceConnection(id: $id) { inbound { url secretSet } } }",
            json!({ "id": conn }),
        )
        .await;
    assert_eq!(
        data(&resp)["serviceConnection"]["inbound"]["secretSet"],
        true
    );
    let url = data(&resp)["serviceConnection"]["inbound"]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    // The real answer is taken once; a resend of it changes nothing, another answer is refused.
    let (status, body) = RecordsService::answer(&url, &secret, "msg_4", now(), &answer).await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("accepted")),
        "{body}"
    );
    let (status, body) = RecordsService::answer(&url, &secret, "msg_4", now(), &answer).await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("already received")),
        "{body}"
    );
    let again = json!({ "requestId": id, "status": "NOT_FOUND" });
    let (status, _) = RecordsService::answer(&url, &secret, "msg_5", now(), &again).await;
    assert_eq!(status, 409);
    let resp = app.gql_as(&key, LIST, json!({ "p": patient })).await;
    let answered = &data(&resp)["outsideRecordsRequests"][0];
    assert_eq!(answered["status"], "ANSWERED", "{resp:#}");
    assert_eq!(answered["records"][0]["title"], "Annual visit");
    assert_eq!(answered["records"][0]["date"], "2025-03-04");
    assert!(answered["answeredAt"].is_string());

    // Every exchange is in the log; refusals are marked as Switchboard's, not the service's.
    let entries = log(&app, &conn).await;
    let seen: Vec<(String, String, Option<String>)> = entries
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["errorCode"].as_str().map(str::to_owned),
            )
        })
        .collect();
    for want in [
        ("REQUEST_RECORDS", "OK", None),
        ("RECEIVE_RECORDS", "REFUSED", Some("SIGNATURE_INVALID")),
        ("RECEIVE_RECORDS", "REFUSED", Some("TIMESTAMP_STALE")),
        ("RECEIVE_RECORDS", "FAILED", Some("INVALID_MESSAGE")),
        ("RECEIVE_RECORDS", "OK", None),
    ] {
        let want = (
            want.0.to_owned(),
            want.1.to_owned(),
            want.2.map(str::to_owned),
        );
        assert!(seen.contains(&want), "{want:?} in {seen:#?}");
    }

    // The secret is in no answer but the rotation's, and not in the audit trail.
    let events = app.audit_events(json!({})).await;
    // The answer's write is audited once, as done by the connection (the resend wrote nothing).
    let by_service: Vec<&Value> = events
        .iter()
        .filter(|e| e["operation"] == "receiveOutsideRecords")
        .collect();
    assert_eq!(by_service.len(), 1, "{events:#?}");
    assert_eq!(by_service[0]["actorKind"], "SERVICE_CONNECTION");
    assert_eq!(by_service[0]["actorId"], conn.as_str());
    assert!(by_service[0]["recordIds"].to_string().contains(&id));
    assert!(by_service[0]["recordIds"].to_string().contains(&patient));
    assert_eq!(by_service[0]["ip"], "127.0.0.1");
    let trail = serde_json::to_string(&events).unwrap();
    assert!(!trail.contains(&secret));
    assert!(
        trail.contains("rotateServiceInboundSecret") && trail.contains("requestOutsideRecords")
    );
}

#[tokio::test]
async fn environments_never_mix_and_validation_requests_go_to_the_test_address() {
    let app = TestApp::builder().configure(local).spawn().await;
    let ca = PrivateCa::new();
    let live = RecordsService::start(KEY).await;
    let staging = RecordsService::start(KEY).await;
    let live_port = tls_front(&ca, "localhost", false, live.addr).await;
    let staging_port = tls_front(&ca, "localhost", false, staging.addr).await;
    let sandbox_conn = connection(&app, &staging.url(), "SANDBOX", json!({})).await;
    let production_conn = connection(
        &app,
        &format!("https://localhost:{live_port}/"),
        "PRODUCTION",
        json!({ "caCertificates": ca.pem() }),
    )
    .await;
    let sandbox_key = app.full_key().await;
    let (_, live_key) = app
        .create_key_with(
            json!({ "name": "live", "scopes": ALL_SCOPES, "environment": "PRODUCTION" }),
        )
        .await;
    let real = app
        .patient_id(
            &live_key,
            &app.fx.client_p,
            &app.fx.loc_p1,
            json!({ "firstName": "Real" }),
        )
        .await;
    let synthetic = app
        .patient_id(
            &sandbox_key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "firstName": "Synthetic" }),
        )
        .await;

    // A production patient to a sandbox connection, and the reverse: refused before anything
    // is sent, logged and audited.
    for (token, patient, conn) in [
        (&live_key, &real, &sandbox_conn),
        (&sandbox_key, &synthetic, &production_conn),
    ] {
        let resp = request(&app, token, patient, conn).await;
        assert_eq!(codes(&resp), ["ENVIRONMENT_MISMATCH"], "{resp:#}");
        let entries = log(&app, conn).await;
        assert_eq!(entries[0]["outcome"], "REFUSED");
        assert_eq!(entries[0]["errorCode"], "ENVIRONMENT_MISMATCH");
    }
    // The admin sees every environment, and is refused the same.
    let resp = app
        .admin(REQUEST, json!({ "p": real, "c": sandbox_conn }))
        .await;
    assert_eq!(codes(&resp), ["ENVIRONMENT_MISMATCH"], "{resp:#}");
    assert!(live.received().is_empty() && staging.received().is_empty());
    let refusals = app.audit_events(json!({ "action": "REFUSE" })).await;
    assert!(
        refusals
            .iter()
            .any(|e| e["operation"] == "requestOutsideRecords"),
        "{refusals:#?}"
    );

    // A production patient to the production connection goes out.
    let resp = request(&app, &live_key, &real, &production_conn).await;
    assert_eq!(
        data(&resp)["requestOutsideRecords"]["status"],
        "SENT",
        "{resp:#}"
    );
    assert_eq!(live.received().len(), 1);
    assert_eq!(live.received()[0].body["environment"], "PRODUCTION");

    // Validation mode: only for production, and only with a test address; then requests go
    // there, marked as validation, and are counted.
    let update = "mutation($id: ID!, $i: ServiceConnectionInput!) { updateServiceConnection(id: $id, input: $i) { validationMode validationAddress validatedRequests { succeeded failed } } }";
    let mut input = json!({ "name": "Records live", "serviceType": "RECORDS_EXCHANGE", "protocol": "HTTPS_JSON", "address": format!("https://localhost:{live_port}/"), "caCertificates": ca.pem(), "timeoutMs": 2000, "validationMode": true });
    let resp = app
        .admin(update, json!({ "id": production_conn, "i": input }))
        .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp:#}");
    input["validationAddress"] = json!(format!("https://localhost:{staging_port}/"));
    let resp = app
        .admin(update, json!({ "id": production_conn, "i": input }))
        .await;
    assert_eq!(
        data(&resp)["updateServiceConnection"]["validationMode"],
        true,
        "{resp:#}"
    );
    let resp = request(&app, &live_key, &real, &production_conn).await;
    let validated = &data(&resp)["requestOutsideRecords"];
    assert_eq!(
        (validated["status"].clone(), validated["validation"].clone()),
        (json!("VALIDATED"), json!(true)),
        "{resp:#}"
    );
    assert_eq!(
        live.received().len(),
        1,
        "the live address got nothing more"
    );
    let to_test = staging.received();
    assert_eq!(to_test.len(), 1);
    assert_eq!(to_test[0].body["validation"], true);
    assert_eq!(to_test[0].body["patient"]["firstName"], "Real");
    staging.reject_all();
    let resp = request(&app, &live_key, &real, &production_conn).await;
    assert_eq!(
        data(&resp)["requestOutsideRecords"]["errorCode"],
        "REJECTED",
        "{resp:#}"
    );
    let resp = app
        .admin(
            "query($id: ID!) { serviceConnection(id: $id) { validatedRequests { succeeded failed } } }",
            json!({ "id": production_conn }),
        )
        .await;
    assert_eq!(
        data(&resp)["serviceConnection"]["validatedRequests"],
        json!({ "succeeded": 1, "failed": 1 }),
        "{resp:#}"
    );

    // A validation request is never answered: an answer naming it is refused.
    let (secret, url) = inbound(&app, &production_conn).await;
    let id = validated["id"].as_str().unwrap();
    let answer = json!({ "requestId": id, "status": "NOT_FOUND" });
    let (status, _) = RecordsService::answer(&url, &secret, "msg_v", now(), &answer).await;
    assert_eq!(status, 404);

    // A sandbox connection has no validation mode.
    let resp = app
        .admin(
            update,
            json!({ "id": sandbox_conn, "i": { "name": "x", "serviceType": "RECORDS_EXCHANGE", "protocol": "HTTPS_JSON", "address": staging.url(), "validationMode": true, "validationAddress": staging.url() } }),
        )
        .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp:#}");
}

#[tokio::test]
async fn retryable_failures_are_tried_again_with_one_idempotency_key_and_refusals_are_not() {
    let (app, service, conn, key, patient) = setup(json!({ "firstName": "Ada" })).await;

    // Busy twice, then accepted: one request, sent three times under one key.
    service.unavailable_for(2);
    let resp = request(&app, &key, &patient, &conn).await;
    let sent = &data(&resp)["requestOutsideRecords"];
    assert_eq!(
        (sent["status"].clone(), sent["attempts"].clone()),
        (json!("SENT"), json!(3)),
        "{resp:#}"
    );
    let got = service.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.idempotency_key == sent["id"].as_str().unwrap())
    );

    // Busy for longer than the tries: failed, retryable code, three tries.
    service.unavailable_for(10);
    let resp = request(&app, &key, &patient, &conn).await;
    let failed = &data(&resp)["requestOutsideRecords"];
    assert_eq!(
        (
            failed["status"].clone(),
            failed["errorCode"].clone(),
            failed["attempts"].clone()
        ),
        (json!("FAILED"), json!("UNEXPECTED_RESPONSE"), json!(3)),
        "{resp:#}"
    );
    service.unavailable_for(0);

    // Refused as invalid: once only.
    service.reject_all();
    let before = service.received().len();
    let resp = request(&app, &key, &patient, &conn).await;
    let rejected = &data(&resp)["requestOutsideRecords"];
    assert_eq!(
        (rejected["errorCode"].clone(), rejected["attempts"].clone()),
        (json!("REJECTED"), json!(1)),
        "{resp:#}"
    );
    assert!(rejected["message"].as_str().unwrap().contains("HTTP 422"));
    assert_eq!(service.received().len(), before + 1);

    // Nothing listening: tried again, then failed.
    let gone = connection(
        &app,
        &format!("http://127.0.0.1:{}/", closed_port()),
        "SANDBOX",
        json!({}),
    )
    .await;
    let resp = request(&app, &key, &patient, &gone).await;
    let refused = &data(&resp)["requestOutsideRecords"];
    assert_eq!(
        (refused["errorCode"].clone(), refused["attempts"].clone()),
        (json!("CONNECTION_REFUSED"), json!(3)),
        "{resp:#}"
    );
    let entries = log(&app, &gone).await;
    assert_eq!(entries[0]["operation"], "REQUEST_RECORDS");
    assert_eq!(entries[0]["outcome"], "FAILED");
    assert!(
        entries[0]["message"]
            .as_str()
            .unwrap()
            .contains("after 3 tries"),
        "{entries:#?}"
    );
}

#[tokio::test]
async fn only_readers_of_the_data_sent_may_ask_and_only_settings_admins_set_the_secret() {
    let (app, service, conn, full, patient) = setup(json!({ "firstName": "Ada" })).await;

    // Without clinical or demographic read: refused, asking and listing alike.
    for missing in ["patients.clinical:read", "patients.demographics:read"] {
        let scopes: Vec<&str> = ALL_SCOPES
            .iter()
            .copied()
            .filter(|s| *s != missing)
            .collect();
        let key = app.key(&scopes).await;
        let resp = request(&app, &key, &patient, &conn).await;
        assert_eq!(codes(&resp), ["FORBIDDEN"], "{missing}: {resp:#}");
        let resp = app.gql_as(&key, LIST, json!({ "p": patient })).await;
        assert_eq!(codes(&resp), ["FORBIDDEN"], "{missing}: {resp:#}");
    }
    // A key limited to another client does not find the patient.
    let (_, other) = app
        .create_key_with(json!({ "name": "B only", "scopes": ALL_SCOPES, "environment": "SANDBOX", "clientIds": [app.fx.client_b] }))
        .await;
    let resp = request(&app, &other, &patient, &conn).await;
    assert_eq!(codes(&resp), ["NOT_FOUND"], "{resp:#}");
    let resp = app.gql_as(&other, LIST, json!({ "p": patient })).await;
    assert_eq!(codes(&resp), ["NOT_FOUND"], "{resp:#}");
    assert!(service.received().is_empty());

    // Only a records-exchange connection takes requests.
    let lab = app
        .admin(
            CREATE,
            json!({ "i": { "name": "LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": service.url() }, "e": "SANDBOX", "c": { "kind": "NONE" } }),
        )
        .await;
    let lab = data(&lab)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = request(&app, &full, &patient, &lab).await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp:#}");

    // The inbound secret: settings administrators only.
    let staff = app.staff_session().await;
    for token in [&full, &staff] {
        let resp = app.gql_as(token, ROTATE, json!({ "id": conn })).await;
        assert_eq!(codes(&resp), ["FORBIDDEN"], "{resp:#}");
    }
    // A lab over HTTPS_JSON signs its results with one (its results address).
    let resp = app.admin(ROTATE, json!({ "id": lab })).await;
    let url = data(&resp)["rotateServiceInboundSecret"]["url"]
        .as_str()
        .unwrap();
    assert!(url.ends_with(&format!("/services/{lab}/results")), "{url}");
}
