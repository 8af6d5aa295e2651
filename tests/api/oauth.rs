//! The authorization server, driven by a real OAuth client (the `oauth2` crate) and by a
//! browser's form posts: the flows that work, and each refusal with its RFC error.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IntrospectionUrl, PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use switchboard_tests::oauth::{Browser, REDIRECT, RegisteredApp, query_param};
use switchboard_tests::{ADMIN_EMAIL, ALL_SCOPES, TestApp, codes, data, spawn_app};

#[derive(Debug)]
struct HttpErr(String);
impl std::fmt::Display for HttpErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl Error for HttpErr {}

type HttpFuture = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpErr>> + Send>>;

/// The `oauth2` crate's HTTP client, over our reqwest (../shared/docs/crates.md).
fn oauth_http(client: reqwest::Client) -> impl Fn(oauth2::HttpRequest) -> HttpFuture {
    move |req| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpErr(e.to_string()))?;
            let mut b = oauth2::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                b = b.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp.bytes().await.map_err(|e| HttpErr(e.to_string()))?;
            b.body(bytes.to_vec()).map_err(|e| HttpErr(e.to_string()))
        })
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const PATIENT_QUERY: &str =
    "query($id:ID!){ patient(id:$id){ id firstName email billingAccount } }";

async fn patient_in(app: &TestApp, client: &str, location: &str, ext: &str) -> String {
    let env = if client == app.fx.client_p {
        "PRODUCTION"
    } else {
        "SANDBOX"
    };
    let (_, full) = app
        .create_key_with(json!({ "name": "setup", "scopes": ALL_SCOPES, "environment": env }))
        .await;
    app.patient_id(
        &full,
        client,
        location,
        json!({ "externalPatientId": ext, "firstName": "Ada", "email": "ada@example.org", "billingAccount": "BA-1" }),
    )
    .await
}

