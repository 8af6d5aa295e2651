//! End-to-end tests of the portal in headless Chromium, driven over WebDriver, against the
//! real server with a fresh database. They need the built portal (portal/dist) and Chromium:
//! `scripts/test.sh` provides both and sets SWITCHBOARD_BROWSER_TESTS=1. A failing test saves
//! a screenshot under tests/artifacts/.

mod accessibility;
mod assets;
mod connections;
mod environment;
mod harness;
mod imports;
mod keys;
mod lab_intake;
mod polling;
mod protection;
mod services;
mod webhooks;

use harness::{Browser, browser_tests_enabled, portal_app};
use serde_json::json;
use switchboard::domain::role::Role;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, codes};
use thirtyfour::prelude::*;

/// The id of the element that has the keyboard focus.
async fn focused(b: &Browser) -> String {
    b.driver
        .execute("return (document.activeElement || {}).id || '';", vec![])
        .await
        .ok()
        .and_then(|v| v.json().as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test]
async fn an_administrator_manages_keys_and_the_developer_portal() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let browser = Browser::start("admin_flow").await;
    browser
        .run(async |b| {
            // Not signed in: the portal sends us to the login screen.
            b.goto(&app.url("/settings/api-console")).await?;
            b.wait_for(By::Id("email")).await?;
            assert!(b.current_path().await?.starts_with("/login"));

            // A wrong password is explained, not silently ignored.
            b.login(ADMIN_EMAIL, "not the password").await?;
            b.wait_text(By::Id("login-error"), "not right").await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            assert_eq!(b.current_path().await?, "/settings/api-console");

            // The form checks before it sends: each problem next to its field, the focus on
            // the first.
            b.click(By::Id("create-key")).await?;
            b.wait_text(By::Id("key-name-error"), "Give the key a name")
                .await?;
            b.wait_text(By::Id("key-scopes-error"), "at least one permission")
                .await?;
            b.wait_until(async || focused(b).await == "key-name").await?;
            // The server's refusal lands next to its field too: an expiry in the past.
            b.type_into(By::Id("key-name"), "Browser key").await?;
            b.click(By::Id("scope-patients-read")).await?;
            b.driver
                .execute(
                    "const e = document.getElementById('key-expires'); e.value = '2020-01-01T00:00'; \
                     e.dispatchEvent(new Event('input', { bubbles: true }));",
                    vec![],
                )
                .await?;
            b.click(By::Id("create-key")).await?;
            b.wait_text(By::Id("key-expires-error"), "future").await?;
            b.wait_until(async || focused(b).await == "key-expires").await?;
            assert!(b.driver.find(By::Id("key-name-error")).await.is_err());
            b.driver
                .execute(
                    "const e = document.getElementById('key-expires'); e.value = ''; \
                     e.dispatchEvent(new Event('input', { bubbles: true }));",
                    vec![],
                )
                .await?;

            // Create a key: the secret is shown once, with a copy button.
            b.click(By::Id("scope-patients-contact-read")).await?;
            b.click(By::Id("create-key")).await?;
            let secret = b.wait_text(By::Id("new-secret"), "sb_test_").await?;
            let (status, body) = app
                .post(Some(&secret), json!({ "query": "{ viewer { scopes } }" }))
                .await;
            assert_eq!(status, 200);
            assert_eq!(
                body["data"]["viewer"]["scopes"],
                json!(["patients:read", "patients.contact:read"])
            );
            b.wait_until(async || focused(b).await == "copy-secret").await?;
            b.click(By::Id("copy-secret")).await?;
            b.wait_text(By::Id("copy-secret"), "Copied").await?;
            b.wait_text(By::Id("copy-status"), "Copied to the clipboard")
                .await?;
            b.click(By::Id("secret-done")).await?;
            b.wait_gone(By::Id("secret-panel")).await?;
            let row = r#"tr[data-key-name="Browser key"]"#;
            b.wait_text(By::Css(format!("{row} .status")), "Active")
                .await?;
            let created = b.wait_text(By::Css(format!("{row} .created")), "UTC").await?;
            assert!(created.contains(ADMIN_EMAIL), "{created}");

            // The session survives a reload, and the secret is gone for good.
            b.driver.refresh().await?;
            b.wait_text(By::Css(format!("{row} .status")), "Active")
                .await?;
            assert!(!b.driver.source().await?.contains(&secret));

            // Rotate: asks first, with the grace period to choose (a day unless changed),
            // then shows the new secret; the old one still works, and the list shows one key
            // with two secrets.
            b.click(By::Css(format!("{row} .rotate"))).await?;
            b.wait_for(By::Css("#rotate-grace option[value='86400']:checked"))
                .await?;
            b.driver
                .find(By::Css("#rotate-grace option[value='3600']"))
                .await?
                .click()
                .await?;
            b.answer_dialog("Rotate", true).await?;
            let rotated = b.wait_text(By::Id("new-secret"), "sb_test_").await?;
            assert_ne!(rotated, secret);
            b.click(By::Id("secret-done")).await?;
            let (status, _) = app
                .post(Some(&secret), json!({ "query": "{ viewer { kind } }" }))
                .await;
            assert_eq!(status, 200, "the old secret works during the grace period");
            b.wait_text(By::Css(format!("{row} .status")), "old secret works until")
                .await?;
            let rows = b.driver.find_all(By::Css(row)).await?;
            assert_eq!(rows.len(), 1, "a rotated key is one key");
            let prefixes = b.wait_text(By::Css(format!("{row} .prefixes")), " + ").await?;
            assert_eq!(prefixes.matches("sb_test_").count(), 2, "{prefixes}");
            // The chosen hour, not the default day.
            let until = app
                .admin("{ apiKeys { rotatedToId expiresAt } }", json!({}))
                .await;
            let old_until = until["data"]["apiKeys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| !k["rotatedToId"].is_null())
                .unwrap()["expiresAt"]
                .as_str()
                .unwrap()
                .to_owned();
            let left = chrono::DateTime::parse_from_rfc3339(&old_until)?
                .signed_duration_since(chrono::Utc::now())
                .num_minutes();
            assert!((55..=60).contains(&left), "old secret ends in {left} minutes");

            // Cut the rotation short: the old secret stops at once, the new one works on.
            let rotating = r#"tr[data-key-name="Browser key"] .end-rotation"#;
            b.wait_for(By::Css(rotating)).await?;
            b.click(By::Css(rotating)).await?;
            b.answer_dialog("old secret stops", true).await?;
            b.wait_until(async || {
                let (status, _) = app
                    .post(Some(&secret), json!({ "query": "{ viewer { kind } }" }))
                    .await;
                status == 401
            })
            .await?;
            b.wait_gone(By::Css(rotating)).await?;
            let (status, _) = app
                .post(Some(&rotated), json!({ "query": "{ viewer { kind } }" }))
                .await;
            assert_eq!(status, 200, "the new secret works on");

            // Rotate again, then revoke the new key: asks first; dismissing changes nothing;
            // revoking ends the old secret of the rotation too.
            let active = r#"tr[data-key-name="Browser key"]:has(.rotate)"#;
            b.click(By::Css(format!("{active} .rotate"))).await?;
            b.answer_dialog("Rotate", true).await?;
            let newest = b.wait_text(By::Id("new-secret"), "sb_test_").await?;
            b.click(By::Id("secret-done")).await?;
            b.wait_for(By::Css(rotating)).await?;
            // Escape closes the dialog as Cancel does.
            b.click(By::Css(format!("{active} .revoke"))).await?;
            b.wait_for(By::Css("#confirm-dialog[open]")).await?;
            b.driver.action_chain().send_keys(Key::Escape).perform().await?;
            b.wait_gone(By::Css("#confirm-dialog[open]")).await?;
            b.click(By::Css(format!("{active} .revoke"))).await?;
            b.answer_dialog("cannot be undone", false).await?;
            let (status, _) = app
                .post(Some(&newest), json!({ "query": "{ viewer { kind } }" }))
                .await;
            assert_eq!(status, 200);
            b.click(By::Css(format!("{active} .revoke"))).await?;
            b.answer_dialog("cannot be undone", true).await?;
            for old_or_new in [&rotated, &newest] {
                b.wait_until(async || {
                    let (status, _) = app
                        .post(Some(old_or_new), json!({ "query": "{ viewer { kind } }" }))
                        .await;
                    status == 401
                })
                .await?;
            }
            // Revoked keys are out of the list until asked for.
            b.wait_gone(By::Css(row)).await?;
            b.click(By::Id("show-revoked")).await?;
            b.wait_text(By::Css(format!("{row} .status")), "Revoked")
                .await?;

            // Switch the developer portal off: GraphiQL disappears.
            assert_eq!(
                app.http.get(app.url("/graphiql")).send().await?.status(),
                200
            );
            b.click(By::Id("nav-settings")).await?;
            b.wait_for(By::Id("developer-portal")).await?;
            assert!(
                b.driver
                    .find(By::Id("developer-portal"))
                    .await?
                    .is_selected()
                    .await?
            );
            b.wait_for(By::Id("graphiql-link")).await?;
            b.click(By::Id("developer-portal")).await?;
            b.wait_text(By::Css("label[for=developer-portal]"), "is off")
                .await?;
            // Saving says so, and the playground's link goes with the playground.
            b.wait_text(By::Id("settings-saved"), "Saved").await?;
            b.wait_gone(By::Id("graphiql-link")).await?;
            assert_eq!(
                app.http.get(app.url("/graphiql")).send().await?.status(),
                404
            );
            b.goto(&app.url("/graphiql")).await?;
            b.wait_text(By::Tag("body"), "switched off").await?;

            // Log out: back to the login screen, and settings need a new login.
            b.goto(&app.url("/settings/general")).await?;
            b.click(By::Id("logout")).await?;
            b.wait_for(By::Id("email")).await?;
            b.goto(&app.url("/settings/api-console")).await?;
            b.wait_for(By::Id("email")).await?;
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn staff_see_no_integration_settings() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    app.create_portal_user("staff@example.org", Role::Staff, "staff password 1")
        .await;
    let browser = Browser::start("staff").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login("staff@example.org", "staff password 1").await?;
            b.wait_for(By::Id("no-settings")).await?;
            assert!(
                b.driver.find(By::Id("nav-api-console")).await.is_err(),
                "no settings navigation"
            );
            b.goto(&app.url("/settings/api-console")).await?;
            b.wait_for(By::Id("no-settings")).await?;
            assert!(b.driver.find(By::Id("create-key")).await.is_err());
            Ok(())
        })
        .await;
    // The server refuses them anyway.
    let token = app.login("staff@example.org", "staff password 1").await;
    let resp = app.gql_as(&token, "{ apiKeys { id } }", json!({})).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
}

#[tokio::test]
async fn an_expired_session_returns_to_login_with_a_message() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let browser = Browser::start("expired").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            // End the session behind the portal's back.
            let stored = b
                .driver
                .execute("return localStorage.getItem('switchboard.session')", vec![])
                .await?;
            let session: serde_json::Value =
                serde_json::from_str(stored.json().as_str().unwrap_or("{}"))?;
            let token = session["token"].as_str().unwrap_or_default().to_owned();
            app.gql_as(&token, "mutation { logout }", json!({})).await;
            b.click(By::Id("nav-audit")).await?;
            b.wait_text(By::Css(".notice"), "session has expired")
                .await?;
            assert!(b.current_path().await?.starts_with("/login"));
            Ok(())
        })
        .await;
}

