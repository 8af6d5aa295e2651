//! The audit trail is a hash chain: every event is linked in the transaction that stores it
//! (a link holds the events one transaction or statement stored), by every write path, on both
//! backends and from two servers at once; `auditVerification` and `switchboard audit verify`
//! prove it intact, and name the first link (and the event, when it can be told) where an event
//! was changed, deleted or moved by someone who went around the application (triggers
//! disabled).

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use switchboard_tests::{Backend, TestApp, backend, codes, data, spawn_app};

const VERIFY: &str = "{ auditVerification { intact eventsChecked linksChecked headHash \
     verifiedAt brokenAt { position eventId eventIds problem message } } }";

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

/// The ids of the events the link at `seq` holds, in its order.
async fn events_of(app: &TestApp, seq: i64) -> Vec<uuid::Uuid> {
    let row = app
        .store()
        .conn()
        .query_one_raw(Statement::from_string(
            app.store().backend(),
            format!("SELECT event_ids FROM audit_links WHERE seq = {seq}"),
        ))
        .await
        .expect("reading the chain")
        .expect("a link");
    serde_json::from_str(&row.try_get_by_index::<String>(0).expect("a list")).expect("ids")
}

/// How many events the links hold, those before `seq` when given.
async fn linked(app: &TestApp, before: Option<i64>) -> i64 {
    let length = match backend() {
        Backend::Postgres => "json_array_length(event_ids::json)",
        Backend::Sqlite => "json_array_length(event_ids)",
    };
    let below = before.unwrap_or(i64::MAX);
    scalar(
        app,
        &format!("SELECT coalesce(sum({length}), 0) FROM audit_links WHERE seq < {below}"),
    )
    .await
}

/// The first link whose events `wanted` accepts, and its events. Several: a request that read
/// patients and their tests stores two events at once; one: an update of its own.
async fn first_link(app: &TestApp, wanted: impl Fn(usize) -> bool) -> (i64, Vec<uuid::Uuid>) {
    let links = scalar(app, "SELECT count(*) FROM audit_links").await;
    for seq in 1..=links {
        let held = events_of(app, seq).await;
        if wanted(held.len()) {
            return (seq, held);
        }
    }
    panic!("no such link");
}

/// A connection to the test's database of its own, outside the server's pools.
async fn session(app: &TestApp) -> sea_orm::DatabaseConnection {
    let url = app
        .settings()
        .database
        .url
        .as_ref()
        .expect("a database URL");
    sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(url))
        .await
        .expect("connecting")
}

/// `sql` with `values` bound, its `?` numbered on PostgreSQL.
fn bound(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let backend = app.store().backend();
    let mut numbered = String::with_capacity(sql.len());
    for (n, part) in sql.split('?').enumerate() {
        if n > 0 {
            match backend {
                DbBackend::Postgres => numbered.push_str(&format!("${n}")),
                _ => numbered.push('?'),
            }
        }
        numbered.push_str(part);
    }
    Statement::from_sql_and_values(backend, numbered, values)
}

/// Runs `sql` with `id` bound, as someone with the database's own rights would.
async fn tamper(app: &TestApp, sql: &str, id: uuid::Uuid) {
    app.store()
        .conn()
        .execute_raw(bound(app, sql, vec![id.into()]))
        .await
        .expect(sql);
}