/// The RFC 6749 error of a token endpoint answer.
fn error_of(resp: &(u16, Value)) -> (u16, &str) {
    (resp.0, resp.1["error"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn the_code_flow_with_pkce_gives_a_token_that_reads_only_what_was_consented() {
    let app = spawn_app().await;
    let ceiling = [
        "patients:read",
        "patients.demographics:read",
        "patients.contact:read",
        "patients.billing:read",
    ];
    let partner = app
        .register_app_with(
            json!({ "scopes": ceiling, "clientIds": [app.fx.client_a] }),
            "SANDBOX",
            "CONFIDENTIAL",
        )
        .await;
    let ours = patient_in(&app, &app.fx.client_a, &app.fx.loc_a1, "EXT-A").await;
    let theirs = patient_in(&app, &app.fx.client_b, &app.fx.loc_b1, "EXT-B").await;

    let client = BasicClient::new(ClientId::new(partner.client_id.clone()))
        .set_client_secret(ClientSecret::new(partner.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
        .set_revocation_url(RevocationUrl::new(app.url("/oauth/revoke")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(app.url("/oauth/introspect")).unwrap());
    let http = oauth_http(no_redirects());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(ceiling.iter().map(|s| Scope::new((*s).into())))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: the sign-in page, then the consent page, where billing is unticked.
    let mut browser = Browser::new(&app);
    let first = browser.get(url.as_str()).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("Sign in to authorize Ledger Books"));
    assert_eq!(first.headers["x-frame-options"], "DENY");
    assert!(
        first.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let consent = browser.sign_in(&params).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    for words in [
        "Names, date of birth and sex.",
        "patients.billing:read",
        ADMIN_EMAIL,
    ] {
        assert!(
            consent.body.contains(words),
            "the consent page names {words}"
        );
    }
    let cookie = browser.cookie.clone().unwrap();
    assert!(cookie.starts_with("sb_oauth_session="));
    let narrowed = [
        "patients:read",
        "patients.demographics:read",
        "patients.contact:read",
    ];
    let done = browser.decide(&consent.body, Some(&narrowed)).await;
    assert_eq!(done.status, 303);
    let location = done.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(query_param(&location, "iss"), Some(app.base.clone()));
    let code = query_param(&location, "code").unwrap();

    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let granted: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        granted,
        vec![
            "patients:read",
            "patients.demographics:read",
            "patients.contact:read"
        ]
    );
    let access = token.access_token().secret().clone();

    // The token reads what was consented, is refused billing (as a key with these scopes
    // is), and cannot see another client's patient.
    let resp = app
        .gql_as(&access, PATIENT_QUERY, json!({ "id": ours }))
        .await;
    assert_eq!(resp["data"]["patient"]["firstName"], "Ada");
    assert_eq!(resp["data"]["patient"]["email"], "ada@example.org");
    assert!(resp["data"]["patient"]["billingAccount"].is_null());
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["requiredScope"],
        "patients.billing:read"
    );
    let resp = app
        .gql_as(&access, PATIENT_QUERY, json!({ "id": theirs }))
        .await;
    assert_eq!(
        data(&resp)["patient"],
        Value::Null,
        "another client's patient does not exist for the token, as for a key"
    );
    let viewer = app
        .gql_as(&access, "{ viewer { kind name scopes } }", json!({}))
        .await;
    assert_eq!(data(&viewer)["viewer"]["name"], "Ledger Books");

    // An independent check of the token: RFC 9068's header and claims, verified against the
    // published JWKS with jsonwebtoken.
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::EdDSA);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&app.base]);
    validation.set_audience(&[format!("{}/graphql", app.base)]);
    let claims =
        jsonwebtoken::decode::<Value>(&access, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the token verifies against the JWKS")
            .claims;
    assert_eq!(claims["client_id"], partner.client_id.as_str());
    assert_eq!(
        claims["scope"],
        "patients:read patients.demographics:read patients.contact:read"
    );
    for claim in ["sub", "jti", "iat", "exp"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }

    // The audit trail names the app and the user it acts for.
    let events = app
        .audit_events(json!({ "recordId": ours, "action": "READ" }))
        .await;
    let read = events
        .iter()
        .find(|e| e["actorKind"] == "PARTNER_APP")
        .expect("the app's read is audited");
    assert_eq!(read["actorLabel"], "Ledger Books");
    let admin_id = data(&app.admin("{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    assert_eq!(read["onBehalfOf"], admin_id, "and the user it acted for");
    let grants = app.audit_events(json!({ "action": "GRANT" })).await;
    assert_eq!(grants[0]["actorLabel"], ADMIN_EMAIL);

    // Introspection of the live token.
    let info = client
        .introspect(&AccessToken::new(access.clone()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.client_id().unwrap().as_str(), partner.client_id);

    // Refresh rotates; the old refresh token presented again revokes the whole grant, and
    // with it the access tokens already issued.
    let first_refresh = token.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await
        .expect("a refresh");
    let second_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let fresh = refreshed.access_token().secret().clone();
    data(&app.gql_as(&fresh, "{ viewer { name } }", json!({})).await);
    let replay = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await;
    assert!(
        format!("{replay:?}").contains("invalid_grant"),
        "{replay:?}"
    );
    for token in [&access, &fresh] {
        let (status, body) = app
            .post(Some(token), json!({ "query": "{ viewer { name } }" }))
            .await;
        assert_eq!(status, 401, "{body}");
    }
    let after = client
        .exchange_refresh_token(&second_refresh)
        .request_async(&http)
        .await;
    assert!(
        after.is_err(),
        "the newest refresh token of a revoked grant is refused too"
    );
    let info = client
        .introspect(&AccessToken::new(access.clone()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(!info.active(), "a revoked grant's token is not active");

    // A code is used once.
    let (_, verifier2) = PkceCodeChallenge::new_random_sha256();
    let again = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier2)
        .request_async(&http)
        .await;
    assert!(format!("{again:?}").contains("invalid_grant"), "{again:?}");
}

#[tokio::test]
async fn client_credentials_stay_within_the_ceiling_and_revocation_applies_at_once() {
    let app = spawn_app().await;
    let partner = app.register_app(&["patients:read", "tests:read"]).await;
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(partner.client_id.clone()))
            .set_client_secret(ClientSecret::new(partner.secret.clone().unwrap()))
            .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
            .set_auth_type(auth.clone());
        let http = oauth_http(no_redirects());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("tests:read".into()))
            .request_async(&http)
            .await
            .expect("client credentials");
        assert!(token.refresh_token().is_none());
        let access = token.access_token().secret().clone();
        let resp = app
            .gql_as(&access, "{ tests { totalCount } }", json!({}))
            .await;
        data(&resp);
        let resp = app
            .gql_as(&access, "{ patients { totalCount } }", json!({}))
            .await;
        assert_eq!(codes(&resp), vec!["FORBIDDEN"], "only the scope asked for");
        let beyond = client
            .exchange_client_credentials()
            .add_scope(Scope::new("patients.billing:read".into()))
            .request_async(&http)
            .await;
        assert!(
            format!("{beyond:?}").contains("invalid_scope"),
            "{beyond:?}"
        );
        // Revoked through the RFC 7009 endpoint (the `oauth2` crate will not call one over
        // plain http): refused on the very next request.
        let (status, _) = app
            .oauth_post(
                "/oauth/revoke",
                &partner,
                &[("token", &access), ("token_type_hint", "access_token")],
            )
            .await;
        assert_eq!(status, 200);
        let (status, _) = app
            .post(
                Some(&access),
                json!({ "query": "{ tests { totalCount } }" }),
            )
            .await;
        assert_eq!(status, 401, "{auth:?}");
    }

    // Suspension refuses every token at once, and reactivation lets the grant work again.
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.status_with(&access).await, 200);
    let set = |op: &'static str| {
        let app = &app;
        let id = partner.id.clone();
        async move {
            let q = format!("mutation($id:ID!){{ {op}(id:$id){{ status }} }}");
            data(&app.admin(&q, json!({ "id": id })).await)[op]["status"].clone()
        }
    };
    assert_eq!(set("suspendPartnerApp").await, "SUSPENDED");
    assert_eq!(app.status_with(&access).await, 401);
    let refused = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(error_of(&refused), (400, "unauthorized_client"));
    assert_eq!(set("reactivatePartnerApp").await, "ACTIVE");
    assert_eq!(app.status_with(&access).await, 200);

    // Rotating the secret with no overlap ends the old secret and its backend tokens.
    let rotated = app
        .admin(
            "mutation($id:ID!){ rotatePartnerAppSecret(id:$id, overlapSeconds:0){ clientSecret partnerApp { secrets { prefix active } } } }",
            json!({ "id": partner.id }),
        )
        .await;
    let out = &data(&rotated)["rotatePartnerAppSecret"];
    let new_secret = out["clientSecret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("sb_cs_test_"));
    assert_eq!(out["partnerApp"]["secrets"][0]["active"], true);
    assert_eq!(out["partnerApp"]["secrets"][1]["active"], false);
    assert_eq!(app.status_with(&access).await, 401);
    let old = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(error_of(&old), (401, "invalid_client"));
    let renewed = RegisteredApp {
        secret: Some(new_secret),
        ..partner.clone()
    };
    let (status, body) = app
        .token_request(&renewed, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.status_with(&access).await, 200);

    // Revoking the app ends everything, for good.
    assert_eq!(set("revokePartnerApp").await, "REVOKED");
    assert_eq!(app.status_with(&access).await, 401);
    let resp = app
        .admin(
            "mutation($id:ID!){ reactivatePartnerApp(id:$id){ status } }",
            json!({ "id": partner.id }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["CONFLICT"]);
}

/// An authorization URL of `partner` with `params` changed (`None` removes one).
fn authorize_url(
    app: &TestApp,
    partner: &RegisteredApp,
    changes: &[(&str, Option<&str>)],
) -> String {
    let (_, challenge) = switchboard_tests::oauth::pkce();
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), partner.client_id.clone()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("scope".into(), "patients:read".into()),
        ("state".into(), "st-9".into()),
        ("code_challenge".into(), challenge),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (name, value) in changes {
        params.retain(|(k, _)| k != name);
        if let Some(v) = value {
            params.push(((*name).into(), (*v).into()));
        }
    }
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!(
        "{}?{}",
        app.url("/oauth/authorize"),
        switchboard_tests::oauth::serde_urlencoded_pairs(&pairs)
    )
}

#[tokio::test]
async fn authorization_requests_are_refused_where_the_rfc_says() {
    let app = spawn_app().await;
    let partner = app.register_app(&["patients:read", "tests:read"]).await;
    let mut browser = Browser::new(&app);

    // Not redirected: the client or its redirect URI cannot be trusted.
    for (changes, words) in [
        (vec![("client_id", None)], "client_id is missing"),
        (vec![("client_id", Some("sbapp_nobody"))], "No application"),
        (
            vec![("redirect_uri", Some("http://127.0.0.1:9/elsewhere"))],
            "not one this application registered",
        ),
        (
            vec![("redirect_uri", Some("http://127.0.0.1:9/callback/"))],
            "not one this application registered",
        ),
    ] {
        let answer = browser.get(&authorize_url(&app, &partner, &changes)).await;
        assert_eq!(answer.status, 400, "{changes:?}");
        assert!(answer.location.is_none(), "{changes:?}");
        assert!(answer.body.contains(words), "{changes:?}: {}", answer.body);
    }

    // Redirected with the error and the state.
    for (changes, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (vec![("code_challenge_method", None)], "invalid_request"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            vec![("scope", Some("patients:read patients.billing:read"))],
            "invalid_scope",
        ),
        (vec![("scope", Some("admin"))], "invalid_scope"),
    ] {
        let answer = browser.get(&authorize_url(&app, &partner, &changes)).await;
        assert_eq!(answer.status, 303, "{changes:?}: {}", answer.body);
        let to = answer.location.unwrap();
        assert!(to.starts_with(REDIRECT));
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some(error),
            "{changes:?}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some("st-9"));
    }

    // Denied by the user: access_denied, to the client.
    let url = authorize_url(&app, &partner, &[]);
    let params: Vec<(String, String)> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page = browser.sign_in(&params).await;
    let denied = browser.decide(&page.body, None).await;
    let to = denied.location.unwrap();
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-9"));

    // The signed-in browser goes straight to the consent page; nothing ticked is a denial.
    let again = browser.get(&url).await;
    assert!(again.body.contains("name=\"consent\""), "{}", again.body);
    let none = browser.decide(&again.body, Some(&[])).await;
    assert_eq!(
        query_param(&none.location.unwrap(), "error").as_deref(),
        Some("access_denied")
    );

    // A consent form posted without the browser's session (another site's form), or with its
    // token altered, is refused and nothing is issued.
    let cookie = browser.cookie.take();
    let foreign = browser.decide(&again.body, Some(&["patients:read"])).await;
    assert_eq!(foreign.status, 400);
    assert!(foreign.location.is_none());
    browser.cookie = cookie;
    let consent = switchboard_tests::oauth::input_value(&again.body, "consent").unwrap();
    let mut tampered = consent.clone();
    tampered.replace_range(consent.len() - 5.., "AAAAA");
    let answer = browser
        .post(&[
            ("consent", &tampered),
            ("action", "approve"),
            ("grant", "patients:read"),
        ])
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.location.is_none());

    // A suspended app is sent its refusal: at the request, and at a consent given on a page
    // shown before the suspension.
    let shown = browser.get(&url).await;
    assert!(shown.body.contains("name=\"consent\""));
    data(
        &app.admin(
            "mutation($id:ID!){ suspendPartnerApp(id:$id){ status } }",
            json!({ "id": partner.id }),
        )
        .await,
    );
    let suspended = browser.get(&url).await;
    let to = suspended.location.expect("a redirect");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unauthorized_client")
    );
    let late = browser.decide(&shown.body, Some(&["patients:read"])).await;
    let to = late.location.expect("a redirect");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unauthorized_client")
    );
    assert!(
        query_param(&to, "code").is_none(),
        "no code for a suspended app"
    );
    data(
        &app.admin(
            "mutation($id:ID!){ reactivatePartnerApp(id:$id){ status } }",
            json!({ "id": partner.id }),
        )
        .await,
    );

    // The request may also come by POST (RFC 6749 §3.1): the same pages.
    let by_post = browser.post(&params).await;
    assert_eq!(by_post.status, 200);
    assert!(
        by_post.body.contains("name=\"consent\""),
        "{}",
        by_post.body
    );

    // A wrong password keeps the user on the sign-in page.
    let mut stranger = Browser::new(&app);
    let mut form = vec![
        ("action", "sign_in"),
        ("email", ADMIN_EMAIL),
        ("password", "wrong"),
    ];
    form.extend_from_slice(&params);
    let wrong = stranger.post(&form).await;
    assert_eq!(wrong.status, 401);
    assert!(stranger.cookie.is_none());
    assert!(wrong.body.contains("invalid email or password"));
}

