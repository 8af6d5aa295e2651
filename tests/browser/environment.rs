//! The environment switch: every screen shows only the chosen environment's records, the
//! choice holds across the portal's apps, new records start in it, and "All" shows both again.

use serde_json::json;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_app};

const SANDBOX_KEY: &str = r#"tr[data-key-name="Sandbox feed"]"#;
const LIVE_KEY: &str = r#"tr[data-key-name="Live feed"]"#;
const SANDBOX_ROW: &str = r#"tr[data-connection="Sandbox feed"]"#;
const LIVE_ROW: &str = r#"tr[data-connection="Live feed"]"#;

async fn choose(b: &Browser, env: &str) -> WebDriverResult<()> {
    b.driver
        .find(By::Css(format!("#environment option[value='{env}']")))
        .await?
        .click()
        .await
}

async fn absent(b: &Browser, css: &str) -> bool {
    b.driver.find(By::Css(css)).await.is_err()
}

#[tokio::test]
async fn the_environment_switch_filters_every_screen() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    for (name, env) in [("Sandbox feed", "SANDBOX"), ("Live feed", "PRODUCTION")] {
        app.create_key_with(
            json!({ "name": name, "scopes": ["patients:read"], "environment": env }),
        )
        .await;
    }
    let browser = Browser::start("environment").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Id("page-heading"), "API Console").await?;
            b.wait_for(By::Css(SANDBOX_KEY)).await?;
            b.wait_for(By::Css(LIVE_KEY)).await?;

            // Sandbox: the page shows itself anew, marked, with sandbox keys only.
            choose(b, "SANDBOX").await?;
            b.wait_for(By::Css("header.topbar.sandbox")).await?;
            b.wait_for(By::Css(SANDBOX_KEY)).await?;
            assert!(absent(b, LIVE_KEY).await, "a production key in sandbox");
            b.check_accessibility("environment switch").await?;

            // Another of the portal's apps (a page load) keeps the choice.
            b.goto(&app.url("/settings/connections")).await?;
            b.wait_for(By::Css(SANDBOX_ROW)).await?;
            assert!(
                absent(b, LIVE_ROW).await,
                "a production connection in sandbox"
            );
            let chosen = b
                .wait_for(By::Id("environment"))
                .await?
                .prop("value")
                .await?;
            assert_eq!(chosen.as_deref(), Some("SANDBOX"));

            // Production: the other side only; a new key starts in production.
            choose(b, "PRODUCTION").await?;
            b.wait_for(By::Css(LIVE_ROW)).await?;
            assert!(
                absent(b, SANDBOX_ROW).await,
                "a sandbox connection in production"
            );
            assert!(absent(b, "header.topbar.sandbox").await);
            b.goto(&app.url("/settings/api-console")).await?;
            b.wait_for(By::Css(LIVE_KEY)).await?;
            assert!(absent(b, SANDBOX_KEY).await, "a sandbox key in production");
            let new_key = b
                .wait_for(By::Id("key-environment"))
                .await?
                .prop("value")
                .await?;
            assert_eq!(new_key.as_deref(), Some("PRODUCTION"));

            // All: both again.
            choose(b, "").await?;
            b.wait_for(By::Css(SANDBOX_KEY)).await?;
            b.wait_for(By::Css(LIVE_KEY)).await?;
            Ok(())
        })
        .await;
}
