use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};

const VIEWER: &str = "{ viewer { kind scopes } }";

#[tokio::test]
async fn a_key_works_as_bearer_and_as_x_api_key() {
    let app = spawn_app().await;
    let key = app.key(&["patients:read"]).await;
    assert!(key.starts_with("sb_test_"));
    let resp = app.gql_as(&key, VIEWER, json!({})).await;
    assert_eq!(data(&resp)["viewer"]["kind"], "API_KEY");
    let resp = app
        .http
        .post(app.url("/graphql"))
        .header("x-api-key", &key)
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(data(&body)["viewer"]["scopes"], json!(["patients:read"]));
}

#[tokio::test]
async fn production_keys_are_live_keys() {
    let app = spawn_app().await;
    let (_, secret) = app
        .create_key_with(
            json!({ "name": "prod", "scopes": ["patients:read"], "environment": "PRODUCTION" }),
        )
        .await;
    assert!(secret.starts_with("sb_live_"));
    // 32 random bytes, base64url: 43 characters after the tag.
    assert_eq!(secret.len(), 8 + 43);
}

#[tokio::test]
async fn unknown_and_malformed_credentials_are_unauthenticated() {
    let app = spawn_app().await;
    for token in ["sb_live_doesnotexist", "garbage", "sb_sess_nope"] {
        let (status, body) = app.post(Some(token), json!({ "query": VIEWER })).await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
    }
    // No credential at all: the query runs, but every guarded field is refused.
    let (status, body) = app
        .post(None, json!({ "query": "{ patients { totalCount } }" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["patients"], json!(null));
    assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn revoked_keys_are_refused_also_after_a_restart() {
    let mut app = spawn_app().await;
    let (id, key) = app
        .create_key_with(
            json!({ "name": "k", "scopes": ["patients:read"], "environment": "SANDBOX" }),
        )
        .await;
    let (status, _) = app.post(Some(&key), json!({ "query": VIEWER })).await;
    assert_eq!(status, 200);
    let resp = app
        .admin(
            "mutation($id:ID!){ revokeApiKey(id:$id){ status revokedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&resp)["revokeApiKey"]["status"], "REVOKED");
    let (status, body) = app.post(Some(&key), json!({ "query": VIEWER })).await;
    assert_eq!(status, 401);
    assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
    app.restart().await;
    let (status, _) = app.post(Some(&key), json!({ "query": VIEWER })).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let mut app = spawn_app().await;
    let key = app.key(&["patients:read"]).await;
    app.restart().await;
    let resp = app.gql_as(&key, VIEWER, json!({})).await;
    assert_eq!(data(&resp)["viewer"]["kind"], "API_KEY");
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let app = spawn_app().await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(3000)).to_rfc3339();
    let (_, key) = app
        .create_key_with(json!({ "name": "short", "scopes": ["patients:read"], "environment": "SANDBOX", "expiresAt": soon }))
        .await;
    let (status, _) = app.post(Some(&key), json!({ "query": VIEWER })).await;
    assert_eq!(status, 200);
    // Expiry is wall-clock by nature; wait until it has passed.
    let mut refused = false;
    for _ in 0..80 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (status, body) = app.post(Some(&key), json!({ "query": VIEWER })).await;
        if status == 401 {
            assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
            refused = true;
            break;
        }
    }
    assert!(refused, "the key kept working after its expiry");
    // An expiry in the past is refused at creation.
    let resp = app
        .admin(
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "past", "scopes": ["patients:read"], "environment": "SANDBOX", "expiresAt": "2001-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn rotation_keeps_grants_and_honours_the_grace_period() {
    let app = spawn_app().await;
    let (id, old) = app
        .create_key_with(json!({
            "name": "rotating", "scopes": ["patients:read", "tests:read"], "environment": "SANDBOX",
            "clientIds": [app.fx.client_a]
        }))
        .await;
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id, gracePeriodSeconds: 3600){ secret apiKey { id scopes clientIds status } } }",
            json!({ "id": id }),
        )
        .await;
    let rotated = &data(&resp)["rotateApiKey"];
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        rotated["apiKey"]["scopes"],
        json!(["patients:read", "tests:read"])
    );
    assert_eq!(rotated["apiKey"]["clientIds"], json!([app.fx.client_a]));
    // Both work during the grace period, with the same grants.
    for key in [&old, &new] {
        let resp = app
            .gql_as(key, "{ viewer { scopes clientIds } }", json!({}))
            .await;
        assert_eq!(data(&resp)["viewer"]["clientIds"], json!([app.fx.client_a]));
    }
    let list = app.admin("{ apiKeys { id status } }", json!({})).await;
    let old_status = data(&list)["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap()["status"]
        .clone();
    assert_eq!(old_status, "ROTATING");
    // A rotated key cannot be rotated again (its successor can).
    let again = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id){ secret } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(codes(&again), vec!["CONFLICT"]);
}

