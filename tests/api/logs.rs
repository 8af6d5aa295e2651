//! The server's log, read whole: secrets and patient data never in it, even at `debug`, while
//! every line logged during a request carries that request's id.

use serde_json::{Value, json};
use switchboard_tests::webhooks::CREATE_ENDPOINT;
use switchboard_tests::{ADMIN_EMAIL, TestApp, codes, data};

const PATIENT_VALUES: [&str; 6] = [
    "Zephyrine",
    "Quillfeather",
    "zq-7731@example.org",
    "+1 555 0143 7731",
    "EXT-LOG-55910",
    "1961-07-23",
];

#[tokio::test]
async fn secrets_and_patient_values_never_reach_the_log() {
    let mut app = TestApp::builder().spawn().await;
    let server = app.spawn_process_with(&[
        ("RUST_LOG", "debug"),
        ("SWITCHBOARD_LOG_FORMAT", "json"),
        ("SWITCHBOARD__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.1"),
        ("SWITCHBOARD__SERVICES__ALLOWED_HOSTS", "127.0.0.0/8"),
    ]);
    // From here on every helper talks to that process.
    app.base = server.base.clone();
    let mut secrets: Vec<String> = vec![app.admin_token.clone()];

    // Keys: one made, one made up, one used from an address it may not be used from.
    let key = app.full_key().await;
    secrets.push(key.clone());
    let made_up = "sb_test_notarealkey_9d8c7b6a5f4e3d2c1b0a";
    let resp = app
        .gql(Some(made_up), "{ viewer { kind } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["UNAUTHENTICATED"]);
    secrets.push(made_up.to_owned());
    let (_, fenced) = app
        .create_key_with(json!({
            "name": "fenced", "scopes": ["patients:read"], "environment": "SANDBOX",
            "allowedIps": ["10.0.0.0/8"],
        }))
        .await;
    let resp = app.gql_as(&fenced, "{ viewer { kind } }", json!({})).await;
    assert_eq!(codes(&resp), vec!["IP_NOT_ALLOWED"]);
    secrets.push(fenced);

    // A failed login, with its password.
    let wrong = "Wr0ng-Passw0rd-4411";
    let resp = app
        .gql(
            None,
            "mutation($e:String!,$p:String!){ login(email:$e, password:$p){ token } }",
            json!({ "e": ADMIN_EMAIL, "p": wrong }),
        )
        .await;
    assert!(!codes(&resp).is_empty(), "{resp}");
    secrets.push(wrong.to_owned());

    // A webhook endpoint nobody answers at: its signing secret, and deliveries that fail.
    let resp = app
        .admin(
            CREATE_ENDPOINT,
            json!({ "i": { "url": "http://127.0.0.1:9/hook" }, "e": "SANDBOX" }),
        )
        .await;
    let signing = data(&resp)["createWebhookEndpoint"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(signing);

    // A patient, read, updated, and refused a bad update that quotes one of its values.
    let [first, last, email, phone, external, born] = PATIENT_VALUES;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "firstName": first, "lastName": last, "email": email, "phone": phone,
                    "externalPatientId": external, "dateOfBirth": born }),
        )
        .await;
    let resp = app
        .gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ firstName lastName email phone dateOfBirth } }",
            json!({ "id": patient }),
        )
        .await;
    assert_eq!(data(&resp)["patient"]["firstName"], first);
    let update = "mutation($id:ID!,$i:UpdatePatientInput!){ updatePatient(id:$id, input:$i){ patient { id } } }";
    let resp = app
        .gql_as(
            &key,
            update,
            json!({ "id": patient, "i": { "dateOfBirth": format!("{first}-{born}") } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp}");
    let resp = app
        .gql_as(
            &key,
            update,
            json!({ "id": patient, "i": { "lastName": format!("{last}-Smythe") } }),
        )
        .await;
    data(&resp);

    // An external service with a credential, tested against a port nobody listens on.
    let lis_secret = "lis-cred-Xq81Zt0pLm";
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id } }",
            json!({
                "i": { "name": "LIS", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": "http://127.0.0.1:9", "timeoutMs": 2000 },
                "c": { "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": lis_secret },
            }),
        )
        .await;
    let id = data(&resp)["createServiceConnection"]["id"].clone();
    let resp = app
        .admin(
            "mutation($id: ID!) { testConnection(id: $id) { ok code } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["testConnection"]["ok"], false);
    secrets.push(lis_secret.to_owned());

    // A partner app's client secret and the access token it is given.
    let partner = app
        .register_app_with(json!({}), "SANDBOX", "CONFIDENTIAL")
        .await;
    let client_secret = partner.secret.clone().expect("a confidential app's secret");
    let (status, token) = app
        .token_request(
            &partner,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "patients:read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{token}");
    let access = token["access_token"].as_str().unwrap().to_owned();
    data(
        &app.gql_as(
            &access,
            "{ patients(first: 5) { nodes { id } } }",
            json!({}),
        )
        .await,
    );
    secrets.extend([client_secret, access]);

    // Give the failing deliveries time to be tried and logged.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let log = server.output();
    assert!(log.lines().count() > 5, "the log is nearly empty:\n{log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log: {secret}\n{log}"
        );
    }
    for value in PATIENT_VALUES {
        assert!(
            !log.contains(value),
            "a patient's value is in the log: {value}\n{log}"
        );
    }

    // The address refusal was logged inside its request: the line carries the request's id.
    let refusal: Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("may not be used from this address"))
        })
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    let request_id = refusal["span"]["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request id: {refusal}"));
    assert_eq!(request_id.len(), 36, "{refusal}");
}
