//! The audit trail is a hash chain: every event is linked in the transaction that stores it,
//! by every write path, on both backends and from two servers at once; `auditVerification` and
//! `switchboard audit verify` prove it intact, and name the first event that was changed,
//! deleted or moved by someone who went around the application (triggers disabled).

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use switchboard_tests::{Backend, TestApp, backend, codes, data, spawn_app};

const VERIFY: &str = "{ auditVerification { intact eventsChecked headHash verifiedAt \
     brokenAt { position eventId problem message } } }";

async fn verification(app: &TestApp) -> Value {
    let resp = app.admin(VERIFY, json!({})).await;
    data(&resp)["auditVerification"].clone()
}

/// `switchboard audit verify` on the test's database: whether it exited 0, and what it said.
fn verify_cli(app: &TestApp) -> (bool, String) {
    let out = app
        .command(&[])
        .args(["audit", "verify"])
        .output()
        .expect("running switchboard audit verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .store()
        .conn()
        .query_one_raw(Statement::from_string(app.store().backend(), sql))
        .await
        .expect(sql)
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

/// The id of the event at `seq` in the chain.
async fn event_at(app: &TestApp, seq: i64) -> uuid::Uuid {
    let row = app
        .store()
        .conn()
        .query_one_raw(Statement::from_string(
            app.store().backend(),
            format!("SELECT event_id FROM audit_chain WHERE seq = {seq}"),
        ))
        .await
        .expect("reading the chain")
        .expect("a link");
    row.try_get_by_index::<uuid::Uuid>(0).expect("an id")
}

/// Runs `sql` with `id` bound, as someone with the database's own rights would.
async fn tamper(app: &TestApp, sql: &str, id: uuid::Uuid) {
    let backend = app.store().backend();
    let sql = match backend {
        DbBackend::Postgres => sql.replace('?', "$1"),
        _ => sql.to_owned(),
    };
    app.store()
        .conn()
        .execute_raw(Statement::from_sql_and_values(backend, &sql, [id.into()]))
        .await
        .expect(&sql);
}

/// What an attacker with the database's owner rights does first: switch off the triggers
/// that keep the trail and the chain append-only.
async fn unlock(app: &TestApp) {
    let statements: &[&str] = match backend() {
        Backend::Postgres => &[
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
            "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_change",
        ],
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
            "DROP TRIGGER audit_chain_no_update",
        ],
    };
    for sql in statements {
        app.store().conn().execute_unprepared(sql).await.expect(sql);
    }
}

/// Writes through every path that stores audit events: creates (batched on SQLite, one
/// statement on PostgreSQL) and reads (the read-audit writer) at the same time, updates and a
/// settings change (transactions of their own), a failed login (an event on its own).
async fn traffic(app: &TestApp) {
    let key = app.full_key().await;
    let creates = (0..12).map(|i| {
        app.create_patient(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": format!("CH-{i}"), "firstName": "Chain" }),
        )
    });
    let created = futures_util::future::join_all(creates).await;
    let ids: Vec<String> = created
        .iter()
        .map(|r| {
            data(r)["createPatient"]["patient"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let reads = ids.iter().map(|id| {
        app.gql_as(
            &key,
            "query($id:ID!){ patient(id:$id){ id firstName } }",
            json!({ "id": id }),
        )
    });
    let updates = ids.iter().take(4).map(|id| {
        app.gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"Linked\" }){ patient { id } } }",
            json!({ "id": id }),
        )
    });
    let (reads, updates) = futures_util::future::join(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(updates),
    )
    .await;
    for resp in reads.iter().chain(&updates) {
        assert!(codes(resp).is_empty(), "{resp}");
    }
    app.create_key_with(
        json!({ "name": "another", "scopes": ["patients:read"], "environment": "SANDBOX" }),
    )
    .await;
    let refused = app
        .gql(
            None,
            "mutation{ login(email:\"nobody@example.org\", password:\"wrong password\"){ token } }",
            json!({}),
        )
        .await;
    assert!(!codes(&refused).is_empty(), "{refused}");
}

#[tokio::test]
async fn every_path_links_its_events_and_the_chain_verifies_intact() {
    let app = spawn_app().await;
    traffic(&app).await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert_eq!(found["brokenAt"], Value::Null);
    let events = scalar(&app, "SELECT count(*) FROM audit_events").await;
    let links = scalar(&app, "SELECT count(*) FROM audit_chain").await;
    assert!(events > 30, "the traffic was audited: {events}");
    assert_eq!(links, events, "every event has one link");
    assert_eq!(
        scalar(&app, "SELECT max(seq) FROM audit_chain").await,
        links,
        "places 1 to n, no gaps"
    );
    // Checked: every event before the verification ran (it may itself add none).
    assert!(
        found["eventsChecked"].as_i64().unwrap() >= events,
        "{found}"
    );
    let head = found["headHash"].as_str().unwrap();
    assert_eq!(head.len(), 64);
    assert!(head.bytes().all(|b| b.is_ascii_hexdigit()));
    let (ok, said) = verify_cli(&app);
    assert!(ok, "{said}");
    assert!(said.contains("audit trail intact"), "{said}");

    // Only settings administrators may verify.
    let key = app.full_key().await;
    let resp = app.gql_as(&key, VERIFY, json!({})).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let staff = app.staff_session().await;
    let resp = app.gql_as(&staff, VERIFY, json!({})).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
}

/// A second server process on the same database writes at the same time as this one: the
/// two take turns at the chain's head (PostgreSQL: an advisory lock; SQLite: its write lock).
#[tokio::test]
async fn two_servers_writing_at_once_keep_one_unbroken_chain() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let other = app.spawn_process();
    let create = |base: String, i: usize| {
        let key = key.clone();
        let body = json!({
            "query": "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id firstName } } }",
            "variables": { "i": {
                "clientId": app.fx.client_a, "locationId": app.fx.loc_a1,
                "externalPatientId": format!("TW-{i}"), "firstName": "Twin"
            } }
        });
        let http = app.http.clone();
        async move {
            let resp: Value = http
                .post(format!("{base}/graphql"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .expect("answered")
                .json()
                .await
                .expect("JSON");
            resp
        }
    };
    let writes = (0..40).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.base.clone()
        };
        create(base, i)
    });
    for resp in futures_util::future::join_all(writes).await {
        assert!(codes(&resp).is_empty(), "{resp}");
    }
    drop(other);
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM audit_chain").await,
        scalar(&app, "SELECT count(*) FROM audit_events").await
    );
}

