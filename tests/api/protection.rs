//! Allowed addresses and request rates, tried from both sides: a credential used from inside
//! and outside its ranges, forwarded addresses from trusted and untrusted peers, a flood that
//! gets nothing but 429s, and requests without a credential counted per address.
//!
//! Every request comes from loopback; other client addresses are what a trusted proxy (the
//! test, for a server that trusts 127.0.0.1) says in `X-Forwarded-For` or `Forwarded`.

use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data, spawn_app};

const VIEWER: &str = "{ viewer { name } }";
const SET_KEY_LIMITS: &str = "mutation($id:ID!,$i:CredentialLimitsInput!){ setApiKeyLimits(id:$id, input:$i){ id allowedIps rateLimit { perMinute burst } } }";
const SET_PROTECTION: &str = "mutation($i:ProtectionSettingsInput!){ setProtectionSettings(input:$i){ allowedIps credentialRateLimit { perMinute burst } addressRateLimit { perMinute burst } trustedProxies } }";

/// One request's answer: status, the headers a client paces itself by, and the body.
struct Answer {
    status: u16,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
    body: Value,
}

async fn send(app: &TestApp, token: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let mut req = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": VIEWER }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let number = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap())
    };
    Answer {
        status: resp.status().as_u16(),
        limit: number("ratelimit-limit"),
        remaining: number("ratelimit-remaining"),
        reset: number("ratelimit-reset"),
        retry_after: number("retry-after"),
        body: resp.json().await.unwrap_or(Value::Null),
    }
}

fn from(ip: &str) -> [(&str, &str); 1] {
    [("x-forwarded-for", ip)]
}

async fn set_protection(app: &TestApp, input: Value) -> Value {
    app.admin(SET_PROTECTION, json!({ "i": input })).await
}

fn rate(per_minute: u32, burst: u32) -> Value {
    json!({ "perMinute": per_minute, "burst": burst })
}

async fn trusting_loopback() -> TestApp {
    TestApp::builder()
        .configure(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()])
        .spawn()
        .await
}

