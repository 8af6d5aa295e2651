//! The key console beyond the main flow: limits in the list, a key's page, renaming, presets,
//! location limits in the form, and copying where the clipboard API is not available.

use serde_json::json;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_app};

#[tokio::test]
async fn the_key_list_shows_limits_and_a_key_has_its_own_page() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let browser = Browser::start("key_console").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Id("page-heading"), "API Console").await?;

            // A preset fills the permissions; a location limit is offered under its client.
            b.type_into(By::Id("key-name"), "Results feed A1").await?;
            b.driver
                .find(By::Css("#key-preset option[value='results-feed']"))
                .await?
                .click()
                .await?;
            for scope in ["scope-tests-read", "scope-tests-update"] {
                assert!(b.wait_for(By::Id(scope)).await?.is_selected().await?);
            }
            assert!(
                !b.wait_for(By::Id("scope-patients-read"))
                    .await?
                    .is_selected()
                    .await?
            );
            b.click(By::Id(format!("client-{}", app.fx.client_a)))
                .await?;
            // Only the chosen client's locations are offered.
            b.wait_for(By::Id(format!("location-{}", app.fx.loc_a1)))
                .await?;
            assert!(
                b.driver
                    .find(By::Id(format!("location-{}", app.fx.loc_b1)))
                    .await
                    .is_err()
            );
            b.click(By::Id(format!("location-{}", app.fx.loc_a1)))
                .await?;
            b.click(By::Id("create-key")).await?;
            let secret = b.wait_text(By::Id("new-secret"), "sb_test_").await?;
            b.click(By::Id("secret-done")).await?;

            // The key really has those limits.
            let viewer = app
                .gql_as(
                    &secret,
                    "{ viewer { scopes clientIds locationIds } }",
                    json!({}),
                )
                .await;
            assert_eq!(
                viewer["data"]["viewer"]["scopes"],
                json!(["tests:read", "tests:update"])
            );
            assert_eq!(
                viewer["data"]["viewer"]["clientIds"],
                json!([app.fx.client_a])
            );
            assert_eq!(
                viewer["data"]["viewer"]["locationIds"],
                json!([app.fx.loc_a1])
            );

            // The list says so by name, in words.
            let row = r#"tr[data-key-name="Results feed A1"]"#;
            let limits = b
                .wait_text(By::Css(format!("{row} .limits")), "Client A")
                .await?;
            assert!(limits.contains("Locations: A1"), "{limits}");
            let environment = b.wait_for(By::Css(format!("{row} .environment"))).await?;
            assert_eq!(environment.text().await?, "Sandbox (test data)");

            // Its page: everything about it.
            b.click(By::Css(format!("{row} .key-link"))).await?;
            b.wait_text(By::Id("page-heading"), "API key").await?;
            b.wait_text(By::Id("key-clients"), "Client A").await?;
            b.wait_text(By::Id("key-locations"), "A1").await?;
            b.wait_text(By::Id("key-scopes"), "record their results")
                .await?;
            let facts = b.wait_text(By::Id("key-facts"), ADMIN_EMAIL).await?;
            assert!(facts.contains("UTC"), "{facts}");

            // Rename: an empty name is refused next to the field; a good one is saved.
            b.type_into(By::Id("rename-name"), " ").await?;
            b.click(By::Id("rename-save")).await?;
            b.wait_text(By::Id("rename-error"), "Give the key a name")
                .await?;
            b.type_into(By::Id("rename-name"), "LIS results feed")
                .await?;
            b.click(By::Id("rename-save")).await?;
            b.wait_text(By::Id("rename-saved"), "Saved").await?;
            b.wait_text(By::Id("key-name-heading"), "LIS results feed")
                .await?;

            // What it did: the audit trail, filtered to this key.
            app.gql_as(&secret, "{ tests { totalCount } }", json!({}))
                .await;
            b.click(By::Id("key-activity")).await?;
            b.wait_text(By::Id("page-heading"), "Audit").await?;
            b.wait_text(By::Css("#audit tbody"), "LIS results feed")
                .await?;
            let actors = b.driver.find_all(By::Css("#audit .actor-id")).await?;
            assert!(!actors.is_empty());
            let key_id = b.current_url_query("actor").await?;
            for a in actors {
                assert_eq!(a.text().await?, key_id);
            }
            Ok(())
        })
        .await;
}

/// On a plain-HTTP address that is not localhost the page may not use the clipboard API; the
/// copy button still copies, or says why it cannot and leaves the secret selected.
#[tokio::test]
async fn copying_a_secret_works_or_says_why_on_plain_http() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    // A name that is not localhost, mapped to loopback: not a secure context.
    let browser = Browser::start_with(
        "copy_plain_http",
        &["--host-resolver-rules=MAP clinic.test 127.0.0.1"],
    )
    .await;
    browser
        .run(async |b| {
            b.goto(&format!("http://clinic.test:{port}/login")).await?;
            let secure = b
                .driver
                .execute("return window.isSecureContext;", vec![])
                .await?;
            assert_eq!(secure.json(), &json!(false));
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.type_into(By::Id("key-name"), "Plain HTTP key").await?;
            b.click(By::Id("scope-patients-read")).await?;
            b.click(By::Id("create-key")).await?;
            let secret = b.wait_text(By::Id("new-secret"), "sb_test_").await?;
            b.click(By::Id("copy-secret")).await?;
            let status_text = async || -> String {
                match b.driver.find(By::Id("copy-status")).await {
                    Ok(el) => el.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            };
            b.wait_until(async || !status_text().await.is_empty())
                .await?;
            let status = status_text().await;
            assert!(
                status.contains("Copied to the clipboard") || status.contains("Ctrl+C"),
                "{status}"
            );
            // Either way the secret is what is selected, ready for Ctrl+C.
            let selected = b
                .driver
                .execute("return String(window.getSelection());", vec![])
                .await?;
            if status.contains("Ctrl+C") {
                assert_eq!(selected.json().as_str(), Some(secret.as_str()));
            }
            Ok(())
        })
        .await;
}
