//! A lab's polling on its connection's page: a refused schedule explained, a schedule saved,
//! "Poll now" with what it fetched and where the feed now stands, and a cron schedule.

use serde_json::json;
use switchboard_tests::services::ResultsFeed;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, data};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_dist};

#[tokio::test]
async fn an_administrator_sets_a_labs_polling_and_polls_it_now() {
    if !browser_tests_enabled() {
        return;
    }
    let app = TestApp::builder()
        .portal_dir(portal_dist())
        .configure(|s| {
            s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
            s.services.run_polls = false;
        })
        .spawn()
        .await;
    let feed = ResultsFeed::start("feed-key").await;
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: $c) { id } }",
            json!({ "i": { "name": "Acme feed", "serviceType": "LAB", "protocol": "HTTPS_JSON", "address": feed.url(),
                "identifiers": { "assigningAuthority": "CLINIC-MRN" }, "clientId": app.fx.client_a },
                "c": { "kind": "API_KEY", "apiKeyHeader": "X-Api-Key", "apiKey": "feed-key" } }),
        )
        .await;
    let connection = data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-300" }),
        )
        .await;
    app.test_id(&key, &patient, "ACC-3").await;
    feed.push([json!({ "messageId": "P-1", "patient": { "id": "E-300" }, "orders": [{
        "accessionNumber": "ACC-3", "testCode": "CBC", "testName": "Complete blood count", "status": "FINAL",
        "results": [{ "code": "718-7", "name": "Hemoglobin", "value": "13.2", "unit": "g/dL" }] }] })]);

    let browser = Browser::start("polling").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.goto(&app.url(&format!("/settings/services/connection/{connection}")))
                .await?;
            b.wait_text(By::Id("polling-heading"), "Polling").await?;
            // Nothing to poll before a schedule is saved.
            let now = b.wait_for(By::Id("polling-now")).await?;
            assert!(!now.is_enabled().await?);

            b.type_into(By::Id("polling-every"), "0").await?;
            b.click(By::Id("polling-save")).await?;
            b.wait_text(By::Id("polling-error"), "between 1").await?;
            b.type_into(By::Id("polling-every"), "3600").await?;
            b.click(By::Id("polling-save")).await?;
            b.wait_text(By::Id("polling-state"), "On; next").await?;
            b.wait_text(By::Id("polling-last"), "Never polled").await?;

            b.click(By::Id("polling-now")).await?;
            b.wait_text(
                By::Id("polling-result"),
                "Fetched 1 message(s) in 1 page(s): 1 accepted, 0 to the dead-letter queue.",
            )
            .await?;
            b.wait_text(By::Id("polling-cursor"), "1").await?;
            b.wait_text(By::Id("polling-last"), "OK").await?;
            b.check_accessibility("service-polling").await?;

            // A cron schedule instead.
            b.click(By::Id("polling-by-cron")).await?;
            b.type_into(By::Id("polling-cron"), "*/5 * * * *").await?;
            b.click(By::Id("polling-save")).await?;
            b.wait_text(By::Id("polling-state"), ":").await?;
            Ok(())
        })
        .await;
    let resp = app
        .admin(
            "query($c: ID!) { serviceConnection(id: $c) { polling { cron everySeconds cursor } } }",
            json!({ "c": connection }),
        )
        .await;
    let polling = &data(&resp)["serviceConnection"]["polling"];
    assert_eq!(polling["cron"], "*/5 * * * *", "{resp:#}");
    assert!(polling["everySeconds"].is_null());
    assert_eq!(polling["cursor"], "1");
}
