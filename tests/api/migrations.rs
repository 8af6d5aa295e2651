//! Migrations and readiness: replicas starting together on one PostgreSQL database migrate
//! once (the others wait, then find nothing pending), and `/readyz` is not ready while the
//! database lacks a migration this build has.

use sea_orm::ConnectionTrait;
use switchboard_tests::{Backend, TestApp, TestDb, backend};

#[tokio::test]
async fn readiness_waits_for_every_migration_this_build_knows() {
    let app = TestApp::builder().spawn().await;
    let ready = || async {
        let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert_eq!(ready().await, (200, "ready".to_owned()));

    // As if this server were a newer build than the database: its last migration missing.
    let db = app.store().conn();
    let sql = |s: &str| sea_orm::Statement::from_string(db.get_database_backend(), s.to_owned());
    let last = db
        .query_one_raw(sql(
            "SELECT version, applied_at FROM seaql_migrations ORDER BY version DESC LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap();
    let version: String = last.try_get("", "version").unwrap();
    let applied_at: i64 = last.try_get("", "applied_at").unwrap();
    db.execute_raw(sql(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{version}'"
    )))
    .await
    .unwrap();
    let (status, text) = ready().await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("1 database migration(s) pending"), "{text}");
    // Liveness does not depend on it.
    let live = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);

    db.execute_raw(sql(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{version}', {applied_at})"
    )))
    .await
    .unwrap();
    assert_eq!(ready().await, (200, "ready".to_owned()));
}

#[tokio::test]
async fn replicas_starting_together_on_one_postgresql_database_migrate_once() {
    if backend() != Backend::Postgres {
        eprintln!(
            "PostgreSQL only: several replicas share a PostgreSQL database, not a SQLite file"
        );
        return;
    }
    let app = TestApp::builder().spawn().await;
    let fresh = TestDb::new().await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            app.command(&[])
                .env("DATABASE_URL", &fresh.url)
                .arg("migrate")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starting switchboard migrate")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a replica failed to migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = sea_orm::Database::connect(&fresh.url).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(DISTINCT version) AS d FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    let (n, d): (i64, i64) = (row.try_get("", "n").unwrap(), row.try_get("", "d").unwrap());
    assert_eq!(n, d);
    let _ = db.close().await;
    // As many as the server's own database has.
    let mine = app.store().conn();
    let row = mine
        .query_one_raw(sea_orm::Statement::from_string(
            mine.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, row.try_get::<i64>("", "n").unwrap());
}
