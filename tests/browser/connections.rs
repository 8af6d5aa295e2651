//! Active Connections in the portal (registering and managing a partner app beside the API
//! keys), and the authorization server's consent page in a real browser: approve, narrow,
//! deny.

use serde_json::json;
use switchboard_tests::oauth::{RegisteredApp, pkce, query_param, serde_urlencoded_pairs};
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, data};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_app};

#[tokio::test]
async fn an_administrator_registers_and_manages_a_partner_app() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let (_, key) = app.key_with_id(&["tests:read"]).await;
    let browser = Browser::start("connections").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            // Another of the portal's apps: a page load, signed in all the same.
            b.click(By::Id("nav-connections")).await?;
            b.wait_text(By::Tag("h1"), "Active Connections").await?;
            assert_eq!(b.current_path().await?, "/settings/connections");
            b.wait_text(By::Css(r#"tr[data-connection="test key"]"#), "API key")
                .await?;

            // The form checks first, then registers; the secret is shown once.
            b.click(By::Id("app-submit")).await?;
            b.wait_text(By::Id("app-name-error"), "name").await?;
            b.type_into(By::Id("app-name"), "Care CRM").await?;
            b.driver
                .find(By::Css("#app-category option[value='CRM']"))
                .await?
                .click()
                .await?;
            b.type_into(By::Id("app-redirects"), "http://crm.example/cb")
                .await?;
            for scope in ["scope-patients-read", "scope-patients-contact-read"] {
                b.click(By::Id(scope)).await?;
            }
            b.click(By::Id("app-submit")).await?;
            // The server's refusal lands next to its field.
            b.wait_text(By::Id("app-redirects-error"), "https").await?;
            b.type_into(By::Id("app-redirects"), "https://crm.example/cb")
                .await?;
            b.click(By::Id("app-submit")).await?;
            let secret = b.wait_text(By::Id("new-secret"), "sb_cs_test_").await?;
            b.click(By::Id("secret-done")).await?;
            let row = r#"tr[data-connection="Care CRM"]"#;
            b.wait_text(By::Css(format!("{row} .status")), "Active")
                .await?;

            // The secret works at the token endpoint, within the ceiling.
            let apps = app
                .admin("{ partnerApps { id clientId } }", json!({}))
                .await;
            let registered = RegisteredApp {
                id: data(&apps)["partnerApps"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                client_id: data(&apps)["partnerApps"][0]["clientId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                secret: Some(secret.clone()),
            };
            let (status, body) = app
                .token_request(&registered, &[("grant_type", "client_credentials")])
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["scope"], "patients:read patients.contact:read");
            let token = body["access_token"].as_str().unwrap().to_owned();

            // Its page: lower the ceiling; the token already issued loses the scope at once.
            b.click(By::Css(format!("{row} .connection-link"))).await?;
            b.wait_text(By::Tag("h1"), "Care CRM").await?;
            b.wait_text(By::Id("app-client-id"), &registered.client_id)
                .await?;
            b.wait_text(By::Css("#grants tbody"), "the app's own server")
                .await?;
            b.click(By::Id("scope-patients-contact-read")).await?;
            b.click(By::Id("app-submit")).await?;
            b.wait_text(By::Id("app-saved"), "Saved").await?;
            let viewer = app.gql_as(&token, "{ viewer { scopes } }", json!({})).await;
            assert_eq!(data(&viewer)["viewer"]["scopes"], json!(["patients:read"]));

            // Revoke the grant: its token is refused from the next request.
            b.click(By::Css("#grants tbody button.danger")).await?;
            b.answer_dialog("Revoke the grant", true).await?;
            b.wait_text(By::Css("#grants tbody .status"), "Revoked")
                .await?;
            assert_eq!(app.status_with(&token).await, 401);
            let (_, body) = app
                .token_request(&registered, &[("grant_type", "client_credentials")])
                .await;
            let token = body["access_token"].as_str().unwrap().to_owned();

            // Rotate the secret (asked first): a new one is shown once.
            b.click(By::Id("app-rotate")).await?;
            b.answer_dialog("Rotate the secret", true).await?;
            let rotated = b.wait_text(By::Id("new-secret"), "sb_cs_test_").await?;
            assert_ne!(rotated, secret);
            b.click(By::Id("secret-done")).await?;

            // Suspend: the token is refused at once; the directory shows it suspended.
            b.click(By::Id("app-toggle")).await?;
            b.answer_dialog("Suspend", true).await?;
            b.wait_text(By::Id("app-status"), "Suspended").await?;
            assert_eq!(app.status_with(&token).await, 401);
            b.click(By::Css("a[href='/settings/connections']")).await?;
            b.wait_text(By::Tag("h1"), "Active Connections").await?;
            b.driver
                .find(By::Css("#filter-status option[value='SUSPENDED']"))
                .await?
                .click()
                .await?;
            b.wait_text(By::Css(format!("{row} .status")), "Suspended")
                .await?;

            // Revoke the API key from the directory.
            b.driver
                .find(By::Css("#filter-status option[value='']"))
                .await?
                .click()
                .await?;
            let key_row = r#"tr[data-connection="test key"]"#;
            b.click(By::Css(format!("{key_row} button.danger"))).await?;
            b.answer_dialog("stops working at once", true).await?;
            b.wait_text(By::Css(format!("{key_row} .status")), "Revoked")
                .await?;
            assert_eq!(app.status_with(&key).await, 401);
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_consent_page_approves_narrows_and_denies() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    // Sent back to this server (a page that loads), so the browser's address can be read.
    let callback = app.url("/callback");
    let registered = app
        .register_app_with(
            json!({ "scopes": ["patients:read", "patients.contact:read", "patients.billing:read"], "redirectUris": [callback] }),
            "SANDBOX",
            "CONFIDENTIAL",
        )
        .await;
    let authorize_url = |challenge: &str, state: &str| {
        format!(
            "{}?{}",
            app.url("/oauth/authorize"),
            serde_urlencoded_pairs(&[
                ("response_type", "code"),
                ("client_id", &registered.client_id),
                ("redirect_uri", &callback),
                (
                    "scope",
                    "patients:read patients.contact:read patients.billing:read"
                ),
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
        )
    };
    // Where the browser was sent back to, once it is there.
    let landing = async |b: &Browser| -> Result<String, Box<dyn std::error::Error>> {
        b.wait_until(async || {
            b.driver
                .current_url()
                .await
                .is_ok_and(|u| u.as_str().starts_with(&callback))
        })
        .await?;
        Ok(b.driver.current_url().await?.to_string())
    };
    let browser = Browser::start("consent").await;
    browser
        .run(async |b| {
            let (verifier, challenge) = pkce();
            b.goto(&authorize_url(&challenge, "first")).await?;
            b.wait_text(By::Tag("h1"), "Sign in to authorize Ledger Books")
                .await?;
            b.check_accessibility("consent sign-in").await?;
            b.type_into(By::Id("email"), ADMIN_EMAIL).await?;
            b.type_into(By::Id("password"), ADMIN_PASSWORD).await?;
            b.click(By::Css("button[type=submit]")).await?;
            b.wait_text(By::Tag("h1"), "Authorize Ledger Books?")
                .await?;
            b.check_accessibility("consent").await?;
            // Narrow: untick billing, then approve.
            let billing = b
                .wait_for(By::Css("input[value='patients.billing:read']"))
                .await?;
            assert!(billing.is_selected().await?);
            billing.click().await?;
            b.click(By::Css("button[value=approve]")).await?;
            let landed = landing(b).await?;
            assert_eq!(query_param(&landed, "state").as_deref(), Some("first"));
            let code = query_param(&landed, "code").expect("a code");
            let (status, body) = app
                .exchange_code(&registered, &code, &callback, &verifier)
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["scope"], "patients:read patients.contact:read");

            // Signed in already: straight to the consent page; deny.
            let (_, challenge) = pkce();
            b.goto(&authorize_url(&challenge, "second")).await?;
            b.wait_text(By::Tag("h1"), "Authorize Ledger Books?")
                .await?;
            b.click(By::Css("button[value=deny]")).await?;
            let landed = landing(b).await?;
            assert_eq!(
                query_param(&landed, "error").as_deref(),
                Some("access_denied")
            );
            assert_eq!(query_param(&landed, "state").as_deref(), Some("second"));

            // The page cannot be framed: a frame of it stays empty (read once it has loaded).
            let framed = b
                .driver
                .execute_async(
                    "const done = arguments[arguments.length - 1]; \
                     const f = document.createElement('iframe'); f.src = arguments[0]; \
                     f.onload = () => { try { done(f.contentDocument.body.innerText); } \
                                        catch (e) { done('blocked'); } }; \
                     document.body.appendChild(f);",
                    vec![json!(authorize_url(&challenge, "framed"))],
                )
                .await?;
            let framed = framed.json().as_str().unwrap_or("").to_owned();
            assert!(
                !framed.contains("Authorize"),
                "the consent page rendered in a frame: {framed}"
            );
            Ok(())
        })
        .await;
}