/// "Who read patient X?" in one filter, among many events; older events page in; a STAFF
/// user's events show their role.
#[tokio::test]
async fn the_audit_screen_finds_who_read_a_patient() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let key = app.full_key().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let id = app
            .patient_id(
                &key,
                &app.fx.client_a,
                &app.fx.loc_a1,
                json!({ "externalPatientId": format!("AUD-{i}") }),
            )
            .await;
        ids.push(id);
    }
    app.create_portal_user("staff@example.org", Role::Staff, "staff password 1")
        .await;
    let staff = app.login("staff@example.org", "staff password 1").await;
    for (i, id) in ids.iter().enumerate() {
        let token = if i == 7 { &staff } else { &key };
        app.gql_as(
            token,
            "query($id:ID!){ patient(id:$id){ id } }",
            json!({ "id": id }),
        )
        .await;
    }
    let browser = Browser::start("audit_search").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.click(By::Id("nav-audit")).await?;
            b.wait_for(By::Css("#audit tbody tr")).await?;
            let rows = async || {
                b.driver
                    .find_all(By::Css("#audit tbody tr"))
                    .await
                    .map(|r| r.len())
                    .unwrap_or(0)
            };
            // Over 60 events: the newest 50 first, then older ones on request.
            assert_eq!(rows().await, 50);
            b.click(By::Id("audit-more")).await?;
            b.wait_until(async || rows().await > 50).await?;

            b.type_into(By::Id("audit-record"), "AUD-7").await?;
            b.driver
                .find(By::Css("#audit-action option[value='READ']"))
                .await?
                .click()
                .await?;
            b.click(By::Id("audit-search")).await?;
            b.wait_until(async || rows().await == 1).await?;
            let row = b.wait_text(By::Css("#audit tbody tr"), "READ").await?;
            assert!(row.contains(&ids[7]), "{row}");
            assert!(
                row.contains("staff@example.org") && row.contains("STAFF"),
                "{row}"
            );
            assert!(
                b.driver.find(By::Id("audit-more")).await.is_err(),
                "one event, one page"
            );
            // The reader's name leads to everything they did.
            let staff_id = b
                .wait_for(By::Css("#audit .actor-id"))
                .await?
                .text()
                .await?;
            b.click(By::Css("#audit .actor-link")).await?;
            b.wait_until(async || {
                b.driver.find(By::Id("audit-actor")).await.ok().is_some()
                    && b.current_url_query("actor").await.ok().as_deref() == Some(staff_id.as_str())
            })
            .await?;
            b.wait_until(async || rows().await >= 2).await?;
            for id in b.driver.find_all(By::Css("#audit .actor-id")).await? {
                assert_eq!(id.text().await?, staff_id);
            }
            let field = b.wait_for(By::Id("audit-actor")).await?;
            assert_eq!(field.prop("value").await?.unwrap_or_default(), staff_id);
            Ok(())
        })
        .await;
}