#[tokio::test]
async fn rotation_without_grace_ends_the_old_secret_at_once() {
    let app = spawn_app().await;
    let (id, old) = app
        .create_key_with(
            json!({ "name": "r", "scopes": ["patients:read"], "environment": "SANDBOX" }),
        )
        .await;
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id, gracePeriodSeconds: 0){ secret } }",
            json!({ "id": id }),
        )
        .await;
    let new = data(&resp)["rotateApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app.post(Some(&old), json!({ "query": VIEWER })).await;
    assert_eq!(status, 401);
    let (status, _) = app.post(Some(&new), json!({ "query": VIEWER })).await;
    assert_eq!(status, 200);
    let bad = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id, gracePeriodSeconds: -5){ secret } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(codes(&bad), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn last_use_is_recorded_and_secrets_are_never_listed() {
    let app = spawn_app().await;
    let (id, key) = app
        .create_key_with(
            json!({ "name": "u", "scopes": ["patients:read"], "environment": "SANDBOX" }),
        )
        .await;
    let before = app
        .admin("{ apiKeys { id lastUsedAt prefix } }", json!({}))
        .await;
    let entry = |v: &serde_json::Value| {
        data(v)["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == json!(id))
            .cloned()
            .unwrap()
    };
    assert_eq!(entry(&before)["lastUsedAt"], json!(null));
    assert!(key.starts_with(entry(&before)["prefix"].as_str().unwrap()));
    app.gql_as(&key, VIEWER, json!({})).await;
    let after = app.admin("{ apiKeys { id lastUsedAt } }", json!({})).await;
    assert!(entry(&after)["lastUsedAt"].is_string());
    // The listing has no field that could carry the secret.
    let leak = app.admin("{ apiKeys { secret } }", json!({})).await;
    assert_eq!(codes(&leak), vec!["VALIDATION_FAILED"]);
    assert!(!leak.to_string().contains(&key));
}

#[tokio::test]
async fn unknown_scopes_are_refused_when_creating_a_key() {
    let app = spawn_app().await;
    let resp = app
        .admin(
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "x", "scopes": ["patients:read", "patients:delete"], "environment": "SANDBOX" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(resp["errors"][0]["extensions"]["field"], "input.scopes");
    let keys = app.admin("{ apiKeys { id } }", json!({})).await;
    assert_eq!(data(&keys)["apiKeys"], json!([]));
}

#[tokio::test]
async fn keys_cannot_manage_keys() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let resp = app
        .gql_as(
            &key,
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "escalate", "scopes": ["patients:read"], "environment": "SANDBOX" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    assert_eq!(resp["data"]["createApiKey"], json!(null));
    let resp = app.gql_as(&key, "{ apiKeys { id } }", json!({})).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
}

#[tokio::test]
async fn a_key_is_renamed_with_its_rotation_and_shows_who_created_it() {
    let app = spawn_app().await;
    let (id, old) = app
        .create_key_with(
            json!({ "name": "first name", "scopes": ["patients:read"], "environment": "SANDBOX" }),
        )
        .await;
    let rotated = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id){ secret apiKey { id } } }",
            json!({ "id": id }),
        )
        .await;
    let new_id = data(&rotated)["rotateApiKey"]["apiKey"]["id"].clone();
    let new = data(&rotated)["rotateApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    const RENAME: &str =
        "mutation($id:ID!, $n:String!){ renameApiKey(id:$id, name:$n){ id name } }";

    // Bad names are refused with the field named, and nothing changes.
    for bad in ["", "   ", &"x".repeat(101)] {
        let resp = app.admin(RENAME, json!({ "id": id, "n": bad })).await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{bad:?}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], "name");
    }
    let resp = app
        .admin(
            RENAME,
            json!({ "id": "00000000-0000-7000-8000-000000000000", "n": "x" }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);

    // Renaming the old key renames the rotation: both secrets are one key.
    let resp = app
        .admin(RENAME, json!({ "id": id, "n": "  LIS results feed " }))
        .await;
    assert_eq!(data(&resp)["renameApiKey"]["name"], "LIS results feed");
    let list = app
        .admin("{ apiKeys { id name createdBy } }", json!({}))
        .await;
    for key in data(&list)["apiKeys"].as_array().unwrap() {
        assert_eq!(key["name"], "LIS results feed");
        assert_eq!(key["createdBy"], switchboard_tests::ADMIN_EMAIL);
    }
    assert!(
        data(&list)["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == new_id)
    );
    // The secrets and grants are untouched, and the audit trail names the change.
    for key in [&old, &new] {
        let resp = app.gql_as(key, VIEWER, json!({})).await;
        assert_eq!(data(&resp)["viewer"]["scopes"], json!(["patients:read"]));
    }
    let events = app
        .audit_events(json!({ "recordType": "api_key", "action": "UPDATE" }))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["fields"], json!(["name"]));
    assert_eq!(events[0]["operation"], "renameApiKey");

    // Neither a key nor a STAFF user can rename keys, and the name stays.
    let key = app.full_key().await;
    let resp = app
        .gql_as(&key, RENAME, json!({ "id": id, "n": "mine" }))
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let staff = app.staff_session().await;
    let resp = app
        .gql_as(&staff, RENAME, json!({ "id": id, "n": "mine" }))
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    assert_eq!(resp["data"]["renameApiKey"], json!(null));
    // The creators of a whole list are read in one query, however many keys there are.
    let statements_for_list = async || {
        let before = app.statements();
        app.admin("{ apiKeys { createdBy } }", json!({})).await;
        app.statements() - before
    };
    let few = statements_for_list().await;
    for _ in 0..5 {
        app.key_with_id(&["patients:read"]).await;
    }
    assert_eq!(statements_for_list().await, few);
    let list = app.admin("{ apiKeys { id name } }", json!({})).await;
    assert!(
        data(&list)["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["id"] == json!(id) || k["id"] == new_id)
            .all(|k| k["name"] == "LIS results feed")
    );
}
