//! Allowed addresses and request rates in the portal: the server-wide settings, and a key's
//! own, each refused field shown next to it, and what is saved really enforced.

use serde_json::json;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, codes, data};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_app};

#[tokio::test]
async fn an_administrator_sets_addresses_and_rates() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let (key_id, secret) = app
        .create_key_with(
            json!({ "name": "Lab feed", "scopes": ["patients:read"], "environment": "SANDBOX" }),
        )
        .await;
    let browser = Browser::start("protection").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Id("page-heading"), "API Console").await?;

            // Server-wide: the defaults are shown; a bad range is refused next to its field.
            b.goto(&app.url("/settings/general")).await?;
            let per_minute = b.wait_for(By::Id("credential-rate-per-minute")).await?;
            assert_eq!(per_minute.prop("value").await?.as_deref(), Some("6000"));
            b.wait_text(By::Id("trusted-proxies"), "none").await?;
            b.type_into(By::Id("protection-addresses"), "10.0.0.0/8\nnot-an-address")
                .await?;
            b.click(By::Id("protection-save")).await?;
            b.wait_text(By::Id("protection-addresses-error"), "IPv4 or IPv6")
                .await?;
            b.check_accessibility("protection settings refused").await?;

            // Loopback allowed: saved, and read back in canonical form.
            b.driver
                .find(By::Id("protection-addresses"))
                .await?
                .clear()
                .await?;
            b.type_into(By::Id("protection-addresses"), "127.0.0.1, 2001:db8::1/32")
                .await?;
            b.click(By::Id("protection-save")).await?;
            b.wait_text(By::Id("protection-saved"), "Saved").await?;
            let text = b
                .wait_for(By::Id("protection-addresses"))
                .await?
                .prop("value")
                .await?;
            assert_eq!(text.as_deref(), Some("127.0.0.1/32\n2001:db8::/32"));

            // A key's own: an address list that leaves out loopback, and a rate.
            b.goto(&app.url(&format!("/settings/api-console/keys/{key_id}")))
                .await?;
            b.type_into(By::Id("key-addresses"), "192.0.2.0/24").await?;
            b.click(By::Id("key-own-rate")).await?;
            b.type_into(By::Id("key-per-minute"), "0").await?;
            b.click(By::Id("key-limits-save")).await?;
            b.wait_text(By::Id("key-rate-error"), "above zero").await?;
            let input = b.driver.find(By::Id("key-per-minute")).await?;
            input.clear().await?;
            input.send_keys("120").await?;
            b.click(By::Id("key-limits-save")).await?;
            b.wait_text(By::Id("key-limits-saved"), "Saved").await?;
            b.check_accessibility("key limits").await?;
            Ok(())
        })
        .await;

    // What the screens saved is what the server enforces.
    let resp = app
        .admin(
            "{ apiKeys { id allowedIps rateLimit { perMinute burst } } }",
            json!({}),
        )
        .await;
    let key = data(&resp)["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(key["allowedIps"], json!(["192.0.2.0/24"]));
    assert_eq!(key["rateLimit"]["perMinute"], 120);
    let resp = app.gql_as(&secret, "{ viewer { name } }", json!({})).await;
    assert_eq!(codes(&resp), ["IP_NOT_ALLOWED"]);
}