/// The Audit screen proves the trail intact on request, and after someone with the
/// database's rights changed an event, says where the chain breaks and which event it is.
#[tokio::test]
async fn the_audit_screen_proves_the_trail_intact_or_shows_where_it_breaks() {
    use sea_orm::ConnectionTrait;
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    let key = app.full_key().await;
    for i in 0..5 {
        app.patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": format!("INT-{i}") }),
        )
        .await;
    }
    let browser = Browser::start("audit_integrity").await;
    browser
        .run(async |b| {
            b.goto(&app.url("/login")).await?;
            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            b.wait_text(By::Tag("h1"), "API Console").await?;
            b.click(By::Id("nav-audit")).await?;
            b.click(By::Id("audit-verify")).await?;
            let said = b.wait_text(By::Id("audit-verified"), "Intact").await?;
            assert!(said.contains("events are linked and unchanged"), "{said}");
            let head = b.wait_for(By::Id("audit-head-hash")).await?.text().await?;
            assert_eq!(head.len(), 64, "{head}");
            b.check_accessibility("audit verified").await?;

            let db = app.store().conn();
            db.execute_unprepared("DROP TRIGGER audit_events_no_update")
                .await
                .expect("dropping the trigger");
            let before = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "SELECT sum(json_array_length(event_ids)) FROM audit_links WHERE seq < 3",
                ))
                .await
                .expect("counting")
                .expect("a row")
                .try_get_by_index::<i64>(0)
                .expect("a number");
            db.execute_unprepared(
                "UPDATE audit_events SET actor_label = 'someone else' \
                 WHERE id = (SELECT unhex(replace(event_ids ->> '$[0]', '-', '')) \
                             FROM audit_links WHERE seq = 3)",
            )
            .await
            .expect("changing an event");
            b.click(By::Id("audit-verify")).await?;
            let said = b.wait_text(By::Id("audit-verified"), "Broken").await?;
            assert!(
                said.contains("Broken at link 3 of the chain (EVENT_CHANGED)"),
                "{said}"
            );
            b.wait_text(
                By::Css("#main"),
                &format!("The 2 links before it ({before} events) are intact"),
            )
            .await?;
            b.check_accessibility("audit broken").await?;
            Ok(())
        })
        .await;
}
