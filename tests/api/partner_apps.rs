//! The connection directory: registering partner apps, what is refused, who may see it, and
//! apps and keys listed side by side.

use serde_json::{Value, json};
use switchboard_tests::oauth::REDIRECT;
use switchboard_tests::{codes, data, spawn_app};

const REGISTER: &str = "mutation($i:RegisterPartnerAppInput!){ registerPartnerApp(input:$i){ clientSecret partnerApp { id clientId clientType status environment scopes redirectUris secrets { prefix active } } } }";

fn input(app: Value, environment: &str, client_type: &str) -> Value {
    let mut base = json!({
        "name": "Ledger Books",
        "category": "ACCOUNTING",
        "redirectUris": [REDIRECT],
        "scopes": ["patients:read"],
    });
    for (k, v) in app.as_object().unwrap() {
        base[k] = v.clone();
    }
    json!({ "i": { "app": base, "environment": environment, "clientType": client_type } })
}

#[tokio::test]
async fn registering_an_app_shows_its_secret_once_and_checks_what_it_is_given() {
    let app = spawn_app().await;
    let resp = app
        .admin(REGISTER, input(json!({}), "PRODUCTION", "CONFIDENTIAL"))
        .await;
    // A production server-side app may not be sent back to plain http.
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["field"],
        "input.redirectUris[0]"
    );

    let resp = app
        .admin(
            REGISTER,
            input(
                json!({ "redirectUris": ["https://ledger.example/cb"] }),
                "PRODUCTION",
                "CONFIDENTIAL",
            ),
        )
        .await;
    let out = &data(&resp)["registerPartnerApp"];
    let secret = out["clientSecret"].as_str().unwrap();
    assert!(secret.starts_with("sb_cs_live_"));
    let registered = &out["partnerApp"];
    assert!(
        registered["clientId"]
            .as_str()
            .unwrap()
            .starts_with("sbapp_")
    );
    assert_eq!(registered["status"], "ACTIVE");
    assert_eq!(registered["clientType"], "CONFIDENTIAL");
    assert!(secret.starts_with(registered["secrets"][0]["prefix"].as_str().unwrap()));
    // Never again: the app's page has the prefix only.
    let id = registered["id"].as_str().unwrap();
    let listed = app
        .admin(
            "query($id:ID!){ partnerApp(id:$id){ secrets { prefix } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(!data(&listed).to_string().contains(secret));

    for (bad, field) in [
        (json!({ "scopes": [] }), "input.scopes"),
        (json!({ "scopes": ["patients:delete"] }), "input.scopes"),
        (json!({ "name": "" }), "input.name"),
        (
            json!({ "homepage": "http://ledger.example" }),
            "input.homepage",
        ),
        (
            json!({ "redirectUris": ["https://x.example/cb#frag"] }),
            "input.redirectUris[0]",
        ),
        (
            json!({ "redirectUris": ["ftp://x.example/cb"] }),
            "input.redirectUris[0]",
        ),
        (
            json!({ "clientIds": [app.fx.client_p] }),
            "input.clientIds[0]",
        ),
        (
            json!({ "locationIds": [app.fx.loc_b1], "clientIds": [app.fx.client_a] }),
            "input.locationIds[0]",
        ),
    ] {
        let resp = app
            .admin(REGISTER, input(bad.clone(), "SANDBOX", "CONFIDENTIAL"))
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{bad}: {resp}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{bad}");
    }
    // A public app needs a redirect URI and gets no secret.
    let resp = app
        .admin(
            REGISTER,
            input(json!({ "redirectUris": [] }), "SANDBOX", "PUBLIC"),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    let resp = app
        .admin(REGISTER, input(json!({}), "SANDBOX", "PUBLIC"))
        .await;
    assert_eq!(
        data(&resp)["registerPartnerApp"]["clientSecret"],
        Value::Null
    );
    let public_id = data(&resp)["registerPartnerApp"]["partnerApp"]["id"].clone();
    let resp = app
        .admin(
            "mutation($id:ID!){ rotatePartnerAppSecret(id:$id){ clientSecret } }",
            json!({ "id": public_id }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["CONFLICT"]);

    // Only the registration and the refusals' absence are in the trail: refused inputs wrote
    // nothing.
    let events = app
        .audit_events(json!({ "recordType": "partner_app" }))
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| !e.to_string().contains(secret)));
}

#[tokio::test]
async fn only_settings_administrators_see_or_change_the_directory() {
    let app = spawn_app().await;
    let registered = app.register_app(&["patients:read"]).await;
    let staff = app.staff_session().await;
    let key = app.full_key().await;
    let token = app
        .oauth_token(&["patients:read"], &["patients:read"])
        .await;
    for who in [&staff, &key, &token] {
        for (query, vars) in [
            ("{ partnerApps { id } }", json!({})),
            ("{ activeConnections { id } }", json!({})),
            (
                "mutation($id:ID!){ suspendPartnerApp(id:$id){ id } }",
                json!({ "id": registered.id }),
            ),
            (REGISTER, input(json!({}), "SANDBOX", "CONFIDENTIAL")),
        ] {
            let resp = app.gql_as(who, query, vars).await;
            assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{query}: {resp}");
        }
    }
    let resp = app
        .admin(
            "query($id:ID!){ partnerApp(id:$id){ status } }",
            json!({ "id": registered.id }),
        )
        .await;
    assert_eq!(
        data(&resp)["partnerApp"]["status"],
        "ACTIVE",
        "nothing was suspended"
    );
}