/// What an attacker with the database's owner rights does first: switch off the triggers
/// that keep the trail and the chain append-only.
async fn unlock(app: &TestApp) {
    let statements: &[&str] = match backend() {
        Backend::Postgres => &[
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
            "ALTER TABLE audit_links DISABLE TRIGGER audit_links_no_change",
        ],
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
            "DROP TRIGGER audit_links_no_update",
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
    // Patients and their tests: one request's two events, stored together.
    let list = app
        .gql_as(
            &key,
            "query($c:ID!){ patients(first: 5, filter: { clientId: $c }){ nodes { id tests { id } } } }",
            json!({ "c": app.fx.client_a }),
        )
        .await;
    for resp in reads.iter().chain(&updates).chain([&list]) {
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
    let links = scalar(&app, "SELECT count(*) FROM audit_links").await;
    assert!(events > 30, "the traffic was audited: {events}");
    assert_eq!(linked(&app, None).await, events, "every event is in a link");
    assert!(
        links > 8 && links < events,
        "{links} links of {events} events"
    );
    assert_eq!(
        scalar(&app, "SELECT max(seq) FROM audit_links").await,
        links,
        "places 1 to n, no gaps"
    );
    // Checked: every event and link before the verification ran (it may itself add none).
    assert!(
        found["eventsChecked"].as_i64().unwrap() >= events,
        "{found}"
    );
    assert!(found["linksChecked"].as_i64().unwrap() >= links, "{found}");
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

/// A second server process on the same database writes and reads at the same time as this
/// one: the two take turns at the chain's head (PostgreSQL: an advisory lock; SQLite: its
/// write lock). On SQLite each process's read-audit writer links after the head it last
/// wrote, which the other's writes keep moving: its link is then refused and made again
/// after the head read afresh, and no read goes unanswered.
#[tokio::test]
async fn two_servers_writing_at_once_keep_one_unbroken_chain() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let read = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let other = app.spawn_process();
    let request = |base: String, i: usize| {
        let key = key.clone();
        let body = if i % 4 == 3 {
            json!({
                "query": "query($id:ID!){ patient(id:$id){ id firstName } }",
                "variables": { "id": read }
            })
        } else {
            json!({
                "query": "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id firstName } } }",
                "variables": { "i": {
                    "clientId": app.fx.client_a, "locationId": app.fx.loc_a1,
                    "externalPatientId": format!("TW-{i}"), "firstName": "Twin"
                } }
            })
        };
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
    let writes = (0..80).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.base.clone()
        };
        request(base, i)
    });
    for resp in futures_util::future::join_all(writes).await {
        assert!(codes(&resp).is_empty(), "{resp}");
        assert_ne!(data(&resp), &Value::Null, "{resp}");
    }
    drop(other);
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert_eq!(
        linked(&app, None).await,
        scalar(&app, "SELECT count(*) FROM audit_events").await
    );
}

/// Reads and writes in turn: each write moves the chain's head on past what the read-audit
/// writer last linked (on SQLite the head its lock remembers), and every read is still
/// answered, its event linked once, after the write's.
#[tokio::test]
async fn reads_are_linked_after_a_head_that_writes_moved_on() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let read = "query($id:ID!){ patient(id:$id){ id } }";
    let update = "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"Moved\" }){ patient { id } } }";
    for document in [read, update, read, update, read, read] {
        let resp = app.gql_as(&key, document, json!({ "id": id })).await;
        assert!(codes(&resp).is_empty(), "{resp}");
    }
    assert_eq!(app.audit_rows_for(&id).await, 7, "the create and the six");
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert_eq!(
        linked(&app, None).await,
        scalar(&app, "SELECT count(*) FROM audit_events").await
    );
}

/// A new event, a copy of the first but for its id (bound).
const COPY_EVENT: &str = "INSERT INTO audit_events (id, occurred_at, actor_kind, actor_id, \
     actor_label, action, operation, record_type, record_ids, fields) SELECT ?, occurred_at, \
     actor_kind, actor_id, actor_label, action, operation, record_type, record_ids, fields \
     FROM audit_events LIMIT 1";

/// PostgreSQL keeps a trigger's plan for as long as its session lives, and a plan made while
/// the chain was short scanned the whole of it at every later link. The trigger finds the
/// head by its index, in a session whose first link this is, on a chain of a few links whose
/// statistics say so.
#[tokio::test]
async fn the_chain_trigger_finds_the_head_by_its_index() {
    if backend() != Backend::Postgres {
        return; // SQLite reads the head by its rowid, planned afresh (`audit_chain`).
    }
    let app = spawn_app().await;
    app.full_key().await;
    // A session of its own, so that the trigger is planned now.
    let session = session(&app).await;
    // Statistics of a short chain, as autovacuum or an import's ANALYZE leaves them.
    session
        .execute_unprepared("ANALYZE audit_links")
        .await
        .unwrap();
    let txn = sea_orm::TransactionTrait::begin(&session).await.unwrap();
    for _ in 0..3 {
        txn.execute_raw(bound(&app, COPY_EVENT, vec![uuid::Uuid::now_v7().into()]))
            .await
            .expect(COPY_EVENT);
    }
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables \
             WHERE relname = 'audit_links'",
        ))
        .await
        .unwrap()
        .expect("the chain's table");
    let (seq, idx): (i64, i64) = (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
    );
    assert_eq!(seq, 0, "the chain was scanned");
    assert!(idx >= 3, "{idx} index scans for three links");
    txn.commit().await.unwrap();
    assert_eq!(verification(&app).await["intact"], true);
}