#[tokio::test]
async fn token_requests_are_refused_with_their_rfc_errors() {
    let app = spawn_app().await;
    let partner = app.register_app(&["patients:read"]).await;
    let other = app.register_app(&["patients:read"]).await;
    let (code, verifier) = app.authorized_code(&partner, &["patients:read"]).await;
    // A wrong verifier, a code of another client, another redirect URI, no verifier: refused,
    // and the code is still good afterwards for its client.
    let (other_verifier, _) = switchboard_tests::oauth::pkce();
    let wrong = app
        .exchange_code(&partner, &code, REDIRECT, &other_verifier)
        .await;
    assert_eq!(error_of(&wrong), (400, "invalid_grant"), "{}", wrong.1);
    let stolen = app.exchange_code(&other, &code, REDIRECT, &verifier).await;
    assert_eq!(error_of(&stolen), (400, "invalid_grant"));
    let elsewhere = app
        .exchange_code(&partner, &code, "http://127.0.0.1:9/other", &verifier)
        .await;
    assert_eq!(error_of(&elsewhere), (400, "invalid_grant"));
    let missing = app
        .token_request(
            &partner,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(error_of(&missing), (400, "invalid_grant"));

    // A wrong secret: 401 with WWW-Authenticate, whatever the method.
    let impostor = RegisteredApp {
        secret: Some("sb_cs_test_wrong".into()),
        ..partner.clone()
    };
    let resp = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&impostor.client_id, impostor.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(switchboard_tests::oauth::serde_urlencoded_pairs(&[(
            "grant_type",
            "client_credentials",
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let post_form = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(switchboard_tests::oauth::serde_urlencoded_pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", partner.client_id.as_str()),
            ("client_secret", "sb_cs_test_wrong"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(post_form.status(), 401);
    let nobody = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(switchboard_tests::oauth::serde_urlencoded_pairs(&[(
            "grant_type",
            "client_credentials",
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401);

    // The right exchange works once; a second use revokes what the first issued.
    let ok = app
        .exchange_code(&partner, &code, REDIRECT, &verifier)
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let access = ok.1["access_token"].as_str().unwrap().to_owned();
    let replay = app
        .exchange_code(&partner, &code, REDIRECT, &verifier)
        .await;
    assert_eq!(error_of(&replay), (400, "invalid_grant"));
    let (status, _) = app
        .post(Some(&access), json!({ "query": "{ viewer { name } }" }))
        .await;
    assert_eq!(status, 401, "a replayed code revokes the tokens it gave");

    // Other refusals.
    let unsupported = app
        .token_request(&partner, &[("grant_type", "password")])
        .await;
    assert_eq!(error_of(&unsupported), (400, "unsupported_grant_type"));
    let none = app.token_request(&partner, &[]).await;
    assert_eq!(error_of(&none), (400, "invalid_request"));
    let beyond = app
        .token_request(
            &partner,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tests:read"),
            ],
        )
        .await;
    assert_eq!(error_of(&beyond), (400, "invalid_scope"));
    let unknown = app
        .token_request(
            &partner,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "sb_rt_nothing"),
            ],
        )
        .await;
    assert_eq!(error_of(&unknown), (400, "invalid_grant"));
    let public = app
        .register_app_with(json!({ "scopes": ["patients:read"] }), "SANDBOX", "PUBLIC")
        .await;
    assert!(public.secret.is_none());
    let cc = app
        .token_request(&public, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(error_of(&cc), (400, "unauthorized_client"));
    let json_body = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = TestApp::builder()
        .configure(|s| s.oauth.access_token_ttl_seconds = 1)
        .spawn()
        .await;
    let sandbox = app
        .oauth_token(&["patients:read"], &["patients:read"])
        .await;
    let backend = app.register_app(&["patients:read"]).await;
    let (_, body) = app
        .token_request(&backend, &[("grant_type", "client_credentials")])
        .await;
    let backend_token = body["access_token"].as_str().unwrap().to_owned();
    let (_, info) = app
        .oauth_post("/oauth/introspect", &backend, &[("token", &backend_token)])
        .await;
    assert_eq!(info["active"], true);
    let production_patient = patient_in(&app, &app.fx.client_p, &app.fx.loc_p1, "EXT-P").await;
    assert_eq!(app.status_with(&sandbox).await, 200);
    // A sandbox token cannot reach production data.
    let resp = app
        .gql_as(
            &sandbox,
            "query($id:ID!){ patient(id:$id){ id } }",
            json!({ "id": production_patient }),
        )
        .await;
    assert_eq!(data(&resp)["patient"], Value::Null);
    // And the reverse: a production app's token reads production data, never sandbox data.
    let live = app
        .register_app_with(
            json!({ "scopes": ["patients:read"], "redirectUris": ["https://ledger.example/cb"] }),
            "PRODUCTION",
            "CONFIDENTIAL",
        )
        .await;
    let (_, body) = app
        .token_request(&live, &[("grant_type", "client_credentials")])
        .await;
    let live_token = body["access_token"].as_str().unwrap().to_owned();
    let sandbox_patient = patient_in(&app, &app.fx.client_a, &app.fx.loc_a1, "EXT-S").await;
    let read = |id: String| {
        let (app, token) = (&app, live_token.clone());
        async move {
            app.gql_as(
                &token,
                "query($id:ID!){ patient(id:$id){ id } }",
                json!({ "id": id }),
            )
            .await
        }
    };
    assert_eq!(
        data(&read(production_patient.clone()).await)["patient"]["id"],
        json!(production_patient)
    );
    assert_eq!(data(&read(sandbox_patient).await)["patient"], Value::Null);

    let parts: Vec<&str> = sandbox.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("patients:read patients.billing:read");
    let widened = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{}.{}", parts[0], widened, parts[2]);
    assert_eq!(app.status_with(&tampered).await, 401);
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_eq!(app.status_with(&unsigned).await, 401);
    // HS256 "signed" with the published public key as the secret.
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&x),
    )
    .unwrap();
    assert_eq!(app.status_with(&hs).await, 401);

    // Expired (the server was started with one-second tokens).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.status_with(&sandbox).await, 401);
    let (_, info) = app
        .oauth_post("/oauth/introspect", &backend, &[("token", &backend_token)])
        .await;
    assert_eq!(
        info,
        json!({ "active": false }),
        "an expired token is not active"
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = TestApp::builder()
        .configure(|s| s.oauth.code_ttl_seconds = 0)
        .spawn()
        .await;
    let partner = app.register_app(&["patients:read"]).await;
    let (code, verifier) = app.authorized_code(&partner, &["patients:read"]).await;
    let resp = app
        .exchange_code(&partner, &code, REDIRECT, &verifier)
        .await;
    assert_eq!(error_of(&resp), (400, "invalid_grant"));
    assert!(
        resp.1["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_rotated_signing_key_signs_new_tokens_and_old_ones_still_verify() {
    // A configured issuer, as a deployment has: the restart below listens on another port.
    let mut app = TestApp::builder()
        .configure(|s| s.oauth.issuer = Some("https://switchboard.test".into()))
        .spawn()
        .await;
    let partner = app.register_app(&["patients:read"]).await;
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let before = body["access_token"].as_str().unwrap().to_owned();
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    // What `switchboard signing-key rotate` does, then a restart (a running replica picks the
    // new key up within its refresh interval).
    switchboard::oauth::signing::rotate(app.store())
        .await
        .map_err(|e| e.message())
        .unwrap();
    app.restart().await;
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2, "the current and the previous key");
    assert_eq!(kids[1], kid(&before));
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let after = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        kid(&after),
        kids[0],
        "new tokens are signed with the new key"
    );
    for token in [&before, &after] {
        let (status, body) = app
            .post(Some(token), json!({ "query": "{ viewer { name } }" }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_revocation_is_refused_at_once_by_another_server_process() {
    let app = spawn_app().await;
    let other = app.spawn_process();
    let replica = other.base.clone();
    let partner = app.register_app(&["patients:read"]).await;
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let on_replica = |token: String| {
        let http = app.http.clone();
        let url = format!("{replica}/graphql");
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({ "query": "{ viewer { name } }" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        on_replica(access.clone()).await,
        200,
        "the replica accepts the token"
    );
    let grants = app
        .admin(
            "query($id:ID!){ partnerApp(id:$id){ grants { id kind } } }",
            json!({ "id": partner.id }),
        )
        .await;
    let grant = data(&grants)["partnerApp"]["grants"][0]["id"].clone();
    assert_eq!(
        data(&grants)["partnerApp"]["grants"][0]["kind"],
        "CLIENT_CREDENTIALS"
    );
    let revoked = app
        .admin(
            "mutation($id:ID!){ revokePartnerAppGrant(id:$id){ revokedAt } }",
            json!({ "id": grant }),
        )
        .await;
    assert!(!data(&revoked)["revokePartnerAppGrant"]["revokedAt"].is_null());
    assert_eq!(
        on_replica(access).await,
        401,
        "refused by the other replica at once"
    );
    // And a suspension, with a token the other process has already accepted.
    let (_, body) = app
        .token_request(&partner, &[("grant_type", "client_credentials")])
        .await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(on_replica(access.clone()).await, 200);
    data(
        &app.admin(
            "mutation($id:ID!){ suspendPartnerApp(id:$id){ status } }",
            json!({ "id": partner.id }),
        )
        .await,
    );
    assert_eq!(
        on_replica(access).await,
        401,
        "suspended, at once, there too"
    );
}

#[tokio::test]
async fn introspection_tells_a_client_only_about_its_own_live_tokens() {
    let app = spawn_app().await;
    let partner = app.register_app(&["patients:read"]).await;
    let other = app.register_app(&["patients:read"]).await;
    let (code, verifier) = app.authorized_code(&partner, &["patients:read"]).await;
    let (_, tokens) = app
        .exchange_code(&partner, &code, REDIRECT, &verifier)
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspect = |who: &RegisteredApp, token: &str| {
        let (who, token) = (who.clone(), token.to_owned());
        let app = &app;
        async move {
            app.oauth_post("/oauth/introspect", &who, &[("token", &token)])
                .await
        }
    };
    let (status, info) = introspect(&partner, access).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["scope"], "patients:read");
    let (_, info) = introspect(&partner, refresh).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");
    let (_, info) = introspect(&other, access).await;
    assert_eq!(
        info,
        json!({ "active": false }),
        "not another client's token"
    );
    let (_, info) = introspect(&partner, "eyJhbGciOiJub25lIn0.e30.").await;
    assert_eq!(info, json!({ "active": false }));
    // Another client cannot revoke it: the answer is the same 200, and nothing is revoked.
    for token in [access, refresh] {
        let (status, _) = app
            .oauth_post("/oauth/revoke", &other, &[("token", token)])
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(app.status_with(access).await, 200, "still accepted");
    let (_, info) = introspect(&partner, refresh).await;
    assert_eq!(info["active"], true, "still active");
    // Revoked by its client (RFC 7009): not active any more, access or refresh token.
    let (status, _) = app
        .oauth_post("/oauth/revoke", &partner, &[("token", refresh)])
        .await;
    assert_eq!(status, 200);
    let (_, info) = introspect(&partner, access).await;
    assert_eq!(info["active"], false);
    let (_, info) = introspect(&partner, refresh).await;
    assert_eq!(info["active"], false);
    // A public client cannot introspect.
    let public = app
        .register_app_with(json!({ "scopes": ["patients:read"] }), "SANDBOX", "PUBLIC")
        .await;
    let (status, body) = introspect(&public, access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn the_metadata_document_lists_exactly_what_is_supported() {
    let app = spawn_app().await;
    let meta: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], app.base.as_str());
    assert_eq!(meta["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["response_types_supported"], json!(["code"]));
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("patients.billing:read"))
    );
    // Every endpoint it names answers.
    for key in ["jwks_uri", "authorization_endpoint"] {
        let url = meta[key].as_str().unwrap();
        let status = app.http.get(url).send().await.unwrap().status().as_u16();
        assert!(status == 200 || status == 400, "{key}: {status}");
    }
    let jwks: Value = app
        .http
        .get(meta["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}