#[tokio::test]
async fn active_connections_list_apps_and_keys_side_by_side() {
    let app = spawn_app().await;
    let (key_id, key) = app.key_with_id(&["patients:read"]).await;
    let _ = app.gql_as(&key, "{ viewer { name } }", json!({})).await;
    let crm = app
        .register_app_with(
            json!({ "name": "Care CRM", "category": "CRM", "scopes": ["patients:read"] }),
            "SANDBOX",
            "CONFIDENTIAL",
        )
        .await;
    let lab = app
        .register_app_with(
            json!({ "name": "Lab Vendor", "category": "DIAGNOSTICS", "scopes": ["tests:read"], "redirectUris": ["https://lab.example/cb"] }),
            "PRODUCTION",
            "CONFIDENTIAL",
        )
        .await;
    // The CRM is used (a backend token), so it has a grant and a last use.
    let (_, body) = app
        .token_request(&crm, &[("grant_type", "client_credentials")])
        .await;
    let token = body["access_token"].as_str().unwrap();
    data(&app.gql_as(token, "{ viewer { name } }", json!({})).await);
    app.admin(
        "mutation($id:ID!){ suspendPartnerApp(id:$id){ id } }",
        json!({ "id": lab.id }),
    )
    .await;

    let list = |filter: Value| {
        let app = &app;
        async move {
            let resp = app
                .admin(
                    "query($f:ConnectionFilterInput){ activeConnections(filter:$f){ kind id name category environment status lastUsedAt activeGrants partnerApp { clientId } apiKey { prefix } } }",
                    json!({ "f": filter }),
                )
                .await;
            data(&resp)["activeConnections"].as_array().unwrap().clone()
        }
    };
    let all = list(json!({})).await;
    let names: Vec<&str> = all.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["Lab Vendor", "Care CRM", "test key"],
        "newest first"
    );
    let crm_row = &all[1];
    assert_eq!(crm_row["kind"], "PARTNER_APP");
    assert_eq!(crm_row["category"], "CRM");
    assert_eq!(crm_row["activeGrants"], 1);
    assert!(!crm_row["lastUsedAt"].is_null());
    assert_eq!(crm_row["partnerApp"]["clientId"], crm.client_id.as_str());
    let key_row = &all[2];
    assert_eq!(key_row["kind"], "API_KEY");
    assert_eq!(key_row["id"], key_id.as_str());
    assert_eq!(key_row["category"], Value::Null);
    assert!(!key_row["lastUsedAt"].is_null());
    assert!(
        key_row["apiKey"]["prefix"]
            .as_str()
            .unwrap()
            .starts_with("sb_test_")
    );

    let names_of = |rows: Vec<Value>| -> Vec<String> {
        rows.iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names_of(list(json!({ "kind": "API_KEY" })).await),
        vec!["test key"]
    );
    assert_eq!(
        names_of(list(json!({ "category": "DIAGNOSTICS" })).await),
        vec!["Lab Vendor"]
    );
    assert_eq!(
        names_of(list(json!({ "environment": "PRODUCTION" })).await),
        vec!["Lab Vendor"]
    );
    assert_eq!(
        names_of(list(json!({ "status": "SUSPENDED" })).await),
        vec!["Lab Vendor"]
    );
    assert_eq!(
        names_of(list(json!({ "status": "ACTIVE", "kind": "PARTNER_APP" })).await),
        vec!["Care CRM"]
    );

    // Revoking a key from the directory's list works as from the keys' page.
    app.admin(
        "mutation($id:ID!){ revokeApiKey(id:$id){ id } }",
        json!({ "id": key_id }),
    )
    .await;
    assert_eq!(
        names_of(list(json!({ "status": "REVOKED" })).await),
        vec!["test key"]
    );
}

#[tokio::test]
async fn a_lowered_ceiling_applies_to_tokens_already_issued() {
    let app = spawn_app().await;
    let partner = app
        .register_app(&["patients:read", "patients.contact:read"])
        .await;
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let scopes = |token: String| {
        let app = &app;
        async move {
            data(&app.gql_as(&token, "{ viewer { scopes } }", json!({})).await)["viewer"]["scopes"]
                .clone()
        }
    };
    assert_eq!(
        scopes(token.clone()).await,
        json!(["patients:read", "patients.contact:read"])
    );
    let resp = app
        .admin(
            "mutation($id:ID!,$i:PartnerAppInput!){ updatePartnerApp(id:$id, input:$i){ scopes } }",
            json!({ "id": partner.id, "i": {
                "name": "Ledger Books", "category": "ACCOUNTING",
                "redirectUris": [REDIRECT], "scopes": ["patients:read"]
            } }),
        )
        .await;
    assert_eq!(
        data(&resp)["updatePartnerApp"]["scopes"],
        json!(["patients:read"])
    );
    assert_eq!(scopes(token).await, json!(["patients:read"]));
}