#[tokio::test]
async fn a_changed_event_is_found_and_named() {
    let app = spawn_app().await;
    traffic(&app).await;
    let at = 7;
    let id = event_at(&app, at).await;
    unlock(&app).await;
    tamper(
        &app,
        "UPDATE audit_events SET actor_label = 'someone else' WHERE id = ?",
        id,
    )
    .await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["eventsChecked"], at - 1);
    assert_eq!(found["brokenAt"]["position"], at);
    assert_eq!(found["brokenAt"]["eventId"], id.to_string());
    assert_eq!(found["brokenAt"]["problem"], "EVENT_CHANGED");
    let (ok, said) = verify_cli(&app);
    assert!(!ok, "verify must fail: {said}");
    assert!(
        said.contains(&format!("broken at link {at} (event {id})"))
            && said.contains("EVENT_CHANGED"),
        "{said}"
    );
    // Writes go on, and are linked after the break; the break is still reported first.
    let key = app.full_key().await;
    app.patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert_eq!(verification(&app).await["brokenAt"]["position"], at);
}

#[tokio::test]
async fn a_deleted_event_is_found_and_named() {
    let app = spawn_app().await;
    traffic(&app).await;
    let at = 5;
    let id = event_at(&app, at).await;
    unlock(&app).await;
    tamper(&app, "DELETE FROM audit_events WHERE id = ?", id).await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["brokenAt"]["position"], at);
    assert_eq!(found["brokenAt"]["eventId"], id.to_string());
    assert_eq!(found["brokenAt"]["problem"], "EVENT_MISSING");
    let (ok, said) = verify_cli(&app);
    assert!(!ok && said.contains("EVENT_MISSING"), "{said}");
}

#[tokio::test]
async fn reordered_or_removed_links_are_found() {
    let app = spawn_app().await;
    traffic(&app).await;
    unlock(&app).await;
    let db = app.store().conn();
    // Two events swap places.
    for sql in [
        "UPDATE audit_chain SET seq = -1 WHERE seq = 4",
        "UPDATE audit_chain SET seq = 4 WHERE seq = 6",
        "UPDATE audit_chain SET seq = 6 WHERE seq = -1",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["brokenAt"]["position"], 4);
    assert_eq!(found["brokenAt"]["problem"], "LINK_MISMATCH");
    // Put back, the chain is intact again: verification recomputes, it remembers nothing.
    for sql in [
        "UPDATE audit_chain SET seq = -1 WHERE seq = 4",
        "UPDATE audit_chain SET seq = 4 WHERE seq = 6",
        "UPDATE audit_chain SET seq = 6 WHERE seq = -1",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
    assert_eq!(verification(&app).await["intact"], true);
    // A link and its event removed together leave a gap.
    let id = event_at(&app, 9).await;
    if backend() == Backend::Sqlite {
        db.execute_unprepared("DROP TRIGGER audit_chain_no_delete")
            .await
            .unwrap();
    }
    tamper(&app, "DELETE FROM audit_events WHERE id = ?", id).await;
    tamper(&app, "DELETE FROM audit_chain WHERE event_id = ?", id).await;
    let found = verification(&app).await;
    assert_eq!(found["brokenAt"]["position"], 9, "{found}");
    assert_eq!(found["brokenAt"]["problem"], "LINK_MISSING");
    assert_eq!(found["brokenAt"]["eventId"], Value::Null);
}

/// Upgrading links the events stored before the chain existed, oldest first (PostgreSQL in
/// the migration, SQLite when the store is opened), and new ones follow them.
#[tokio::test]
async fn events_stored_before_the_chain_existed_are_linked_on_upgrade() {
    use migration::MigratorTrait;
    let app = spawn_app().await;
    traffic(&app).await;
    let url = app
        .settings()
        .database
        .url
        .as_ref()
        .expect("a database URL");
    let db = sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(url))
        .await
        .expect("connecting");
    migration::Migrator::down(&db, Some(1))
        .await
        .expect("back to before the chain");
    let events = scalar(&app, "SELECT count(*) FROM audit_events").await;
    app.store().migrate().await.expect("upgrading");
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM audit_chain").await,
        events
    );
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    let key = app.full_key().await;
    app.patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert!(found["eventsChecked"].as_i64().unwrap() > events);
}
