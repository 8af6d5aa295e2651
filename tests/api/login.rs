//! Passwords cannot be guessed fast: failed logins lock the account and the address for a
//! growing time, and one request carries one guess.

use serde_json::{Value, json};
use switchboard::domain::role::Role;
use switchboard_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, codes, data, spawn_app};

const LOGIN: &str = "mutation($e:String!,$p:String!){ login(email:$e, password:$p){ token } }";

/// (status, Retry-After header, body)
async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Option<u64>, Value) {
    let resp = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_and_the_right_one_waits() {
    let app = spawn_app().await;
    for attempt in 1..=5 {
        let (status, _, body) = login(&app, ADMIN_EMAIL, "wrong password").await;
        assert_eq!(status, 200, "attempt {attempt}");
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"], "attempt {attempt}");
    }
    for password in ["wrong again", ADMIN_PASSWORD] {
        let (status, retry, body) = login(&app, ADMIN_EMAIL, password).await;
        assert_eq!(status, 429);
        assert_eq!(codes(&body), vec!["RATE_LIMITED"]);
        let retry = retry.expect("Retry-After");
        assert!((1..=30).contains(&retry), "{retry}");
        assert_eq!(
            body["errors"][0]["extensions"]["retryAfterSeconds"],
            json!(retry)
        );
        assert!(body["data"]["login"].is_null());
    }
    // The email is matched as the login matches it: case and spaces do not give new tries.
    let (status, _, _) = login(
        &app,
        &format!("  {}", ADMIN_EMAIL.to_uppercase()),
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(status, 429);
    // Another account is not locked by this one.
    app.create_portal_user("staff@example.org", Role::Staff, "another long password")
        .await;
    let (status, _, body) = login(&app, "staff@example.org", "another long password").await;
    assert_eq!(status, 200);
    assert!(data(&body)["login"]["token"].is_string());
}

#[tokio::test]
async fn one_address_cannot_try_every_account() {
    let app = spawn_app().await;
    app.create_portal_user("staff@example.org", Role::Staff, "another long password")
        .await;
    for i in 0..20 {
        let (_, _, body) = login(&app, &format!("guess{i}@example.org"), "password").await;
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"], "{i}");
    }
    let (status, retry, body) = login(&app, "staff@example.org", "another long password").await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
}

#[tokio::test]
async fn aliases_and_batches_carry_one_guess() {
    let app = spawn_app().await;
    let guesses: String = (0..50)
        .map(|i| {
            format!("g{i}: login(email: \"{ADMIN_EMAIL}\", password: \"guess {i}\") {{ token }} ")
        })
        .collect();
    let resp = app
        .gql(None, &format!("mutation {{ {guesses} }}"), json!({}))
        .await;
    let codes = codes(&resp);
    assert_eq!(codes.len(), 50);
    assert_eq!(codes[0], "UNAUTHENTICATED");
    assert!(
        codes[1..].iter().all(|c| c == "VALIDATION_FAILED"),
        "{codes:?}"
    );
    let batch: Vec<_> = (0..10)
        .map(|i| json!({ "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": format!("guess {i}") } }))
        .collect();
    let (_, body) = app.post(None, json!(batch)).await;
    let answers = body.as_array().unwrap();
    assert_eq!(
        switchboard_tests::codes(&answers[0]),
        vec!["UNAUTHENTICATED"]
    );
    for answer in &answers[1..] {
        assert_eq!(switchboard_tests::codes(answer), vec!["VALIDATION_FAILED"]);
    }
    // Two guesses were checked in all, so the right password still works.
    let (status, _, body) = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    data(&body);
}

#[tokio::test]
async fn control_characters_in_a_login_are_refused_as_bad_input() {
    let app = spawn_app().await;
    for email in ["root\u{0}@example.org", "root@example.org\u{1b}[2J"] {
        let (status, _, body) = login(&app, email, ADMIN_PASSWORD).await;
        assert_eq!(status, 200);
        assert_eq!(codes(&body), vec!["VALIDATION_FAILED"], "{body}");
    }
    let (_, _, body) = login(&app, ADMIN_EMAIL, "pass\u{0}word").await;
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"]);
}