/// PostgreSQL: a transaction that stores audit events holds the chain's lock until it ends, so
/// its commit does not wait for the disk (`m20261212_000001_audit_link_unflushed`): the answer
/// to the write waits for the flush afterwards, with the lock released. A transaction that
/// stores none commits as configured.
#[tokio::test]
async fn a_transaction_that_stores_events_does_not_wait_for_its_flush_under_the_lock() {
    if backend() != Backend::Postgres {
        return; // SQLite's commits in WAL mode do not flush (`synchronous = NORMAL`).
    }
    let app = spawn_app().await;
    app.full_key().await;
    let session = session(&app).await;
    async fn commits(txn: &sea_orm::DatabaseTransaction) -> String {
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('synchronous_commit')",
            ))
            .await
            .unwrap()
            .expect("a setting");
        row.try_get_by_index(0).unwrap()
    }
    let txn = sea_orm::TransactionTrait::begin(&session).await.unwrap();
    txn.execute_unprepared("UPDATE clients SET name = name")
        .await
        .unwrap();
    assert_eq!(commits(&txn).await, "on", "a change without events");
    txn.execute_raw(bound(&app, COPY_EVENT, vec![uuid::Uuid::now_v7().into()]))
        .await
        .expect(COPY_EVENT);
    assert_eq!(commits(&txn).await, "off", "a change with its event");
    txn.commit().await.unwrap();
    let txn = sea_orm::TransactionTrait::begin(&session).await.unwrap();
    assert_eq!(commits(&txn).await, "on", "the next transaction");
    txn.rollback().await.unwrap();
    assert_eq!(verification(&app).await["intact"], true);
}

async fn label_of(app: &TestApp, id: uuid::Uuid) -> String {
    let sql = "SELECT actor_label FROM audit_events WHERE id = ?";
    let row = app
        .store()
        .conn()
        .query_one_raw(bound(app, sql, vec![id.into()]))
        .await
        .expect(sql)
        .expect("the event");
    row.try_get_by_index::<String>(0).expect("a label")
}

async fn set_label(app: &TestApp, id: uuid::Uuid, label: &str) {
    let sql = "UPDATE audit_events SET actor_label = ? WHERE id = ?";
    app.store()
        .conn()
        .execute_raw(bound(app, sql, vec![label.into(), id.into()]))
        .await
        .expect(sql);
}

/// A changed event is found in its link. A link of one event names it; in a link of several
/// the hash cannot tell which, and the answer lists the link's events.
#[tokio::test]
async fn a_changed_event_is_found_and_named() {
    let app = spawn_app().await;
    traffic(&app).await;
    let (several, held) = first_link(&app, |n| n > 1).await;
    let (single, alone) = first_link(&app, |n| n == 1).await;
    let alone = alone[0];
    unlock(&app).await;
    for (at, id, named) in [(several, held[1], false), (single, alone, true)] {
        let label = label_of(&app, id).await;
        set_label(&app, id, "someone else").await;
        let found = verification(&app).await;
        assert_eq!(found["intact"], false, "{found}");
        assert_eq!(found["linksChecked"], at - 1);
        assert_eq!(found["eventsChecked"], linked(&app, Some(at)).await);
        assert_eq!(found["brokenAt"]["position"], at);
        assert_eq!(found["brokenAt"]["problem"], "EVENT_CHANGED");
        let ids: Vec<String> = events_of(&app, at)
            .await
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found["brokenAt"]["eventIds"], json!(ids), "{found}");
        let (ok, said) = verify_cli(&app);
        assert!(!ok, "verify must fail: {said}");
        assert!(said.contains("EVENT_CHANGED"), "{said}");
        if named {
            assert_eq!(found["brokenAt"]["eventId"], id.to_string());
            assert!(
                said.contains(&format!("broken at link {at} (event {id})")),
                "{said}"
            );
        } else {
            assert_eq!(found["brokenAt"]["eventId"], Value::Null);
            assert!(
                said.contains(&format!("broken at link {at} (one of its events: "))
                    && said.contains(&id.to_string()),
                "{said}"
            );
        }
        // Put back, the chain is intact again: verification recomputes, it remembers nothing.
        set_label(&app, id, &label).await;
        assert_eq!(verification(&app).await["intact"], true);
    }
    // Writes go on after a break, linked after it; the break is still the one reported.
    set_label(&app, alone, "someone else").await;
    let key = app.full_key().await;
    app.patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert_eq!(verification(&app).await["brokenAt"]["position"], single);
}

