//! The developer-documentation toggle: GraphiQL and schema introspection.

use serde_json::json;
use switchboard_tests::{TestApp, codes, data, spawn_app};

const INTROSPECT: &str = "{ __schema { queryType { name } } }";

async fn set_portal(app: &TestApp, token: &str, on: bool) -> serde_json::Value {
    app.gql_as(
        token,
        "mutation($on:Boolean!){ setDeveloperPortalEnabled(enabled:$on){ developerPortalEnabled } }",
        json!({ "on": on }),
    )
    .await
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.http
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The body of a GET, as text.
async fn text_of(app: &TestApp, path: &str) -> String {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    resp.text().await.unwrap()
}

#[tokio::test]
async fn switching_the_developer_portal_off_hides_graphiql_and_the_schema() {
    let app = spawn_app().await;
    let key = app.key(&["patients:read", "patients.contact:read"]).await;

    // On by default: the playground and introspection for signed-in callers.
    assert_eq!(status_of(&app, "/graphiql").await, 200);
    let resp = app.gql_as(&key, INTROSPECT, json!({})).await;
    assert_eq!(data(&resp)["__schema"]["queryType"]["name"], "Query");
    let resp = app.gql(None, INTROSPECT, json!({})).await;
    assert_eq!(codes(&resp), vec!["UNAUTHENTICATED"]);
    let resp = app
        .gql(
            None,
            "{ integrationSettings { developerPortalEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&resp), vec!["UNAUTHENTICATED"]);

    // Only settings admins may switch it.
    let resp = set_portal(&app, &key, false).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let resp = set_portal(&app, &app.admin_token, false).await;
    assert_eq!(
        data(&resp)["setDeveloperPortalEnabled"]["developerPortalEnabled"],
        false
    );

    // Off: no playground, no schema for non-admins, normal queries unaffected.
    assert_eq!(status_of(&app, "/graphiql").await, 404);
    let said = text_of(&app, "/graphiql").await;
    assert!(
        said.contains("Developer documentation is switched off"),
        "{said}"
    );
    assert_eq!(status_of(&app, "/graphiql/assets/graphiql.js").await, 404);
    let resp = app.gql_as(&key, INTROSPECT, json!({})).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let resp = app
        .gql_as(&key, "{ x: __type(name: \"Patient\") { name } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let resp = app
        .gql_as(&key, "{ patients { totalCount } __typename }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
    let resp = app
        .gql_as(
            &key,
            "{ integrationSettings { developerPortalEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&resp)["integrationSettings"]["developerPortalEnabled"],
        false
    );
    let resp = app.admin(INTROSPECT, json!({})).await;
    assert_eq!(data(&resp)["__schema"]["queryType"]["name"], "Query");

    // And back on.
    set_portal(&app, &app.admin_token, true).await;
    assert_eq!(status_of(&app, "/graphiql").await, 200);
    let resp = app.gql_as(&key, INTROSPECT, json!({})).await;
    data(&resp);
}

#[tokio::test]
async fn the_setting_survives_a_restart() {
    let mut app = spawn_app().await;
    set_portal(&app, &app.admin_token, false).await;
    app.restart().await;
    assert_eq!(status_of(&app, "/graphiql").await, 404);
}

#[tokio::test]
async fn field_documentation_names_the_required_scope() {
    let app = spawn_app().await;
    let key = app.key(&["patients:read"]).await;
    let resp = app
        .gql_as(
            &key,
            "{ __type(name: \"Patient\") { name fields { name description } } }",
            json!({}),
        )
        .await;
    let fields = data(&resp)["__type"]["fields"].as_array().unwrap().clone();
    let email = fields.iter().find(|f| f["name"] == "email").unwrap();
    assert!(
        email["description"]
            .as_str()
            .unwrap()
            .contains("`patients.contact:read`"),
        "{email}"
    );
}

#[tokio::test]
async fn graphiql_is_served_with_local_assets_only() {
    let app = spawn_app().await;
    let page = text_of(&app, "/graphiql").await;
    assert!(page.contains("/graphiql/assets/graphiql.js"));
    // No request is sent with a placeholder for a key (it would open on an error).
    assert!(!page.contains("<your API key>"));
    assert!(
        !page.contains("https://"),
        "no CDN: the machines have no internet"
    );
    for asset in ["react.js", "react-dom.js", "graphiql.js", "graphiql.css"] {
        let path = format!("/graphiql/assets/{asset}");
        assert_eq!(
            status_of(&app, &path).await,
            200,
            "{path} (run scripts/setup.sh)"
        );
    }
    assert_eq!(status_of(&app, "/graphiql/assets/package.json").await, 404);
    assert_eq!(
        status_of(&app, "/graphiql/assets/..%2F..%2FCargo.toml").await,
        404
    );
}

#[tokio::test]
async fn the_portal_is_served_with_client_routes_falling_back_to_index() {
    let dir = std::env::temp_dir().join(format!("switchboard-portal-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<html><body>portal index</body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("portal_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let app = TestApp::builder().portal_dir(dir.clone()).spawn().await;
    for path in ["/", "/settings/api-console", "/login"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.text().await.unwrap().contains("portal index"),
            "{path}"
        );
    }
    let wasm = app
        .http
        .get(app.url("/portal_bg.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    // The API is not shadowed by the fallback.
    assert_eq!(status_of(&app, "/healthz").await, 200);
    let (status, _) = app.post(None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(dir);
}
