//! Webhooks in the portal's API Console: subscribing an endpoint (its secret shown once), a
//! test event through a real receiver that checks the signature, the delivery log and a
//! resend, and rotating the secret.

use switchboard_tests::receiver::Receiver;
use switchboard_tests::webhooks::loopback_receivers;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_dist};

#[tokio::test]
async fn an_administrator_subscribes_an_endpoint_and_reads_its_delivery_log() {
    if !browser_tests_enabled() {
        return;
    }
    let app = TestApp::builder()
        .portal_dir(portal_dist())
        .configure(loopback_receivers)
        .spawn()
        .await;
    let rx = Receiver::start().await;
    let browser = Browser::start("webhooks").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.click(By::Id("nav-webhooks")).await?;
            b.wait_text(By::Tag("h1"), "Webhooks").await?;
            b.wait_for(By::Id("no-endpoints")).await?;

            // A refused address is explained next to its field.
            b.type_into(By::Id("endpoint-url"), "http://10.0.0.1/hook")
                .await?;
            b.click(By::Id("endpoint-submit")).await?;
            b.wait_text(By::Id("endpoint-url-error"), "may not reach")
                .await?;

            // Subscribed to two events, each described.
            b.type_into(By::Id("endpoint-url"), &rx.url).await?;
            b.click(By::Id("events-all")).await?;
            b.wait_text(By::Css("label[for='event-webhook-test']"), "A test ping")
                .await?;
            b.click(By::Id("event-webhook-test")).await?;
            b.click(By::Id("event-patient-created")).await?;
            b.click(By::Id("endpoint-submit")).await?;
            let secret = b.wait_text(By::Id("new-secret"), "whsec_").await?;
            rx.trust(&secret);
            b.click(By::Id("secret-done")).await?;
            let row = format!("tr[data-endpoint='{}']", rx.url);
            b.wait_text(By::Css(format!("{row} .events")), "webhook.test")
                .await?;
            b.check_accessibility("webhooks").await?;

            // Its page: a test event reaches the receiver, signed; the log shows it delivered.
            b.click(By::Css(format!("{row} .endpoint-link"))).await?;
            b.wait_text(By::Id("endpoint-status"), "Enabled").await?;
            b.click(By::Id("endpoint-test")).await?;
            let got = rx.wait_for(1, std::time::Duration::from_secs(15)).await;
            assert!(got[0].verified, "{:?}", got[0]);
            assert_eq!(got[0].body["type"], "webhook.test");
            b.wait_until(|| async {
                let _ = b.click(By::Id("log-refresh")).await;
                b.driver
                    .find_all(By::Css("tr[data-status='DELIVERED']"))
                    .await
                    .is_ok_and(|rows| !rows.is_empty())
            })
            .await?;
            b.check_accessibility("webhook-endpoint").await?;

            // Resend: the same webhook-id again.
            b.click(By::Css("tr[data-status='DELIVERED'] button"))
                .await?;
            let got = rx.wait_for(2, std::time::Duration::from_secs(15)).await;
            assert_eq!(got[1].id, got[0].id);

            // Rotate: the new secret is shown once and signs beside the old one.
            b.click(By::Id("endpoint-rotate")).await?;
            b.answer_dialog("Rotate the signing secret", true).await?;
            let newer = b.wait_text(By::Id("new-secret"), "whsec_").await?;
            assert_ne!(newer, secret);
            rx.trust(&newer);
            b.click(By::Id("secret-done")).await?;
            b.click(By::Id("endpoint-test")).await?;
            let got = rx.wait_for(3, std::time::Duration::from_secs(15)).await;
            assert_eq!(got[2].matched, vec![0, 1]);

            // Disable, asked first.
            b.click(By::Id("endpoint-toggle")).await?;
            b.answer_dialog("Disable", true).await?;
            b.wait_text(By::Id("endpoint-status"), "Disabled").await?;
            Ok(())
        })
        .await;
}