#[tokio::test]
async fn a_deleted_event_is_found_and_named() {
    let app = spawn_app().await;
    traffic(&app).await;
    let (at, held) = first_link(&app, |n| n > 1).await;
    let id = held[held.len() - 1];
    unlock(&app).await;
    tamper(&app, "DELETE FROM audit_events WHERE id = ?", id).await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["brokenAt"]["position"], at);
    assert_eq!(found["brokenAt"]["eventId"], id.to_string());
    assert_eq!(found["brokenAt"]["problem"], "EVENT_MISSING");
    let (ok, said) = verify_cli(&app);
    assert!(!ok && said.contains("EVENT_MISSING"), "{said}");
    // The last event of the head link deleted: new events are still linked after it.
    let links = scalar(&app, "SELECT count(*) FROM audit_links").await;
    let head = events_of(&app, links).await;
    tamper(
        &app,
        "DELETE FROM audit_events WHERE id = ?",
        head[head.len() - 1],
    )
    .await;
    let key = app.full_key().await;
    app.patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert!(scalar(&app, "SELECT count(*) FROM audit_links").await > links);
    assert_eq!(
        linked(&app, None).await - 2,
        scalar(&app, "SELECT count(*) FROM audit_events").await,
        "every event linked once (two were deleted)"
    );
}

/// Inserts a copy of an event with id `id` around the application: on PostgreSQL with the
/// chain's trigger off; SQLite links in the application, so there the row goes in from
/// outside it.
async fn insert_around(app: &TestApp, id: uuid::Uuid) {
    const COLUMNS: &str = "occurred_at, actor_kind, actor_id, actor_label, \
         actor_on_behalf_of, actor_role, action, operation, operation_name, record_type, \
         record_ids, fields, ip";
    let copy = format!(
        "INSERT INTO audit_events (id, {COLUMNS}) SELECT ?, {COLUMNS} FROM audit_events LIMIT 1"
    );
    if backend() == Backend::Postgres {
        let sql = "ALTER TABLE audit_events DISABLE TRIGGER audit_events_link";
        app.store().conn().execute_unprepared(sql).await.expect(sql);
    }
    tamper(app, &copy, id).await;
}

/// An event inserted around the application, with the chain's trigger off, is in no link;
/// the application's later writes and reads link their own events, never it, so it is still
/// found after them.
#[tokio::test]
async fn an_event_inserted_around_the_chain_is_found() {
    let app = spawn_app().await;
    traffic(&app).await;
    let id = uuid::Uuid::now_v7();
    insert_around(&app, id).await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["brokenAt"]["problem"], "EVENT_UNLINKED", "{found}");
    assert_eq!(found["brokenAt"]["eventId"], id.to_string());
    let (ok, said) = verify_cli(&app);
    assert!(!ok && said.contains("EVENT_UNLINKED"), "{said}");
    assert!(said.contains(&id.to_string()), "{said}");
    // Nor does an upgrade link it, though it is now the last event: only the upgrades that
    // build the chain link unlinked events (`migration::builds_the_chain`).
    use migration::MigratorTrait;
    migration::Migrator::down(&session(&app).await, Some(1))
        .await
        .expect("back one migration");
    app.store().migrate().await.expect("upgrading");
    let found = verification(&app).await;
    assert_eq!(found["brokenAt"]["problem"], "EVENT_UNLINKED", "{found}");
    assert_eq!(found["brokenAt"]["eventId"], id.to_string(), "{found}");
    if backend() == Backend::Postgres {
        let sql = "ALTER TABLE audit_events ENABLE TRIGGER audit_events_link";
        app.store().conn().execute_unprepared(sql).await.expect(sql);
    }
    let links = scalar(&app, "SELECT count(*) FROM audit_links").await;
    // A write (on SQLite, its group commit), a write in a transaction of its own and a read.
    let key = app.full_key().await;
    let patient = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    for document in [
        "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"After\" }){ patient { id } } }",
        "query($id:ID!){ patient(id:$id){ id } }",
    ] {
        data(&app.gql_as(&key, document, json!({ "id": patient })).await);
    }
    assert!(
        scalar(&app, "SELECT count(*) FROM audit_links").await > links,
        "the later events were linked"
    );
    let found = verification(&app).await;
    assert_eq!(found["brokenAt"]["problem"], "EVENT_UNLINKED", "{found}");
    assert_eq!(found["brokenAt"]["eventId"], id.to_string(), "{found}");
}

