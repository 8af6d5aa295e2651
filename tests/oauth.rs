//! Partner apps in the tests: registering one, and a browser's part of the authorization code
//! flow (the sign-in and consent forms, posted as a browser posts them, with its cookie).

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, data};

/// Where test apps are sent back: nothing listens there; the tests read the redirect.
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// An app as registered: its id, `client_id` and secret (none for a public app).
#[derive(Clone, Debug)]
pub struct RegisteredApp {
    pub id: String,
    pub client_id: String,
    pub secret: Option<String>,
}

/// A PKCE verifier and its S256 challenge, made by the `oauth2` crate (the client side).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().to_owned(), challenge.as_str().to_owned())
}

impl TestApp {
    /// Registers a sandbox app; `extra` overrides the app's fields (`scopes`, `clientIds`…)
    /// and `client_type` is `CONFIDENTIAL` or `PUBLIC`.
    pub async fn register_app_with(
        &self,
        extra: Value,
        environment: &str,
        client_type: &str,
    ) -> RegisteredApp {
        let mut app = json!({
            "name": "Ledger Books",
            "category": "ACCOUNTING",
            "description": "Invoices patients' insurers.",
            "redirectUris": [REDIRECT],
            "scopes": ["patients:read"],
        });
        for (k, v) in extra.as_object().expect("an object") {
            app[k] = v.clone();
        }
        let resp = self
            .admin(
                "mutation($i:RegisterPartnerAppInput!){ registerPartnerApp(input:$i){ clientSecret partnerApp { id clientId } } }",
                json!({ "i": { "app": app, "environment": environment, "clientType": client_type } }),
            )
            .await;
        let out = &data(&resp)["registerPartnerApp"];
        RegisteredApp {
            id: out["partnerApp"]["id"].as_str().unwrap().to_owned(),
            client_id: out["partnerApp"]["clientId"].as_str().unwrap().to_owned(),
            secret: out["clientSecret"].as_str().map(str::to_owned),
        }
    }

    /// A confidential sandbox app with this ceiling.
    pub async fn register_app(&self, scopes: &[&str]) -> RegisteredApp {
        self.register_app_with(json!({ "scopes": scopes }), "SANDBOX", "CONFIDENTIAL")
            .await
    }

    /// An authorization code for `app`, asked for `scopes` and approved whole by the
    /// administrator in a browser of its own, with the PKCE verifier it was asked with:
    /// `(code, verifier)`.
    pub async fn authorized_code(&self, app: &RegisteredApp, scopes: &[&str]) -> (String, String) {
        let (verifier, challenge) = pkce();
        let code = Browser::new(self)
            .authorize(app, &challenge, &scopes.join(" "), Some(scopes))
            .await;
        (code, verifier)
    }

    /// An access token of a new app whose ceiling is `ceiling`, from the code flow in which
    /// the administrator ticked only `approve` on the consent page.
    pub async fn oauth_token(&self, ceiling: &[&str], approve: &[&str]) -> String {
        let app = self.register_app(ceiling).await;
        let (verifier, challenge) = pkce();
        let code = Browser::new(self)
            .authorize(&app, &challenge, &ceiling.join(" "), Some(approve))
            .await;
        let resp = self.exchange_code(&app, &code, REDIRECT, &verifier).await;
        assert_eq!(resp.0, 200, "{}", resp.1);
        resp.1["access_token"].as_str().unwrap().to_owned()
    }

    /// A form POST to an OAuth endpoint with the app's secret in a Basic header (or its
    /// client_id in the form, for a public app): status and JSON body.
    pub async fn oauth_post(
        &self,
        path: &str,
        app: &RegisteredApp,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut req = self.http.post(self.url(path));
        match &app.secret {
            Some(secret) => req = req.basic_auth(&app.client_id, Some(secret)),
            None => form.push(("client_id", &app.client_id)),
        }
        let body = serde_urlencoded_pairs(&form);
        let resp = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("oauth request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn token_request(&self, app: &RegisteredApp, form: &[(&str, &str)]) -> (u16, Value) {
        self.oauth_post("/oauth/token", app, form).await
    }

    /// Exchanges an authorization code (with its PKCE verifier) at the token endpoint.
    pub async fn exchange_code(
        &self,
        app: &RegisteredApp,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> (u16, Value) {
        self.token_request(
            app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// The HTTP status of a small GraphQL request with this bearer token: 200 while the
    /// credential is accepted, 401 once it is not.
    pub async fn status_with(&self, token: &str) -> u16 {
        self.post(Some(token), json!({ "query": "{ viewer { name } }" }))
            .await
            .0
    }
}

/// `k=v&…`, form-encoded.
pub fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The value of a hidden or checkbox input in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A browser: follows no redirect (the tests read them) and keeps the consent session cookie.
pub struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    pub cookie: Option<String>,
}

/// What the authorization endpoint answered.
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            cookie: None,
        }
    }

    async fn answer(&mut self, resp: reqwest::Response) -> Answer {
        let headers = resp.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        Answer {
            status: resp.status(),
            location: headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: resp.text().await.unwrap_or_default(),
            headers,
        }
    }

    /// GET of an authorization URL (as the partner's site sends the browser to it).
    pub async fn get(&mut self, url: &str) -> Answer {
        let mut req = self.http.get(url);
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.expect("authorize request");
        self.answer(resp).await
    }

    /// A form POST to the authorization endpoint.
    pub async fn post(&mut self, form: &[(&str, &str)]) -> Answer {
        let mut req = self
            .http
            .post(self.app.url("/oauth/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded_pairs(form));
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.expect("authorize form");
        self.answer(resp).await
    }

    /// Signs in on the sign-in page that `params` (the authorization request) led to.
    pub async fn sign_in(&mut self, params: &[(&str, &str)]) -> Answer {
        let mut form = vec![
            ("action", "sign_in"),
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ];
        form.extend_from_slice(params);
        self.post(&form).await
    }

    /// Approves (ticking only `approve`) or denies (`None`) a consent page.
    pub async fn decide(&mut self, consent_page: &str, approve: Option<&[&str]>) -> Answer {
        let consent = input_value(consent_page, "consent").expect("a consent token in the page");
        let mut form = vec![("consent", consent.as_str())];
        match approve {
            Some(scopes) => {
                form.push(("action", "approve"));
                form.extend(scopes.iter().map(|s| ("grant", *s)));
            }
            None => form.push(("action", "deny")),
        }
        self.post(&form).await
    }

    /// The whole browser side of an authorization: GET, sign in, consent. Returns the code.
    pub async fn authorize(
        &mut self,
        app: &RegisteredApp,
        challenge: &str,
        scope: &str,
        approve: Option<&[&str]>,
    ) -> String {
        let params = [
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "st-123"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        let url = format!(
            "{}?{}",
            self.app.url("/oauth/authorize"),
            serde_urlencoded_pairs(&params)
        );
        let first = self.get(&url).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let consent = if self.cookie.is_some() && first.body.contains("name=\"consent\"") {
            first
        } else {
            self.sign_in(&params).await
        };
        assert_eq!(consent.status, 200, "{}", consent.body);
        let done = self.decide(&consent.body, approve).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let location = done.location.expect("a redirect");
        assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
        query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }
}
