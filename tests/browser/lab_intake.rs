//! Lab intake in the portal: the dead-letter queue with why each message waits, a message
//! masked until revealed, reprocess after a fix, discard with a reason, and a connection's
//! code mapping imported as CSV.

use serde_json::json;
use switchboard_tests::mllp::{MllpClient, msa};
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, data};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_dist};

fn oru(control_id: &str, patient: &str, accession: &str) -> String {
    format!(
        "MSH|^~\\&|LIS|ACME LAB|SWITCHBOARD|CLINIC|20261130101500||ORU^R01|{control_id}|P|2.5.1\r\
PID|1||{patient}^^^CLINIC-MRN||LOVELACE^ADA||19801210|F\r\
OBR|1||{accession}|CBC^Complete blood count|||||||||||||||||||||F\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-16.0|N|||F\r"
    )
}

#[tokio::test]
async fn an_administrator_works_the_lab_dead_letter_queue() {
    if !browser_tests_enabled() {
        return;
    }
    let app = TestApp::builder()
        .portal_dir(portal_dist())
        .configure(|s| {
            s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
            s.intake.mllp_bind = Some("127.0.0.1:0".into());
        })
        .spawn()
        .await;
    let resp = app
        .admin(
            "mutation($i: ServiceConnectionInput!) { createServiceConnection(input: $i, environment: SANDBOX, credentials: { kind: NONE }) { id } }",
            json!({ "i": { "name": "Acme LIS", "serviceType": "LAB", "protocol": "HL7V2_MLLP", "address": "mllp://127.0.0.1:2575",
                "identifiers": { "receivingFacility": "ACME LAB", "assigningAuthority": "CLINIC-MRN" }, "clientId": app.fx.client_a } }),
        )
        .await;
    let connection = data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app.full_key().await;
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    for id in ["WAIT-1", "WAIT-2"] {
        assert_eq!(msa(&lis.send(&oru(id, "E-200", "ACC-2")).await).0, "AE");
    }
    let browser = Browser::start("lab_intake").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.goto(&app.url("/settings/services")).await?;
            b.click(By::Id("to-intake")).await?;
            b.wait_text(By::Tag("h1"), "Lab intake").await?;
            let row = "tr[data-control='WAIT-1'][data-status='DEAD']";
            b.wait_text(By::Css(format!("{row} .problem")), "UNKNOWN_PATIENT")
                .await?;
            b.click(By::Css(format!("{row} summary"))).await?;
            let masked = b
                .wait_for(By::Css(format!("{row} pre.masked")))
                .await?
                .text()
                .await?;
            assert!(
                masked.contains("OBX|1|NM|718-7") && !masked.contains("LOVELACE"),
                "{masked}"
            );
            b.check_accessibility("lab-intake").await?;
            // Revealed on request (audited).
            b.click(By::Css(format!("{row} .reveal"))).await?;
            b.wait_text(By::Css(format!("{row} pre.revealed")), "LOVELACE")
                .await?;

            // The fix, then a reprocess: the message leaves the queue, its results stored.
            let patient = app
                .patient_id(
                    &key,
                    &app.fx.client_a,
                    &app.fx.loc_a1,
                    json!({ "externalPatientId": "E-200" }),
                )
                .await;
            let test = app.test_id(&key, &patient, "ACC-2").await;
            b.click(By::Css(format!("{row} .reprocess"))).await?;
            b.wait_text(By::Id("intake-notice"), "Reprocessed").await?;
            b.wait_gone(By::Css(row)).await?;
            let t = app
                .gql_as(
                    &key,
                    "query($id: ID!) { test(id: $id) { status } }",
                    json!({ "id": test }),
                )
                .await;
            assert_eq!(data(&t)["test"]["status"], "RESULTED");

            // The other one (its order is resulted now): discarded, with a reason.
            let other = "tr[data-control='WAIT-2'][data-status='DEAD']";
            b.click(By::Css(format!("{other} summary"))).await?;
            b.click(By::Css(format!("{other} .discard"))).await?;
            b.type_into(By::Id("discard-reason"), "sent twice by the lab")
                .await?;
            b.answer_dialog("Discard this message", true).await?;
            b.wait_text(By::Id("intake-notice"), "Discarded").await?;
            b.wait_for(By::Id("no-messages")).await?;

            // Code mapping: imported as CSV, then one entry removed.
            b.driver
                .find(By::Css(format!(
                    "#mapping-connection option[value='{connection}']"
                )))
                .await?
                .click()
                .await?;
            b.wait_for(By::Id("no-mappings")).await?;
            b.type_into(
                By::Id("mapping-csv"),
                "kind,localCode,code,loinc\nTEST,CBC,CBC,\nOBSERVATION,HGB-L,HGB,718-7\n",
            )
            .await?;
            b.click(By::Id("mapping-submit")).await?;
            b.wait_text(By::Id("mapping-entries"), "HGB-L").await?;
            b.check_accessibility("lab-intake-mappings").await?;
            Ok(())
        })
        .await;
}