/// Rewrites the link at `seq` to list `held`, with the hash those events give after its
/// previous hash: what an attacker who knows the hashing does.
async fn rewrite_link(app: &TestApp, seq: i64, held: &[uuid::Uuid]) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.store().conn();
    let prev = entity::audit_link::Entity::find_by_id(seq)
        .one(db)
        .await
        .expect("reading the chain")
        .expect("the link")
        .prev_hash;
    let events: std::collections::HashMap<uuid::Uuid, entity::audit_event::Model> =
        entity::audit_event::Entity::find()
            .filter(entity::audit_event::Column::Id.is_in(held.iter().copied()))
            .all(db)
            .await
            .expect("reading the events")
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
    let hash =
        switchboard::store::audit_chain::link_hash(&prev, seq, held.iter().map(|id| &events[id]));
    let rewrite = bound(
        app,
        "UPDATE audit_links SET event_ids = ?, hash = ? WHERE seq = ?",
        vec![
            serde_json::to_string(held).unwrap().into(),
            hash.into(),
            seq.into(),
        ],
    );
    db.execute_raw(rewrite).await.expect("rewriting the link");
}

/// An attacker who inserted an event around the chain and rewrote the last link to list an
/// earlier event again (its hash recomputed), so that as many events are linked as stored,
/// is found: the event listed twice is named. The same for an event listed twice by the
/// same link.
#[tokio::test]
async fn an_event_listed_twice_is_found() {
    let app = spawn_app().await;
    traffic(&app).await;
    unlock(&app).await;
    insert_around(&app, uuid::Uuid::now_v7()).await;
    let last = scalar(&app, "SELECT max(seq) FROM audit_links").await;
    let again = events_of(&app, 1).await[0];
    let own = events_of(&app, last).await;
    rewrite_link(&app, last, &[own.clone(), vec![again]].concat()).await;
    assert_eq!(
        linked(&app, None).await,
        scalar(&app, "SELECT count(*) FROM audit_events").await,
        "the count of linked events hides the inserted one"
    );
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(
        found["brokenAt"]["problem"], "EVENT_LINKED_TWICE",
        "{found}"
    );
    assert_eq!(found["brokenAt"]["position"], last, "{found}");
    assert_eq!(found["brokenAt"]["eventId"], again.to_string(), "{found}");
    assert_eq!(found["linksChecked"], last - 1, "{found}");
    let (ok, said) = verify_cli(&app);
    assert!(!ok && said.contains("EVENT_LINKED_TWICE"), "{said}");
    // Its own first event listed a second time instead.
    rewrite_link(&app, last, &[own.clone(), vec![own[0]]].concat()).await;
    let found = verification(&app).await;
    assert_eq!(
        found["brokenAt"]["problem"], "EVENT_LINKED_TWICE",
        "{found}"
    );
    assert_eq!(found["brokenAt"]["position"], last, "{found}");
    assert_eq!(found["brokenAt"]["eventId"], own[0].to_string(), "{found}");
}

#[tokio::test]
async fn reordered_or_removed_links_are_found() {
    let app = spawn_app().await;
    traffic(&app).await;
    unlock(&app).await;
    let db = app.store().conn();
    // Two events swap places.
    for sql in [
        "UPDATE audit_links SET seq = -1 WHERE seq = 4",
        "UPDATE audit_links SET seq = 4 WHERE seq = 6",
        "UPDATE audit_links SET seq = 6 WHERE seq = -1",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
    let found = verification(&app).await;
    assert_eq!(found["intact"], false, "{found}");
    assert_eq!(found["brokenAt"]["position"], 4);
    assert_eq!(found["brokenAt"]["problem"], "LINK_MISMATCH");
    // Put back, the chain is intact again: verification recomputes, it remembers nothing.
    for sql in [
        "UPDATE audit_links SET seq = -1 WHERE seq = 4",
        "UPDATE audit_links SET seq = 4 WHERE seq = 6",
        "UPDATE audit_links SET seq = 6 WHERE seq = -1",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }
    assert_eq!(verification(&app).await["intact"], true);
    // A link and its events removed together leave a gap.
    if backend() == Backend::Sqlite {
        db.execute_unprepared("DROP TRIGGER audit_links_no_delete")
            .await
            .unwrap();
    }
    for id in events_of(&app, 9).await {
        tamper(&app, "DELETE FROM audit_events WHERE id = ?", id).await;
    }
    db.execute_unprepared("DELETE FROM audit_links WHERE seq = 9")
        .await
        .unwrap();
    let found = verification(&app).await;
    assert_eq!(found["brokenAt"]["position"], 9, "{found}");
    assert_eq!(found["brokenAt"]["problem"], "LINK_MISSING");
    assert_eq!(found["brokenAt"]["eventId"], Value::Null);
}

/// How many of the latest migrations to roll back to undo `name` as well.
fn undoing(name: &str) -> u32 {
    use migration::MigratorTrait;
    let all = migration::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == name)
        .expect("a known migration");
    (all.len() - at) as u32
}