#[tokio::test]
async fn a_key_is_used_only_from_its_allowed_addresses() {
    let app = spawn_app().await;
    let (id, key) = app
        .create_key_with(json!({
            "name": "lab uploader", "scopes": ["patients:read"], "environment": "SANDBOX",
            "allowedIps": ["10.0.0.0/8"],
        }))
        .await;
    let refused = send(&app, Some(&key), &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(codes(&refused.body), ["IP_NOT_ALLOWED"]);
    assert!(refused.body.get("data").is_none(), "nothing ran");

    // The refusal is in the audit trail with the address it came from.
    let denied = app
        .audit_events(json!({ "actorId": id, "action": "DENIED" }))
        .await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["fields"], json!(["IP_NOT_ALLOWED"]));
    assert_eq!(denied[0]["ip"], "127.0.0.1");
    assert_eq!(denied[0]["operation"], "POST /graphql");

    // Widened (host bits are cleared, as enforced), it is accepted on the very next request.
    let resp = app
        .admin(
            SET_KEY_LIMITS,
            json!({ "id": id, "i": { "allowedIps": ["127.1.2.3/8", "2001:db8::1/32"] } }),
        )
        .await;
    assert_eq!(
        data(&resp)["setApiKeyLimits"]["allowedIps"],
        json!(["127.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(send(&app, Some(&key), &[]).await.status, 200);

    // An empty list is nowhere; null is anywhere.
    app.admin(
        SET_KEY_LIMITS,
        json!({ "id": id, "i": { "allowedIps": [] } }),
    )
    .await;
    assert_eq!(send(&app, Some(&key), &[]).await.status, 403);
    let resp = app
        .admin(
            SET_KEY_LIMITS,
            json!({ "id": id, "i": { "allowedIps": null } }),
        )
        .await;
    assert!(data(&resp)["setApiKeyLimits"]["allowedIps"].is_null());
    assert_eq!(send(&app, Some(&key), &[]).await.status, 200);

    // A rotation keeps the limits: the new secret is held to them too.
    app.admin(
        SET_KEY_LIMITS,
        json!({ "id": id, "i": { "allowedIps": ["10.0.0.0/8"] } }),
    )
    .await;
    let resp = app
        .admin(
            "mutation($id:ID!){ rotateApiKey(id:$id){ secret apiKey { allowedIps } } }",
            json!({ "id": id }),
        )
        .await;
    let rotated = &data(&resp)["rotateApiKey"];
    assert_eq!(rotated["apiKey"]["allowedIps"], json!(["10.0.0.0/8"]));
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_eq!(send(&app, Some(new_secret), &[]).await.status, 403);
    assert_eq!(send(&app, Some(&key), &[]).await.status, 403);

    // Bad ranges are named by position; nothing changes.
    let resp = app
        .admin(
            SET_KEY_LIMITS,
            json!({ "id": id, "i": { "allowedIps": ["10.0.0.0/8", "10.0.0.0/33"] } }),
        )
        .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["field"],
        "input.allowedIps[1]"
    );
    let resp = app
        .admin(
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "k", "scopes": ["patients:read"], "environment": "SANDBOX", "allowedIps": ["example.org"] } }),
        )
        .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"]);

    // Only a settings administrator sets limits.
    let staff = app.staff_session().await;
    let resp = app
        .gql_as(
            &staff,
            SET_KEY_LIMITS,
            json!({ "id": id, "i": { "allowedIps": null } }),
        )
        .await;
    assert_eq!(codes(&resp), ["FORBIDDEN"]);
    assert_eq!(send(&app, Some(&key), &[]).await.status, 403);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = trusting_loopback().await;
    let (id, key) = app
        .create_key_with(json!({
            "name": "partner backend", "scopes": ["patients:read"], "environment": "SANDBOX",
            "allowedIps": ["203.0.113.0/24", "2001:db8::/32"],
        }))
        .await;
    // Loopback itself is not in the list.
    assert_eq!(send(&app, Some(&key), &[]).await.status, 403);
    // The address the proxy appended is the client.
    assert_eq!(
        send(&app, Some(&key), &from("203.0.113.5")).await.status,
        200
    );
    // A client that wrote an allowed address itself, before the proxy appended its real one,
    // is judged by the real one.
    let spoofed = send(&app, Some(&key), &from("203.0.113.5, 198.51.100.7")).await;
    assert_eq!(spoofed.status, 403);
    assert_eq!(codes(&spoofed.body), ["IP_NOT_ALLOWED"]);
    // RFC 7239, IPv6 with a port.
    let forwarded = [("forwarded", r#"for="[2001:db8::17]:4711";proto=https"#)];
    assert_eq!(send(&app, Some(&key), &forwarded).await.status, 200);

    // The audit trail records the client's address, not the proxy's.
    let denied = app
        .audit_events(json!({ "actorId": id, "action": "DENIED" }))
        .await;
    let ips: Vec<&str> = denied.iter().filter_map(|e| e["ip"].as_str()).collect();
    assert_eq!(ips, ["198.51.100.7", "127.0.0.1"], "newest first");

    // A server that trusts no proxy ignores the headers: the same request is loopback's.
    let direct = spawn_app().await;
    let (_, key) = direct
        .create_key_with(json!({
            "name": "k", "scopes": ["patients:read"], "environment": "SANDBOX",
            "allowedIps": ["203.0.113.0/24"],
        }))
        .await;
    let spoofed = send(&direct, Some(&key), &from("203.0.113.5")).await;
    assert_eq!(spoofed.status, 403);
    let spoofed = send(&direct, Some(&key), &[("forwarded", "for=203.0.113.5")]).await;
    assert_eq!(spoofed.status, 403);
}

#[tokio::test]
async fn the_server_wide_list_holds_every_integration_but_not_the_portal() {
    let app = trusting_loopback().await;
    let key = app.key(&["patients:read"]).await;
    let partner = app.register_app(&["patients:read"]).await;
    let (status, token) = app
        .token_request(
            &partner,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "patients:read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();

    let resp = set_protection(
        &app,
        json!({
            "allowedIps": ["192.0.2.0/24"],
            "credentialRateLimit": rate(6000, 600),
            "addressRateLimit": rate(600, 100),
        }),
    )
    .await;
    let settings = &data(&resp)["setProtectionSettings"];
    assert_eq!(settings["allowedIps"], json!(["192.0.2.0/24"]));
    assert_eq!(settings["trustedProxies"], json!(["127.0.0.1/32"]));
    for credential in [&key, &token] {
        let refused = send(&app, Some(credential), &from("198.51.100.1")).await;
        assert_eq!(refused.status, 403);
        assert_eq!(codes(&refused.body), ["IP_NOT_ALLOWED"]);
        assert_eq!(
            send(&app, Some(credential), &from("192.0.2.44"))
                .await
                .status,
            200
        );
    }
    // A portal session is not held to it, or a wrong list would lock everyone out of the
    // screen that mends it.
    let admin = send(&app, Some(&app.admin_token), &from("198.51.100.1")).await;
    assert_eq!(admin.status, 200);

    // A partner app's own list narrows it further.
    let resp = app
        .admin(
            "mutation($id:ID!,$i:CredentialLimitsInput!){ setPartnerAppLimits(id:$id, input:$i){ allowedIps rateLimit { burst } } }",
            json!({ "id": partner.id, "i": { "allowedIps": ["192.0.2.128/25"] } }),
        )
        .await;
    assert_eq!(
        data(&resp)["setPartnerAppLimits"]["allowedIps"],
        json!(["192.0.2.128/25"])
    );
    assert_eq!(
        send(&app, Some(&token), &from("192.0.2.44")).await.status,
        403
    );
    assert_eq!(
        send(&app, Some(&token), &from("192.0.2.200")).await.status,
        200
    );
    assert_eq!(
        send(&app, Some(&key), &from("192.0.2.44")).await.status,
        200
    );

    // Read back as stored; only settings administrators see or change them.
    let resp = app
        .admin(
            "{ protectionSettings { allowedIps addressRateLimit { perMinute } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&resp)["protectionSettings"]["addressRateLimit"]["perMinute"],
        600
    );
    let staff = app.staff_session().await;
    let resp = app
        .gql_as(&staff, "{ protectionSettings { allowedIps } }", json!({}))
        .await;
    assert_eq!(codes(&resp), ["FORBIDDEN"]);
    let resp = app
        .gql_as(
            &staff,
            SET_PROTECTION,
            json!({ "i": { "allowedIps": null, "credentialRateLimit": rate(1, 1), "addressRateLimit": rate(1, 1) } }),
        )
        .await;
    assert_eq!(codes(&resp), ["FORBIDDEN"]);
    let resp = set_protection(
        &app,
        json!({ "allowedIps": null, "credentialRateLimit": rate(0, 5), "addressRateLimit": rate(1, 1) }),
    )
    .await;
    assert_eq!(codes(&resp), ["VALIDATION_FAILED"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["field"],
        "input.credentialRateLimit.perMinute"
    );
    // The change is audited, the settings unchanged by the refused ones.
    let events = app
        .audit_events(json!({ "recordType": "setting", "action": "UPDATE" }))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["operation"], "setProtectionSettings");
    assert_eq!(
        send(&app, Some(&key), &from("198.51.100.1")).await.status,
        403
    );
}

#[tokio::test]
async fn a_flood_is_limited_with_nothing_but_429s() {
    let app = spawn_app().await;
    let (id, key) = app
        .create_key_with(json!({
            "name": "chatty", "scopes": ["patients:read"], "environment": "SANDBOX",
            "rateLimit": { "perMinute": 60, "burst": 5 },
        }))
        .await;
    let other = app.key(&["patients:read"]).await;
    // The burst, each answer saying what is left.
    for left in (0..5).rev() {
        let ok = send(&app, Some(&key), &[]).await;
        assert_eq!(ok.status, 200);
        assert_eq!((ok.limit, ok.remaining), (Some(5), Some(left)));
        assert!(
            ok.reset.is_some_and(|r| (1..=5).contains(&r)),
            "{:?}",
            ok.reset
        );
        assert!(ok.retry_after.is_none());
    }
    // Then a flood at once: every answer a 429 with when to come back, none with data.
    let flood = futures_util::future::join_all((0..40).map(|_| send(&app, Some(&key), &[]))).await;
    for refused in &flood {
        assert_eq!(refused.status, 429);
        assert_eq!(codes(&refused.body), ["RATE_LIMITED"]);
        assert!(refused.body.get("data").is_none());
        let retry = refused.retry_after.expect("Retry-After");
        assert!((1..=2).contains(&retry), "{retry}");
        assert_eq!(
            refused.body["errors"][0]["extensions"]["retryAfterSeconds"],
            json!(retry)
        );
        assert_eq!((refused.limit, refused.remaining), (Some(5), Some(0)));
    }
    // Another key, and the portal, are not slowed by it.
    assert_eq!(send(&app, Some(&other), &[]).await.status, 200);
    assert_eq!(send(&app, Some(&app.admin_token), &[]).await.status, 200);
    // One request a second comes back.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(send(&app, Some(&key), &[]).await.status, 200);
    assert_eq!(send(&app, Some(&key), &[]).await.status, 429);
    // A new rate starts from its whole burst.
    let resp = app
        .admin(
            SET_KEY_LIMITS,
            json!({ "id": id, "i": { "rateLimit": { "perMinute": 600, "burst": 20 } } }),
        )
        .await;
    assert_eq!(
        data(&resp)["setApiKeyLimits"]["rateLimit"],
        json!({ "perMinute": 600, "burst": 20 })
    );
    let ok = send(&app, Some(&key), &[]).await;
    assert_eq!(
        (ok.status, ok.limit, ok.remaining),
        (200, Some(20), Some(19))
    );
    // The server-wide default applies to a key without its own rate.
    set_protection(
        &app,
        json!({ "allowedIps": null, "credentialRateLimit": rate(60, 2), "addressRateLimit": rate(600, 100) }),
    )
    .await;
    let statuses: Vec<u16> =
        futures_util::future::join_all((0..4).map(|_| send(&app, Some(&other), &[])))
            .await
            .iter()
            .map(|a| a.status)
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn requests_without_a_credential_are_limited_per_address() {
    let app = trusting_loopback().await;
    let key = app.key(&["patients:read"]).await;
    let partner = app.register_app(&["patients:read"]).await;
    set_protection(
        &app,
        json!({ "allowedIps": null, "credentialRateLimit": rate(6000, 600), "addressRateLimit": rate(60, 3) }),
    )
    .await;
    let client = from("198.51.100.20");
    // Anonymous requests and wrong keys share the address's allowance...
    assert_eq!(send(&app, None, &client).await.status, 200);
    let wrong = send(&app, Some("sk_test_not_a_key"), &client).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.remaining, Some(1));
    assert_eq!(send(&app, None, &client).await.status, 200);
    // ...and past it, a guess is not even told whether it was right.
    for token in [None, Some("sk_test_not_a_key"), Some(key.as_str())] {
        let refused = send(&app, token, &client).await;
        if token == Some(key.as_str()) {
            assert_eq!(refused.status, 200, "a valid key counts against itself");
        } else {
            assert_eq!(refused.status, 429);
            assert_eq!(codes(&refused.body), ["RATE_LIMITED"]);
            assert!(refused.retry_after.is_some());
        }
    }
    // The token endpoint counts too.
    let resp = app
        .http
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", "198.51.100.20")
        .basic_auth(&partner.client_id, partner.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    // Another address has its own allowance; IPv6 addresses count by their /64.
    assert_eq!(send(&app, None, &from("198.51.100.21")).await.status, 200);
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        assert_eq!(send(&app, None, &from(ip)).await.status, 200, "{ip}");
    }
    assert_eq!(send(&app, None, &from("2001:db8:1:2::4")).await.status, 429);
    assert_eq!(send(&app, None, &from("2001:db8:1:3::1")).await.status, 200);
}
