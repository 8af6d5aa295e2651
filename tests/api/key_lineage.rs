//! A key's grants are checked when they are made, and a rotated key is still one key:
//! revoking it (from either secret) ends every secret, and a rotation can be cut short.

use serde_json::json;
use switchboard::domain::api_key::new_api_key;
use switchboard::domain::environment::Environment;
use switchboard::store::api_keys::{NewApiKey, insert};
use switchboard_tests::{TestApp, codes, data, spawn_app};
use uuid::Uuid;

const VIEWER: &str = "{ viewer { kind } }";

async fn works(app: &TestApp, secret: &str) -> bool {
    let (status, body) = app.post(Some(secret), json!({ "query": VIEWER })).await;
    match status {
        200 => {
            data(&body);
            true
        }
        401 => {
            assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
            false
        }
        other => panic!("unexpected status {other}: {body}"),
    }
}

async fn rotate(app: &TestApp, id: &str) -> (String, String) {
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id, gracePeriodSeconds: 3600){ secret apiKey { id } } }",
            json!({ "id": id }),
        )
        .await;
    let r = &data(&resp)["rotateApiKey"];
    (
        r["apiKey"]["id"].as_str().unwrap().to_owned(),
        r["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn location_limits_must_exist_in_the_environment_and_belong_to_the_listed_clients() {
    let app = spawn_app().await;
    let fx = app.fx.clone();
    let unknown = Uuid::now_v7().to_string();
    let cases = [
        (
            json!({ "locationIds": [fx.loc_p1] }),
            "SANDBOX",
            fx.loc_p1.clone(),
        ),
        (
            json!({ "locationIds": [fx.loc_a1] }),
            "PRODUCTION",
            fx.loc_a1.clone(),
        ),
        (
            json!({ "locationIds": [fx.loc_a1, unknown] }),
            "SANDBOX",
            unknown.clone(),
        ),
        (
            json!({ "clientIds": [fx.client_a], "locationIds": [fx.loc_a1, fx.loc_b1] }),
            "SANDBOX",
            fx.loc_b1.clone(),
        ),
    ];
    for (limits, env, bad) in cases {
        let mut input = json!({ "name": "k", "scopes": ["patients:read"], "environment": env });
        for (k, v) in limits.as_object().unwrap() {
            input[k] = v.clone();
        }
        let resp = app
            .admin(
                "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
                json!({ "i": input }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{input}: {resp}");
        let err = &resp["errors"][0];
        assert!(
            err["extensions"]["field"]
                .as_str()
                .unwrap()
                .starts_with("input.locationIds[")
        );
        assert!(err["message"].as_str().unwrap().contains(&bad), "{err}");
    }
    let keys = app.admin("{ apiKeys { id } }", json!({})).await;
    assert_eq!(data(&keys)["apiKeys"], json!([]), "nothing was created");
    // Well-formed limits are accepted.
    app.create_key_with(
        json!({ "name": "ok", "scopes": ["patients:read"], "environment": "SANDBOX",
        "clientIds": [fx.client_a], "locationIds": [fx.loc_a1, fx.loc_a2] }),
    )
    .await;
}

#[tokio::test]
async fn a_key_made_with_a_bad_grant_cannot_be_rotated_into_a_new_one() {
    let app = spawn_app().await;
    // As a key stored before grants were checked this closely.
    let secret = new_api_key(Environment::Sandbox);
    let key = insert(
        app.store().conn(),
        NewApiKey {
            name: "old".into(),
            prefix: secret.prefix,
            secret_hash: secret.hash,
            scopes: vec!["patients:read".into()],
            client_ids: None,
            location_ids: Some(vec![app.fx.loc_p1.parse().unwrap()]),
            environment: "SANDBOX".into(),
            expires_at: None,
            created_by: None,
            limits: Default::default(),
        },
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id){ secret } }",
            json!({ "id": key.id.to_string() }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&app.fx.loc_p1)
    );
}

#[tokio::test]
async fn revoking_either_secret_of_a_rotated_key_ends_both() {
    let mut app = spawn_app().await;
    for revoke_new in [true, false] {
        let (old_id, old) = app.key_with_id(&["patients:read"]).await;
        let (new_id, new) = rotate(&app, &old_id).await;
        assert!(
            works(&app, &old).await && works(&app, &new).await,
            "both during the grace"
        );
        let target = if revoke_new { &new_id } else { &old_id };
        let resp = app
            .admin(
                "mutation($id:ID!){ revokeApiKey(id:$id){ id status } }",
                json!({ "id": target }),
            )
            .await;
        assert_eq!(data(&resp)["revokeApiKey"]["status"], "REVOKED");
        assert!(
            !works(&app, &old).await,
            "old secret ended (revoked the new: {revoke_new})"
        );
        assert!(
            !works(&app, &new).await,
            "new secret ended (revoked the new: {revoke_new})"
        );
        let resp = app
            .admin("{ apiKeys(includeRevoked: true) { id status } }", json!({}))
            .await;
        for key in data(&resp)["apiKeys"].as_array().unwrap() {
            if key["id"] == json!(old_id) || key["id"] == json!(new_id) {
                assert_eq!(key["status"], "REVOKED", "{key}");
            }
        }
        app.restart().await;
        assert!(
            !works(&app, &old).await && !works(&app, &new).await,
            "after a restart"
        );
    }
}

#[tokio::test]
async fn a_rotation_can_be_cut_short() {
    let app = spawn_app().await;
    let (old_id, old) = app.key_with_id(&["patients:read"]).await;
    let (mid_id, mid) = rotate(&app, &old_id).await;
    let (new_id, new) = rotate(&app, &mid_id).await;
    assert!(works(&app, &old).await && works(&app, &mid).await && works(&app, &new).await);
    let resp = app
        .admin(
            "mutation($id:ID!){ endApiKeyRotation(id:$id){ id } }",
            json!({ "id": old_id }),
        )
        .await;
    assert_eq!(
        data(&resp)["endApiKeyRotation"]["id"],
        json!(new_id),
        "the newest"
    );
    assert!(!works(&app, &old).await && !works(&app, &mid).await);
    assert!(works(&app, &new).await, "the newest keeps working");
    let resp = app
        .admin(
            "mutation($id:ID!){ endApiKeyRotation(id:$id){ id } }",
            json!({ "id": new_id }),
        )
        .await;
    assert_eq!(
        data(&resp)["endApiKeyRotation"]["id"],
        json!(new_id),
        "idempotent"
    );
    let (plain_id, _) = app.key_with_id(&["patients:read"]).await;
    let resp = app
        .admin(
            "mutation($id:ID!){ endApiKeyRotation(id:$id){ id } }",
            json!({ "id": plain_id }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["CONFLICT"]);
    let key = app.key(&["patients:read"]).await;
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ endApiKeyRotation(id:$id){ id } }",
            json!({ "id": new_id }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
}