/// Upgrading links the events stored before the chain existed, oldest first (PostgreSQL in
/// the migration, SQLite when the store is opened), and new ones follow them. The links made
/// one per event before links held batches are carried over, hashes and all.
#[tokio::test]
async fn events_stored_before_the_chain_existed_are_linked_on_upgrade() {
    use migration::MigratorTrait;
    let app = spawn_app().await;
    traffic(&app).await;
    let db = session(&app).await;
    // Back to a link per event (the links' migration and those after it, which tune their
    // trigger and their commits): on PostgreSQL every event is linked again, one by one.
    migration::Migrator::down(&db, Some(undoing("m20261210_000001_audit_links")))
        .await
        .expect("back to links of one event");
    let events = scalar(&app, "SELECT count(*) FROM audit_events").await;
    if backend() == Backend::Postgres {
        assert_eq!(
            scalar(&app, "SELECT count(*) FROM audit_chain").await,
            events
        );
    }
    app.store().migrate().await.expect("upgrading");
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert_eq!(found["eventsChecked"], events, "{found}");
    if backend() == Backend::Postgres {
        assert_eq!(found["linksChecked"], events, "carried over: {found}");
    }
    // And the chain's own migration as well.
    migration::Migrator::down(&db, Some(undoing("m20261209_000001_audit_chain")))
        .await
        .expect("back to before the chain");
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM seaql_migrations WHERE version LIKE '%audit_chain'"
        )
        .await,
        0
    );
    app.store().migrate().await.expect("upgrading");
    assert_eq!(linked(&app, None).await, events);
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    let key = app.full_key().await;
    app.patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let found = verification(&app).await;
    assert_eq!(found["intact"], true, "{found}");
    assert!(found["eventsChecked"].as_i64().unwrap() > events);
}

/// A batch larger than one INSERT (the read-audit writer takes up to 2,000 events at a time
/// under load) is stored whole, in one transaction on SQLite and one statement on PostgreSQL,
/// with every value as given: verifying reads each event back and hashes it again.
#[tokio::test]
async fn a_batch_larger_than_one_insert_is_stored_whole_and_verifies() {
    use switchboard::domain::actor::{ActorKind, Who};
    use switchboard::store::audit::NewAuditEvent;

    let app = spawn_app().await;
    let before = scalar(&app, "SELECT COUNT(*) FROM audit_events").await;
    let who = Who::new(
        ActorKind::ApiKey,
        Some(uuid::Uuid::now_v7()),
        "a \"quoted\" key",
    );
    let events: Vec<NewAuditEvent> = (0..1_001)
        .map(|i| NewAuditEvent {
            occurred_at: chrono::Utc::now(),
            who: who.clone(),
            action: "READ".into(),
            operation: "query".into(),
            operation_name: (i % 2 == 0).then(|| format!("Page \\ {i}")),
            record_type: "patient".into(),
            // A page of patients with their tests records 300 ids; most reads record one.
            record_ids: (0..if i % 100 == 0 { 300 } else { 1 })
                .map(|_| uuid::Uuid::now_v7())
                .collect::<Vec<_>>()
                .into(),
            fields: vec!["firstName".into(), "dateOfBirth".into()],
            ip: (i % 3 == 0).then(|| "2001:db8::1".into()),
        })
        .collect();
    app.store()
        .insert_audit_events(&events)
        .await
        .expect("the batch is stored");
    let stored = scalar(&app, "SELECT COUNT(*) FROM audit_events").await - before;
    assert_eq!(stored, 1_001);
    let verified = verification(&app).await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(
        verified["eventsChecked"].as_i64().unwrap() >= 1_001,
        "{verified}"
    );
}
