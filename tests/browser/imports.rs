//! Importing patients in the portal: a CSV file uploaded into a client and location, its
//! progress followed to the end, with duplicates and refused rows counted.

use serde_json::json;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};
use thirtyfour::prelude::*;

use crate::harness::{Browser, browser_tests_enabled, portal_dist};

#[tokio::test]
async fn an_administrator_imports_patients_from_a_csv_file() {
    if !browser_tests_enabled() {
        return;
    }
    let app = TestApp::builder().portal_dir(portal_dist()).spawn().await;
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "CSV-2" }),
    )
    .await;
    let file = std::env::temp_dir().join(format!("switchboard-import-{}.csv", std::process::id()));
    std::fs::write(
        &file,
        "externalPatientId,firstName,lastName,dateOfBirth\n\
         CSV-1,Ada,Lovelace,1915-12-10\n\
         CSV-2,Already,There,1980-01-01\n\
         CSV-3,Grace,Hopper,1906-12-09\n\
         CSV-4,Alan,Turing,not a date\n\
         CSV-5,Edsger,Dijkstra,1930-05-11\n",
    )
    .unwrap();
    let browser = Browser::start("imports").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.goto(&app.url("/settings/services")).await?;
            b.click(By::Id("to-imports")).await?;
            b.wait_text(By::Tag("h1"), "Import patients").await?;
            b.wait_for(By::Id("no-imports")).await?;
            let pick =
                |select: &str, value: &str| By::Css(format!("#{select} option[value='{value}']"));
            b.wait_for(pick("import-client", &app.fx.client_a))
                .await?
                .click()
                .await?;
            b.wait_for(pick("import-location", &app.fx.loc_a1))
                .await?
                .click()
                .await?;
            b.driver
                .find(By::Id("import-file"))
                .await?
                .send_keys(file.to_str().unwrap())
                .await?;
            b.click(By::Id("import-submit")).await?;
            b.wait_for(By::Css("#import-job[data-status='COMPLETED']"))
                .await?;
            b.wait_text(
                By::Id("import-counts"),
                "3 created · 1 duplicates · 1 refused",
            )
            .await?;
            let progress = b.driver.find(By::Id("import-progress")).await?;
            assert_eq!(progress.attr("value").await?.as_deref(), Some("5"));
            b.wait_text(
                By::Css("#import-jobs tr[data-status='COMPLETED']"),
                "3 created",
            )
            .await?;
            b.wait_for(By::Id("import-refused")).await?;
            b.check_accessibility("imports").await?;
            Ok(())
        })
        .await;
    let _ = std::fs::remove_file(&file);
    let resp = app
        .admin(
            "query($c:ID!){ patients(filter:{ clientId: $c }){ totalCount } }",
            json!({ "c": app.fx.client_a }),
        )
        .await;
    assert_eq!(resp["data"]["patients"]["totalCount"], 4);
}
