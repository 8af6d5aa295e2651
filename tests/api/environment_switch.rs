//! The portal's environment switch (`X-Environment`): a portal user working in one
//! environment sees only its records, in every list and lookup, and creates only its records;
//! a key or app, already held to its own environment, may not name the other.

use serde_json::{Value, json};
use switchboard_tests::webhooks::CREATE_ENDPOINT;
use switchboard_tests::{ALL_SCOPES, TestApp, codes, data};

const LISTS: &str = "{ viewer { environment } apiKeys { name environment } clients { name } \
    partnerApps { name environment } webhookEndpoints { url environment } \
    serviceConnections { name environment } activeConnections { name environment } \
    patients { totalCount } integrationLog { environment } }";
/// An id no record has.
const NO_ID: &str = "01900000-0000-7000-8000-000000000000";
const REGISTER: &str =
    "mutation($i:RegisterPartnerAppInput!){ registerPartnerApp(input:$i){ partnerApp { id } } }";
const SERVICE: &str = "mutation($i: ServiceConnectionInput!, $e: Environment!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: $e, credentials: $c) { id } }";
const TEST_CONNECTION: &str = "mutation($id: ID!) { testConnection(id: $id) { ok } }";

/// A request in `env` (none: no header): its status and answer.
async fn within(
    app: &TestApp,
    token: &str,
    env: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(env) = env {
        req = req.header("X-Environment", env);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// An administrator's answer to a request in `env`.
async fn admin_in(app: &TestApp, env: &str, query: &str, variables: Value) -> Value {
    within(app, &app.admin_token, Some(env), query, variables)
        .await
        .1
}

/// Each record of the two environments, made without the header: (sandbox, production) ids of
/// the API key, the partner app, the webhook endpoint, the service connection and a patient.
struct World {
    keys: (String, String),
    apps: (String, String),
    endpoints: (String, String),
    patients: (String, String),
    /// The production key that created the production patient.
    live_key: String,
}

async fn world(app: &TestApp) -> World {
    let mut keys = vec![];
    let mut apps = vec![];
    let mut endpoints = vec![];
    for env in ["SANDBOX", "PRODUCTION"] {
        let lower = env.to_lowercase();
        let (key, _) = app.create_key_with(json!({ "name": format!("{lower} key"), "scopes": ["patients:read"], "environment": env }))
            .await;
        keys.push(key);
        let resp = app
            .admin(
                REGISTER,
                json!({ "i": { "app": { "name": format!("{lower} app"), "category": "CRM",
                    "redirectUris": ["https://app.example.com/cb"], "scopes": ["patients:read"] },
                    "environment": env, "clientType": "CONFIDENTIAL" } }),
            )
            .await;
        apps.push(
            data(&resp)["registerPartnerApp"]["partnerApp"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let url = format!("https://93.184.216.34/{lower}");
        let resp = app
            .admin(CREATE_ENDPOINT, json!({ "i": { "url": url }, "e": env }))
            .await;
        endpoints.push(
            data(&resp)["createWebhookEndpoint"]["webhookEndpoint"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let input = json!({ "name": format!("{lower} lab"), "serviceType": "LAB", "protocol": "HTTPS_JSON",
            "address": "https://127.0.0.1:9", "timeoutMs": 500 });
        let creds = json!({ "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": "lis-key-1234567890" });
        let resp = app
            .admin(SERVICE, json!({ "i": input, "e": env, "c": creds }))
            .await;
        let id = data(&resp)["createServiceConnection"]["id"].clone();
        // A failed Test Connection: an integration log entry of this environment.
        data(&app.admin(TEST_CONNECTION, json!({ "id": id })).await);
    }
    let sandbox_key = app.full_key().await;
    let (live_key_id, live_key) = app
        .create_key_with(
            json!({ "name": "live", "scopes": ALL_SCOPES, "environment": "PRODUCTION" }),
        )
        .await;
    let sandbox_patient = app
        .patient_id(&sandbox_key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let live_patient = app
        .patient_id(&live_key, &app.fx.client_p, &app.fx.loc_p1, json!({}))
        .await;
    World {
        keys: (keys[0].clone(), keys[1].clone()),
        apps: (apps[0].clone(), apps[1].clone()),
        endpoints: (endpoints[0].clone(), endpoints[1].clone()),
        patients: (sandbox_patient, live_patient),
        live_key: live_key_id,
    }
}

/// Every API key, either environment.
async fn key_count(app: &TestApp) -> usize {
    let resp = app.admin("{ apiKeys { id } }", json!({})).await;
    data(&resp)["apiKeys"].as_array().unwrap().len()
}

/// The environments of a list's items.
fn environments(list: &Value) -> Vec<String> {
    let mut all: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item["environment"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    all.dedup();
    all
}

#[tokio::test]
async fn a_portal_user_working_in_one_environment_sees_and_creates_only_its_records() {
    let app = TestApp::builder()
        .configure(|s| s.services.allowed_hosts = vec!["127.0.0.0/8".into()])
        .spawn()
        .await;
    let w = world(&app).await;
    let admin = app.admin_token.clone();

    // Without the switch: both environments, everywhere.
    let (_, all) = within(&app, &admin, None, LISTS, json!({})).await;
    let all = data(&all).clone();
    assert_eq!(all["viewer"]["environment"], Value::Null);
    for list in [
        "apiKeys",
        "partnerApps",
        "webhookEndpoints",
        "serviceConnections",
        "activeConnections",
        "integrationLog",
    ] {
        assert_eq!(
            environments(&all[list]),
            ["PRODUCTION", "SANDBOX"],
            "{list}: {all}"
        );
    }
    let all_patients = all["patients"]["totalCount"].as_i64().unwrap();

    for (env, other) in [("SANDBOX", "PRODUCTION"), ("PRODUCTION", "SANDBOX")] {
        let (status, resp) = within(&app, &admin, Some(env), LISTS, json!({})).await;
        assert_eq!(status, 200, "{resp}");
        let seen = data(&resp);
        assert_eq!(seen["viewer"]["environment"], env);
        for list in [
            "apiKeys",
            "partnerApps",
            "webhookEndpoints",
            "serviceConnections",
            "activeConnections",
            "integrationLog",
        ] {
            assert_eq!(environments(&seen[list]), [env], "{list} in {env}: {seen}");
        }
        let clients: Vec<&str> = seen["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if env == "SANDBOX" {
            &["Client A", "Client B"]
        } else {
            &["Client P"]
        };
        assert_eq!(clients, expected, "clients in {env}");
        let patients = seen["patients"]["totalCount"].as_i64().unwrap();
        assert!(
            patients >= 1 && patients < all_patients,
            "{env}: {patients} of {all_patients}"
        );

        // Lookups of the other environment's records: as for ids that do not exist.
        let (app_id, endpoint_id, patient_id) = if env == "SANDBOX" {
            (&w.apps.1, &w.endpoints.1, &w.patients.1)
        } else {
            (&w.apps.0, &w.endpoints.0, &w.patients.0)
        };
        let resp = admin_in(&app, env, "query($a:ID!,$e:ID!,$p:ID!){ partnerApp(id:$a){ id } webhookEndpoint(id:$e){ id } patient(id:$p){ id } }", json!({ "a": app_id, "e": endpoint_id, "p": patient_id })).await;
        assert_eq!(
            data(&resp),
            &json!({ "partnerApp": null, "webhookEndpoint": null, "patient": null }),
            "{env}: {resp}"
        );

        // Nor can they be changed: suspended, deleted.
        for (change, id) in [
            (
                "mutation($id:ID!){ suspendPartnerApp(id:$id){ status } }",
                app_id,
            ),
            (
                "mutation($id:ID!){ deleteWebhookEndpoint(id:$id) }",
                endpoint_id,
            ),
        ] {
            let resp = admin_in(&app, env, change, json!({ "id": id })).await;
            assert_eq!(codes(&resp), ["NOT_FOUND"], "{change}: {resp}");
        }

        // The audit trail leaves out what the other environment's credentials did; portal
        // users' events show in both.
        let trail = "query($f:AuditFilterInput){ auditEvents(first: 100, filter:$f){ nodes { actorKind actorId } } }";
        let resp = admin_in(&app, env, trail, json!({ "f": null })).await;
        let actors: Vec<(String, String)> = data(&resp)["auditEvents"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["actorKind"].as_str().unwrap().to_owned(),
                    e["actorId"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            actors.iter().any(|(kind, _)| kind == "ADMIN"),
            "{env}: {resp}"
        );
        let by_live = actors.iter().any(|(_, id)| id == &w.live_key);
        assert_eq!(by_live, env == "PRODUCTION", "{env}: {resp}");
        let resp = admin_in(&app, env, trail, json!({ "f": { "actorId": w.live_key } })).await;
        let found = data(&resp)["auditEvents"]["nodes"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(found > 0, env == "PRODUCTION", "{env}: {resp}");
        let export = app
            .http
            .get(app.url(&format!(
                "/audit/export?format=ndjson&actorId={}",
                w.live_key
            )))
            .bearer_auth(&admin)
            .header("X-Environment", env)
            .send()
            .await
            .unwrap();
        assert_eq!(export.status().as_u16(), 200);
        let lines = export.text().await.unwrap().lines().count();
        assert_eq!(lines > 0, env == "PRODUCTION", "{env}: {lines} exported");

        // Nor the other environment's API key: revoked, rotated, renamed, limited or its
        // rotation ended. It stays as it was.
        let key_id = if env == "SANDBOX" {
            &w.keys.1
        } else {
            &w.keys.0
        };
        for change in [
            "mutation($k:ID!){ revokeApiKey(id:$k){ id } }",
            "mutation($k:ID!){ rotateApiKey(id:$k){ secret } }",
            "mutation($k:ID!){ renameApiKey(id:$k, name:\"taken\"){ id } }",
            "mutation($k:ID!){ endApiKeyRotation(id:$k){ id } }",
            "mutation($k:ID!){ setApiKeyLimits(id:$k, input:{ allowedIps: [\"10.0.0.0/8\"] }){ id } }",
        ] {
            let resp = admin_in(&app, env, change, json!({ "k": key_id })).await;
            assert_eq!(codes(&resp), ["NOT_FOUND"], "{change} in {env}: {resp}");
        }
        let resp = admin_in(
            &app,
            other,
            "{ apiKeys { id name status allowedIps } }",
            json!({}),
        )
        .await;
        let key = data(&resp)["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| &k["id"] == key_id)
            .unwrap_or_else(|| panic!("the key is still there: {resp}"))
            .clone();
        assert_eq!(key["status"], "ACTIVE", "{key}");
        assert_ne!(key["name"], "taken", "{key}");
        assert_ne!(key["allowedIps"], json!(["10.0.0.0/8"]), "{key}");

        // A patient for the other environment's client: as for a client that does not exist.
        let create =
            "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } } }";
        let (client, location) = if env == "SANDBOX" {
            (&app.fx.client_p, &app.fx.loc_p1)
        } else {
            (&app.fx.client_a, &app.fx.loc_a1)
        };
        let across = json!({ "i": { "clientId": client, "locationId": location } });
        let across = admin_in(&app, env, create, across).await;
        let nowhere = json!({ "i": { "clientId": NO_ID, "locationId": NO_ID } });
        let nowhere = admin_in(&app, env, create, nowhere).await;
        assert_eq!(codes(&across), ["VALIDATION_FAILED"], "{across}");
        assert_eq!(
            across["errors"][0]["message"],
            nowhere["errors"][0]["message"]
        );
        assert_eq!(
            across["errors"][0]["extensions"],
            nowhere["errors"][0]["extensions"]
        );

        // Creating a record of the other environment is refused, on its field, and nothing
        // is made.
        let keys_before = key_count(&app).await;
        let resp = admin_in(&app, env, "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }", json!({ "i": { "name": "elsewhere", "scopes": ["patients:read"], "environment": other } })).await;
        assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp}");
        assert_eq!(
            resp["errors"][0]["extensions"]["field"], "input.environment",
            "{resp}"
        );
        assert!(
            resp["errors"][0]["message"].as_str().unwrap().contains(env),
            "{resp}"
        );
        let resp = admin_in(
            &app,
            env,
            &format!("mutation{{ createClient(name:\"Elsewhere\", environment:{other}){{ id }} }}"),
            json!({}),
        )
        .await;
        assert_eq!(codes(&resp), ["VALIDATION_FAILED"], "{resp}");
        assert_eq!(key_count(&app).await, keys_before);
        let resp = app.admin("{ clients { id } }", json!({})).await;
        assert_eq!(data(&resp)["clients"].as_array().unwrap().len(), 3);

        // …and one of its own is made, and listed.
        let resp = admin_in(
            &app,
            env,
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ apiKey { environment } } }",
            json!({ "i": { "name": "here", "scopes": ["patients:read"], "environment": env } }),
        )
        .await;
        assert_eq!(data(&resp)["createApiKey"]["apiKey"]["environment"], env);
    }

    // What was refused above is untouched.
    let (_, resp) = within(&app, &admin, None, LISTS, json!({})).await;
    let after = data(&resp);
    for list in ["partnerApps", "webhookEndpoints"] {
        assert_eq!(after[list], all[list], "{list}");
    }

    // A value that is no environment is refused before anything runs.
    for bad in ["sandbox", "STAGING", ""] {
        let (status, resp) = within(&app, &admin, Some(bad), "{ viewer { id } }", json!({})).await;
        assert_eq!(status, 400, "{bad:?}: {resp}");
        assert_eq!(codes(&resp), ["VALIDATION_FAILED"]);
        assert_eq!(resp["errors"][0]["extensions"]["field"], "X-Environment");
    }
}

#[tokio::test]
async fn a_key_may_name_its_own_environment_but_not_the_other() {
    let app = TestApp::builder().spawn().await;
    let sandbox = app.full_key().await;
    let patient = app
        .patient_id(&sandbox, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let (status, resp) = within(
        &app,
        &sandbox,
        Some("SANDBOX"),
        "query($p:ID!){ viewer { environment } patient(id:$p){ id } }",
        json!({ "p": patient }),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(data(&resp)["patient"]["id"], patient.as_str());
    let (status, resp) = within(
        &app,
        &sandbox,
        Some("PRODUCTION"),
        "query($p:ID!){ patient(id:$p){ id } }",
        json!({ "p": patient }),
    )
    .await;
    assert_eq!(codes(&resp), ["ENVIRONMENT_MISMATCH"], "{status}: {resp}");
    assert!(resp["data"].is_null(), "nothing answered: {resp}");
}
