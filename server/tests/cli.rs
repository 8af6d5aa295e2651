//! The command line says why it failed, with the cause, and exits non-zero.

use std::process::Command;

fn switchboard(database_url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running switchboard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_database_that_cannot_be_opened_is_reported_with_its_cause() {
    let (status, stderr) = switchboard("sqlite:///nonexistent-dir/x/switchboard.db", &["migrate"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("error: connecting to the database"),
        "{stderr}"
    );
    assert!(stderr.contains("caused by:"), "{stderr}");
    assert!(stderr.contains("unable to open database file"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");

    let (status, stderr) = switchboard("mysql://db.example/x", &["seed-demo"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("no supporting driver"), "{stderr}");
}

#[test]
fn a_good_database_migrates_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("sb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("x.db").display());
    let (status, stderr) = switchboard(&url, &["migrate"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("migrations applied"), "{stderr}");
    // The same admin twice: the second is refused, saying why.
    let create = [
        "admin",
        "create",
        "--email",
        "a@example.org",
        "--role",
        "STAFF",
    ];
    assert_eq!(switchboard(&url, &create).0, 0);
    let (status, stderr) = switchboard(&url, &create);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("an admin with this email exists"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signing_key_rotate_makes_a_new_key_each_time() {
    let dir = std::env::temp_dir().join(format!("sb-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("x.db").display());
    let out = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "error")
            .output()
            .expect("running switchboard")
    };
    let first = out(&["signing-key", "rotate"]);
    assert!(first.status.success(), "{first:?}");
    let second = out(&["signing-key", "rotate"]);
    assert!(second.status.success(), "{second:?}");
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        said(&first).starts_with("new signing key "),
        "{}",
        said(&first)
    );
    assert_ne!(said(&first), said(&second), "a new key each time");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_webhooks_ca_file_that_cannot_be_used_stops_the_server_from_starting() {
    let dir = std::env::temp_dir().join(format!("sb-cli-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("x.db").display());
    let not_pem = dir.join("not-a-ca.pem");
    std::fs::write(&not_pem, "this is no certificate\n").unwrap();
    let serve = |ca_file: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("SWITCHBOARD__SERVER__PORT", "0")
            .env("SWITCHBOARD__WEBHOOKS__CA_FILE", ca_file)
            .env("RUST_LOG", "error")
            .output()
            .expect("running switchboard");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stderr) = serve(&dir.join("missing.pem"));
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("reading webhooks.ca_file"), "{stderr}");
    let (status, stderr) = serve(&not_pem);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("holds no certificate"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
