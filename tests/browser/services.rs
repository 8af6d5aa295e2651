//! External services in the portal: adding connections (credentials written once, never
//! shown again), Test Connection against a real service showing each step and a failure in
//! plain words, the integration logs filtered and opened, and the health tiles with their
//! charts.

use switchboard_tests::s3::S3Store;
use switchboard_tests::services::HttpService;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_dist};

const KEY: &str = "portal-lis-key-93be";

fn local(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
}

/// Fills the form for a LAB connection over JSON with an API key, and submits it.
async fn add(b: &Browser, name: &str, address: &str, key: &str) -> WebDriverResult<()> {
    b.type_into(By::Id("connection-name"), name).await?;
    b.type_into(By::Id("connection-address"), address).await?;
    b.driver
        .find(By::Css("#credentials-kind option[value='API_KEY']"))
        .await?
        .click()
        .await?;
    b.type_into(By::Id("credentials-secret"), key).await?;
    b.click(By::Id("connection-submit")).await
}

#[tokio::test]
async fn an_administrator_adds_tests_and_watches_external_services() {
    if !browser_tests_enabled() {
        return;
    }
    let app = TestApp::builder()
        .portal_dir(portal_dist())
        .configure(local)
        .spawn()
        .await;
    let service = HttpService::start(KEY).await;
    let address = format!("http://127.0.0.1:{}/", service.addr.port());
    let store = S3Store::start("AKIAPORTAL", "portal-s3-secret", "archive").await;
    // A records service, registered through the API: its page hands out the inbound secret.
    let records = app
        .admin(
            "mutation($i: ServiceConnectionInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: { kind: NONE }) { id } }",
            serde_json::json!({ "i": { "name": "Records", "serviceType": "RECORDS_EXCHANGE", "protocol": "HTTPS_JSON", "address": address } }),
        )
        .await;
    let records = switchboard_tests::data(&records)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = Browser::start("services").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.click(By::Id("nav-services")).await?;
            b.wait_text(By::Tag("h1"), "External Services").await?;
            b.wait_for(By::Css("tr[data-connection='Records']")).await?;
            b.wait_text(By::Id("allow-list-note"), "services.allowed_hosts")
                .await?;

            // An address the server may not reach is explained next to its field.
            add(b, "Private LIS", "http://10.1.2.3/", KEY).await?;
            b.wait_text(By::Id("connection-address-error"), "may not reach")
                .await?;

            // Added: the key is stored, never shown again.
            add(b, "Acme LIS", &address, KEY).await?;
            b.wait_text(
                By::Css("tr[data-connection='Acme LIS'] .credentials"),
                "never shown again",
            )
            .await?;
            assert!(!b.driver.source().await?.contains(KEY));
            add(b, "Broken LIS", &address, "not-the-key").await?;
            b.wait_for(By::Css("tr[data-connection='Broken LIS']"))
                .await?;

            // Test Connection: each step, then a refusal in plain words with what to try.
            b.click(By::Css("tr[data-connection='Acme LIS'] .test-connection"))
                .await?;
            b.wait_text(By::Id("test-summary"), "Acme LIS: connected")
                .await?;
            for step in ["RESOLVE", "CONNECT", "CALL"] {
                b.wait_for(By::Css(format!("tr[data-step='{step}'][data-ok='true']")))
                    .await?;
            }
            b.check_accessibility("external-services").await?;

            // A storage connection: the form offers what fits the type (S3, an access key).
            b.type_into(By::Id("connection-name"), "Archive").await?;
            b.driver
                .find(By::Css("#connection-type option[value='DATA_STORAGE']"))
                .await?
                .click()
                .await?;
            b.wait_for(By::Css("#connection-protocol option[value='S3']:checked"))
                .await?;
            b.type_into(
                By::Id("connection-address"),
                &format!("{}/archive/nightly", store.url()),
            )
            .await?;
            b.driver
                .find(By::Css("#credentials-kind option[value='ACCESS_KEY']"))
                .await?
                .click()
                .await?;
            b.type_into(By::Id("credentials-username"), "AKIAPORTAL")
                .await?;
            b.type_into(By::Id("credentials-secret"), "portal-s3-secret")
                .await?;
            b.click(By::Id("connection-submit")).await?;
            b.click(By::Css("tr[data-connection='Archive'] .test-connection"))
                .await?;
            b.wait_text(By::Id("test-summary"), "Archive: connected")
                .await?;
            b.wait_for(By::Css("tr[data-step='STORAGE'][data-ok='true']"))
                .await?;
            assert!(!b.driver.source().await?.contains("portal-s3-secret"));
            b.click(By::Css("tr[data-connection='Broken LIS'] .test-connection"))
                .await?;
            b.wait_text(By::Id("test-summary"), "AUTH_FAILED").await?;
            b.wait_text(By::Id("test-message"), "HTTP 401").await?;
            b.wait_text(By::Id("test-fix"), "credentials").await?;
            b.wait_for(By::Css("tr[data-step='CALL'][data-ok='false']"))
                .await?;
            b.wait_text(By::Css("tr[data-connection='Broken LIS'] .status"), "Down")
                .await?;

            // The logs: both tests, then only failures; an entry opens in place.
            b.click(By::Id("to-logs")).await?;
            b.wait_text(By::Tag("h1"), "Integration Logs").await?;
            b.wait_for(By::Css("tr[data-outcome='OK']")).await?;
            b.wait_for(By::Css("tr[data-code='AUTH_FAILED']")).await?;
            b.driver
                .find(By::Css("#log-outcome option[value='FAILED']"))
                .await?
                .click()
                .await?;
            b.click(By::Id("log-apply")).await?;
            b.wait_until(|| async {
                b.driver
                    .find_all(By::Css("tr[data-outcome='OK']"))
                    .await
                    .is_ok_and(|rows| rows.is_empty())
            })
            .await?;
            b.click(By::Css("tr[data-code='AUTH_FAILED'] summary"))
                .await?;
            b.wait_text(
                By::Css("tr[data-code='AUTH_FAILED'] details[open]"),
                "Correlation id",
            )
            .await?;
            b.check_accessibility("integration-logs").await?;

            // Health: a tile per connection, its status, and a chart with what happened.
            b.goto(&app.url("/settings/services/health")).await?;
            b.wait_text(By::Tag("h1"), "Health").await?;
            b.wait_for(By::Css(
                "section[data-connection='Acme LIS'][data-status='HEALTHY'] circle.latency-dot",
            ))
            .await?;
            b.wait_for(By::Css(
                "section[data-connection='Broken LIS'][data-status='DOWN'] rect.error-bar",
            ))
            .await?;
            let label = b
                .driver
                .find(By::Css("section[data-connection='Broken LIS'] svg"))
                .await?
                .attr("aria-label")
                .await?
                .unwrap_or_default();
            assert!(label.contains("1 exchanges, 1 failed"), "{label}");
            b.check_accessibility("service-health").await?;

            // A connection's page: debug capture on, settings changed, a refusal explained.
            b.goto(&app.url("/settings/services")).await?;
            b.click(By::Css("tr[data-connection='Acme LIS'] .connection-link"))
                .await?;
            b.wait_text(By::Tag("h1"), "Acme LIS").await?;
            b.click(By::Id("capture-toggle")).await?;
            b.wait_text(By::Id("capture-state"), "On until").await?;
            b.type_into(By::Id("edit-timeout"), "5000").await?;
            b.click(By::Id("edit-enabled")).await?;
            b.click(By::Id("edit-submit")).await?;
            b.wait_text(By::Id("connection-enabled"), "Disabled")
                .await?;
            b.type_into(By::Id("edit-address"), "ftp://lis.example.org/")
                .await?;
            b.click(By::Id("edit-submit")).await?;
            b.wait_text(By::Id("edit-error"), "not allowed").await?;
            b.check_accessibility("service-detail").await?;

            // A records service's inbound secret: shown once, then only as set.
            b.goto(&app.url(&format!("/settings/services/connection/{records}")))
                .await?;
            b.wait_text(By::Id("inbound-secret-state"), "Not set")
                .await?;
            b.click(By::Id("inbound-rotate")).await?;
            b.answer_dialog("New inbound secret", true).await?;
            b.wait_text(By::Id("new-secret"), "whsec_").await?;
            b.click(By::Id("secret-done")).await?;
            b.wait_text(By::Id("inbound-secret-state"), "never shown again")
                .await?;

            // Deleted, asked first.
            b.click(By::Id("connection-delete")).await?;
            b.answer_dialog("Delete Records", true).await?;
            b.wait_text(By::Tag("h1"), "External Services").await?;
            b.wait_for(By::Css("tr[data-connection='Acme LIS']"))
                .await?;
            assert!(
                b.driver
                    .find_all(By::Css("tr[data-connection='Records']"))
                    .await?
                    .is_empty()
            );
            Ok(())
        })
        .await;
}
