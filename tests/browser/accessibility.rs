//! WCAG 2.1 AA on every screen: axe-core's automated rules, plus what it cannot see — a
//! distinct title per screen, where focus lands, and no sideways scrolling at 1024×768.

use switchboard::domain::role::Role;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD};
use thirtyfour::prelude::*;

use crate::harness::{Browser, Res, browser_tests_enabled, portal_app};

/// The page's title, the id of the focused element, and whether the page is wider than the
/// window.
async fn state(b: &Browser) -> Result<(String, String, bool), Box<dyn std::error::Error>> {
    let v = b
        .driver
        .execute(
            "return [document.title, (document.activeElement || {}).id || '', \
             document.documentElement.scrollWidth > document.documentElement.clientWidth];",
            vec![],
        )
        .await?;
    let v = v.json();
    Ok((
        v[0].as_str().unwrap_or("").to_owned(),
        v[1].as_str().unwrap_or("").to_owned(),
        v[2].as_bool().unwrap_or(true),
    ))
}

/// Checks the screen now shown: axe, a title of its own, focus on `focus_id`, no sideways
/// scrolling. Returns the title.
async fn screen(
    b: &Browser,
    name: &str,
    focus_id: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    b.wait_until(async || state(b).await.is_ok_and(|(_, f, _)| f == focus_id))
        .await
        .map_err(|_| format!("{name}: focus never reached #{focus_id}"))?;
    b.check_accessibility(name).await?;
    let (title, _, wide) = state(b).await?;
    assert!(!wide, "{name}: the page scrolls sideways at 1024×768");
    assert!(
        title.ends_with(" · Switchboard") || title == "Switchboard",
        "{name}: {title}"
    );
    Ok(title)
}

#[tokio::test]
async fn every_screen_passes_the_accessibility_check() {
    if !browser_tests_enabled() {
        return;
    }
    let app = portal_app().await;
    app.create_portal_user("staff@example.org", Role::Staff, ADMIN_PASSWORD)
        .await;
    let browser = Browser::start("accessibility").await;
    browser
        .run(async |b| -> Res {
            b.driver.set_window_rect(0, 0, 1024, 768).await?;
            let mut titles = Vec::new();

            b.goto(&app.url("/login")).await?;
            titles.push(screen(b, "login", "email").await?);
            // An error is announced and checked too.
            b.click(By::Id("login-submit")).await?;
            b.wait_for(By::Id("login-error")).await?;
            b.check_accessibility("login with an error").await?;

            b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            titles.push(screen(b, "API Console", "page-heading").await?);
            // With a key in the list and its secret on screen.
            b.type_into(By::Id("key-name"), "A key").await?;
            b.click(By::Id("scope-patients-read")).await?;
            b.click(By::Id("create-key")).await?;
            b.wait_for(By::Id("new-secret")).await?;
            b.check_accessibility("API Console with a new secret")
                .await?;
            b.click(By::Id("secret-done")).await?;
            // A confirmation, open: a modal dialog with its title and text.
            b.click(By::Css(r#"tr[data-key-name="A key"] .rotate"#)).await?;
            b.wait_for(By::Css("#confirm-dialog[open]")).await?;
            assert_eq!(state(b).await?.1, "dialog-cancel", "the safe answer has the focus");
            b.check_accessibility("rotation dialog").await?;
            b.click(By::Id("dialog-cancel")).await?;
            // A key's page.
            b.click(By::Css(r#"tr[data-key-name="A key"] .key-link"#)).await?;
            titles.push(screen(b, "a key's page", "page-heading").await?);
            b.type_into(By::Id("rename-name"), " ").await?;
            b.click(By::Id("rename-save")).await?;
            b.wait_for(By::Id("rename-error")).await?;
            b.check_accessibility("a key's page with an error").await?;

            b.click(By::Id("nav-audit")).await?;
            titles.push(screen(b, "Audit", "page-heading").await?);
            b.wait_for(By::Css("#audit tbody tr")).await?;
            b.check_accessibility("Audit with events").await?;

            b.click(By::Id("nav-settings")).await?;
            titles.push(screen(b, "Settings", "page-heading").await?);

            // The connection directory (another of the portal's apps), with a new app's secret
            // on screen, a form error, and an app's page.
            b.click(By::Id("nav-connections")).await?;
            titles.push(screen(b, "Active Connections", "page-heading").await?);
            b.click(By::Id("app-submit")).await?;
            b.wait_for(By::Id("app-name-error")).await?;
            b.check_accessibility("Active Connections with an error").await?;
            b.type_into(By::Id("app-name"), "An app").await?;
            b.type_into(By::Id("app-redirects"), "https://app.example/cb").await?;
            b.click(By::Id("scope-patients-read")).await?;
            b.click(By::Id("app-submit")).await?;
            b.wait_for(By::Id("new-secret")).await?;
            b.check_accessibility("Active Connections with a new secret").await?;
            b.click(By::Id("secret-done")).await?;
            b.click(By::Css(r#"tr[data-connection="An app"] .connection-link"#)).await?;
            titles.push(screen(b, "a partner app's page", "page-heading").await?);

            b.goto(&app.url("/no-such-page")).await?;
            titles.push(screen(b, "not found", "page-heading").await?);

            app.admin(
                "mutation { setDeveloperPortalEnabled(enabled: false) { developerPortalEnabled } }",
                serde_json::json!({}),
            )
            .await;
            b.goto(&app.url("/graphiql")).await?;
            b.wait_for(By::Tag("h1")).await?;
            b.check_accessibility("GraphiQL switched off").await?;

            // Staff: no integration settings, said accessibly.
            b.goto(&app.url("/settings/general")).await?;
            b.click(By::Id("logout")).await?;
            b.wait_for(By::Id("email")).await?;
            b.login("staff@example.org", ADMIN_PASSWORD).await?;
            titles.push(screen(b, "home", "page-heading").await?);
            b.goto(&app.url("/settings/audit")).await?;
            screen(b, "Audit refused to staff", "page-heading").await?;

            // The check can fail: an unlabelled field is a violation it reports.
            b.driver
                .execute(
                    "document.getElementById('main').insertAdjacentHTML('beforeend', '<input type=\"text\">');",
                    vec![],
                )
                .await?;
            let control = b.check_accessibility("control").await;
            assert!(
                control.as_ref().is_err_and(|e| e.to_string().contains("label")),
                "{control:?}"
            );

            let mut distinct = titles.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), titles.len(), "titles repeat: {titles:?}");
            Ok(())
        })
        .await;
}
