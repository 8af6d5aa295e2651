use serde_json::json;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, codes, data, spawn_app};

#[tokio::test]
async fn login_refuses_wrong_passwords_and_unknown_users_alike() {
    let app = spawn_app().await;
    let q = "mutation($e:String!,$p:String!){ login(email:$e,password:$p){ token } }";
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password!"),
        ("nobody@example.org", ADMIN_PASSWORD),
    ] {
        let resp = app.gql(None, q, json!({ "e": email, "p": password })).await;
        assert_eq!(codes(&resp), vec!["UNAUTHENTICATED"]);
        assert_eq!(resp["errors"][0]["message"], "invalid email or password");
    }
}

#[tokio::test]
async fn sessions_survive_a_restart_and_end_at_logout() {
    let mut app = spawn_app().await;
    let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.restart().await;
    let resp = app
        .gql_as(&token, "{ viewer { kind role } }", json!({}))
        .await;
    assert_eq!(
        data(&resp)["viewer"],
        json!({ "kind": "ADMIN", "role": "SYSTEM_ADMINISTRATOR" })
    );
    let resp = app.gql_as(&token, "mutation { logout }", json!({})).await;
    assert_eq!(data(&resp)["logout"], true);
    let (status, body) = app
        .post(Some(&token), json!({ "query": "{ viewer { kind } }" }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(codes(&body), vec!["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn staff_may_not_manage_keys_or_clients() {
    let app = spawn_app().await;
    let staff = app.staff_session().await;
    let resp = app
        .gql_as(
            &staff,
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "s", "scopes": ["patients:read"], "environment": "SANDBOX" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    for q in [
        "{ apiKeys { id } }",
        "{ clients { id } }",
        "mutation { createClient(name:\"x\", environment: SANDBOX){ id } }",
    ] {
        let resp = app.gql_as(&staff, q, json!({})).await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{q}");
    }
    // Staff still work with patient data.
    let resp = app
        .gql_as(&staff, "{ patients { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
}

#[tokio::test]
async fn client_and_location_names_are_validated_with_their_field() {
    let app = spawn_app().await;
    for bad in ["", "  ", &"x".repeat(201)] {
        let resp = app
            .admin(
                "mutation($n:String!){ createClient(name:$n, environment: SANDBOX){ id } }",
                json!({ "n": bad }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{bad:?}");
        assert_eq!(resp["errors"][0]["extensions"]["field"], "name");
        let resp = app
            .admin(
                "mutation($c:ID!, $n:String!){ createLocation(clientId:$c, name:$n){ id } }",
                json!({ "c": app.fx.client_a, "n": bad }),
            )
            .await;
        assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{bad:?}");
    }
}
