use serde_json::json;
use switchboard_tests::{TestApp, codes, spawn_app};

#[tokio::test]
async fn reads_and_writes_of_patient_data_are_audited_with_the_fields_disclosed() {
    let mut app = spawn_app().await;
    let (key_id, key) = app
        .create_key_with(json!({ "name": "auditee", "scopes": ["patients:create", "patients:read", "patients.demographics:read", "patients.demographics:write"], "environment": "SANDBOX" }))
        .await;
    let id = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "firstName": "Ada" }),
        )
        .await;
    let resp = app
        .post(
            Some(&key),
            json!({ "query": "query Chart($id:ID!){ patient(id:$id){ firstName email } again: patient(id:$id){ firstName } }", "operationName": "Chart", "variables": { "id": id } }),
        )
        .await
        .1;
    assert_eq!(resp["data"]["patient"]["firstName"], "Ada");
    let mine = app.audit_events(json!({ "actorId": key_id })).await;
    let write = mine
        .iter()
        .find(|e| e["action"] == "CREATE")
        .expect("create audited");
    assert_eq!(write["recordIds"], json!([id]));
    assert_eq!(write["fields"], json!(["firstName"]));
    assert_eq!(write["actorKind"], "API_KEY");
    assert_eq!(write["ip"], "127.0.0.1");
    let read = mine
        .iter()
        .find(|e| e["action"] == "READ" && e["operationName"] == "Chart")
        .expect("read audited");
    // What executed is recorded from the document; the caller's name is only a label.
    assert_eq!(read["operation"], "query patient");
    // Read twice in one request, listed once.
    assert_eq!(read["recordIds"], json!([id]));
    // Only what was served counts as disclosed: email was refused.
    assert_eq!(read["fields"], json!(["firstName"]));
    // The trail survives a restart.
    app.restart().await;
    let after = app.audit_events(json!({ "recordId": id })).await;
    assert!(after.len() >= 2);
}

#[tokio::test]
async fn the_audit_trail_is_for_settings_admins_only() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let resp = app
        .gql_as(&key, "{ auditEvents { nodes { action } } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    // Settings changes are audited too.
    let all = app.audit_events(json!({ "recordType": "api_key" })).await;
    assert!(
        all.iter()
            .any(|e| e["action"] == "CREATE" && e["actorKind"] == "ADMIN")
    );
}

/// A read of one patient's id: the smallest read the trail records.
const READ_ID: &str = "query($id:ID!){ patient(id:$id){ id } }";

/// A read is in the trail before its answer leaves: a server killed with SIGKILL straight
/// after a burst of reads has recorded every one it answered. (Reads used to be written in
/// batches after their answers, and this lost all 40.)
#[tokio::test]
async fn every_answered_read_is_audited_even_when_the_server_is_killed_right_after() {
    const READS: usize = 40;
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert_eq!(
        app.audit_rows_for(&id).await,
        1,
        "the create, in its transaction"
    );
    // In this process: the event is in the trail when the answer arrives (on SQLite in the
    // read journal, and in the table before the trail is read).
    let resp = app.gql_as(&key, READ_ID, json!({ "id": id })).await;
    assert_eq!(resp["data"]["patient"]["id"], id.as_str(), "{resp}");
    assert_eq!(
        app.audit_rows_for(&id).await,
        2,
        "audited before it was answered"
    );
    // Another server process on the same database, killed as soon as the last answer is in.
    let server = app.spawn_process();
    read_at_once(&app, &server.base, &key, &id, READS).await;
    drop(server); // SIGKILL: no shutdown, no flush
    assert_eq!(
        app.audit_rows_for(&id).await,
        2 + READS,
        "every answered read is in the trail"
    );
}

/// `reads` reads of patient `id` sent at once to the server at `base`, each answered.
async fn read_at_once(app: &TestApp, base: &str, key: &str, id: &str, reads: usize) {
    let sent = (0..reads).map(|_| {
        app.http
            .post(format!("{base}/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": READ_ID, "variables": { "id": id } }))
            .send()
    });
    for resp in futures_util::future::join_all(sent).await {
        let body: serde_json::Value = resp.expect("answered").json().await.expect("JSON");
        assert_eq!(body["data"]["patient"]["id"], id, "{body}");
    }
}

/// The reads a killed server answered are stored by the next server to start on its database
/// (on SQLite from the read journal it left; on PostgreSQL they were committed before their
/// answers), without another server reading the trail first, and the chain then verifies.
#[tokio::test]
async fn a_killed_servers_answered_reads_are_stored_by_the_next_server_to_start() {
    use sea_orm::{ConnectionTrait, Statement};
    const READS: usize = 30;
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    // Counted in the table itself: `audit_rows_for` would first take the journal in.
    let stored = || async {
        let sql = format!("SELECT COUNT(*) FROM audit_events WHERE record_ids LIKE '%{id}%'");
        let row = app
            .store()
            .conn()
            .query_one_raw(Statement::from_string(app.store().backend(), sql))
            .await
            .expect("counting")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a count") as usize
    };
    let server = app.spawn_process();
    read_at_once(&app, &server.base, &key, &id, READS).await;
    drop(server); // SIGKILL, within the writer's 20 ms of the last answer
    let next = app.spawn_process();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stored().await < 1 + READS {
        assert!(
            std::time::Instant::now() < deadline,
            "the next server stored {} of the {READS} answered reads",
            stored().await - 1
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stored().await, 1 + READS, "each once");
    drop(next);
    let out = app
        .command(&[])
        .args(["audit", "verify"])
        .output()
        .expect("running switchboard audit verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.audit_rows_for(&id).await, 1 + READS);
}

/// When the audit trail cannot be written, a read is refused rather than answered unrecorded;
/// once it can, reads are answered and audited again.
#[tokio::test]
async fn a_read_that_cannot_be_audited_is_not_answered() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "firstName": "Unrecorded" }),
        )
        .await;
    let db = app.store().conn();
    let (refuse, allow) = match switchboard_tests::backend() {
        switchboard_tests::Backend::Postgres => (
            vec![
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'audit refused by the test'; END; $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
            ],
            "DROP TRIGGER refuse_audit ON audit_events",
        ),
        switchboard_tests::Backend::Sqlite => (
            vec![
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
            ],
            "DROP TRIGGER refuse_audit",
        ),
    };
    for sql in refuse {
        db.execute_unprepared(sql).await.expect(sql);
    }
    let read = "query($id:ID!){ patient(id:$id){ id firstName } }";
    let ask = || {
        app.post(
            Some(&key),
            json!({ "query": read, "variables": { "id": id } }),
        )
    };
    // On PostgreSQL the read waits for its commit, so the first is refused. On SQLite a read
    // is answered once its event is in the read journal, and the trail's writer stores it
    // shortly after: the reads answered before that writer finds the table refusing are
    // journaled, and from then on every read is refused until it is stored.
    let journaled = matches!(
        switchboard_tests::backend(),
        switchboard_tests::Backend::Sqlite
    );
    let mut answered_while_refusing = 0;
    let refused = loop {
        let (status, body) = ask().await;
        assert_eq!(status, 200);
        if body["errors"].is_null() {
            assert!(journaled, "answered without its audit: {body}");
            answered_while_refusing += 1;
            assert!(answered_while_refusing < 60, "reads were never refused");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        break body;
    };
    assert_eq!(codes(&refused), vec!["INTERNAL"], "{refused}");
    assert!(refused["data"].is_null(), "{refused}");
    assert!(
        !refused.to_string().contains("Unrecorded") && !refused.to_string().contains("audit"),
        "nothing of the record or of the cause is disclosed: {refused}"
    );
    // Still refused a moment later: the journal does not grow behind a failing trail.
    let (_, again) = ask().await;
    assert_eq!(codes(&again), vec!["INTERNAL"], "{again}");
    // The trail can still be read meanwhile, without the reads not yet stored.
    let shown = app.audit_events(json!({ "recordId": id })).await;
    assert_eq!(shown.len(), 1, "the create: {shown:?}");
    db.execute_unprepared(allow).await.expect(allow);
    // Answered again once the trail can be written (on SQLite once the writer has stored
    // what it holds, which it retries every second).
    let mut tries = 0;
    loop {
        let (_, resp) = ask().await;
        if resp["data"]["patient"]["firstName"] == "Unrecorded" {
            break;
        }
        tries += 1;
        assert!(tries < 60, "reads stayed refused: {resp}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.audit_rows_for(&id).await,
        2 + answered_while_refusing,
        "the create, the reads answered (those journaled before the refusals included); the \
         refused reads left nothing"
    );
}

#[tokio::test]
async fn the_audit_trail_cannot_be_changed_or_deleted() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    assert_eq!(app.audit_rows_for(&id).await, 1);
    // Even with the application's own database access, history cannot be rewritten.
    let db = app.store().conn();
    let rewrite = db
        .execute_unprepared("UPDATE audit_events SET actor_label = 'someone else'")
        .await;
    assert!(rewrite.is_err(), "an audit event was updated");
    let erase = db.execute_unprepared("DELETE FROM audit_events").await;
    assert!(erase.is_err(), "audit events were deleted");
    assert_eq!(app.audit_rows_for(&id).await, 1);
    let mine = app.audit_events(json!({ "recordId": id })).await;
    assert_ne!(mine[0]["actorLabel"], "someone else");
}

/// Reads are audited by a writer of their own while updates run in transactions that read
/// before they write. On SQLite an audit batch committed between an update's read and its
/// write made the update fail (SQLITE_BUSY_SNAPSHOT, answered INTERNAL); every writer now
/// holds the same lock.
#[tokio::test]
async fn audited_reads_beside_updates_fail_nothing() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            app.patient_id(
                &key,
                &app.fx.client_a,
                &app.fx.loc_a1,
                json!({ "firstName": format!("P{i}") }),
            )
            .await,
        );
    }
    let requests = (0..240).map(|i| {
        let id = ids[i % ids.len()].clone();
        let key = key.clone();
        let app = &app;
        async move {
            if i % 2 == 0 {
                app.gql_as(
                    &key,
                    "mutation($id:ID!,$n:String!){ updatePatient(id:$id, input:{ lastName: $n }){ patient { id firstName } } }",
                    json!({ "id": id, "n": format!("L{i}") }),
                )
                .await
            } else {
                app.gql_as(&key, "query($id:ID!){ patient(id:$id){ id firstName } }", json!({ "id": id }))
                    .await
            }
        }
    });
    for resp in futures_util::future::join_all(requests).await {
        assert!(codes(&resp).is_empty(), "{resp}");
    }
}

/// A portal user's events carry their role: a STAFF user reading a patient is not recorded as
/// an administrator; keys have no role.
#[tokio::test]
async fn portal_users_are_recorded_in_their_role() {
    let app = spawn_app().await;
    let (key_id, key) = app
        .create_key_with(json!({ "name": "feed", "scopes": ["patients:create", "patients:read"], "environment": "SANDBOX" }))
        .await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let staff = app.staff_session().await;
    let read = app.gql_as(&staff, READ_ID, json!({ "id": id })).await;
    assert!(codes(&read).is_empty(), "{read}");
    let events = app.audit_events(json!({ "recordId": id })).await;
    let by_staff = events
        .iter()
        .find(|e| e["action"] == "READ")
        .expect("the staff read is audited");
    assert_eq!(by_staff["actorKind"], "ADMIN");
    assert_eq!(by_staff["actorRole"], "STAFF");
    assert_eq!(by_staff["actorLabel"], "staff@example.org");
    let logins = app.audit_events(json!({ "action": "LOGIN" })).await;
    let roles: Vec<&str> = logins
        .iter()
        .filter_map(|e| e["actorRole"].as_str())
        .collect();
    assert!(
        roles.contains(&"STAFF") && roles.contains(&"SYSTEM_ADMINISTRATOR"),
        "{roles:?}"
    );
    let by_key = app.audit_events(json!({ "actorId": key_id })).await;
    assert!(!by_key.is_empty() && by_key.iter().all(|e| e["actorRole"].is_null()));
}

/// "Who read patient X?" in one filter: by the patient's external id (or its id), with a time
/// range, among the events of other patients.
#[tokio::test]
async fn the_trail_is_searched_by_external_id_and_time() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = app
            .patient_id(
                &key,
                &app.fx.client_a,
                &app.fx.loc_a1,
                json!({ "externalPatientId": format!("EXT-{i}") }),
            )
            .await;
        ids.push(id);
    }
    let before_reads = chrono::Utc::now();
    for id in &ids {
        app.gql_as(&key, READ_ID, json!({ "id": id })).await;
    }
    let found = app
        .audit_events(json!({ "externalPatientId": "EXT-3", "action": "READ" }))
        .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["recordIds"], json!([ids[3]]));
    // The create of that patient happened before the reads: outside the range.
    let in_range = app
        .audit_events(json!({ "externalPatientId": "EXT-3", "occurredFrom": before_reads }))
        .await;
    assert!(
        in_range.iter().all(|e| e["action"] == "READ"),
        "{in_range:?}"
    );
    let until = app
        .audit_events(json!({ "recordId": ids[3], "occurredTo": before_reads }))
        .await;
    assert!(
        !until.is_empty() && until.iter().all(|e| e["action"] == "CREATE"),
        "{until:?}"
    );
    // An external id no patient has finds nothing, even combined with a record id.
    assert!(
        app.audit_events(json!({ "externalPatientId": "NOPE" }))
            .await
            .is_empty()
    );
    assert!(
        app.audit_events(json!({ "externalPatientId": "EXT-1", "recordId": ids[3] }))
            .await
            .is_empty()
    );
    // A range that ends before it starts is refused with the field named.
    let resp = app
        .admin(
            "query($f:AuditFilterInput){ auditEvents(filter:$f){ nodes { id } } }",
            json!({ "f": { "occurredFrom": "2026-01-02T00:00:00Z", "occurredTo": "2026-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(
        resp["errors"][0]["extensions"]["field"],
        "filter.occurredTo"
    );
}

/// The filtered events export as CSV or NDJSON, for administrators only; a spreadsheet does
/// not run a caller's label as a formula; the export is itself audited.
#[tokio::test]
async fn the_filtered_trail_exports_as_csv_and_ndjson() {
    let app = spawn_app().await;
    let (_, key) = app
        .create_key_with(json!({ "name": "=HYPERLINK(\"x\")", "scopes": ["patients:create", "patients:read"], "environment": "SANDBOX" }))
        .await;
    let id = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "EXP-1" }),
        )
        .await;
    app.gql_as(&key, READ_ID, json!({ "id": id })).await;
    let get = |token: Option<String>, query: &'static str| {
        let mut request = app.http.get(app.url(&format!("/audit/export?{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let resp = request.send().await.expect("export request");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            (status, headers, resp.text().await.unwrap_or_default())
        }
    };
    let (status, headers, csv) = get(
        Some(app.admin_token.clone()),
        "format=csv&externalPatientId=EXP-1",
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,occurredAt,actorKind,actorRole"));
    assert_eq!(lines.len(), 3, "the create and the read: {csv}");
    assert!(lines.iter().skip(1).all(|l| l.contains(&id)));
    assert!(
        lines.iter().any(|l| l.contains(",READ,")) && lines.iter().any(|l| l.contains(",CREATE,"))
    );
    // The key's name starts with `=`: quoted and prefixed, never a formula.
    assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");

    let (status, headers, ndjson) = get(
        Some(app.admin_token.clone()),
        "format=ndjson&externalPatientId=EXP-1&action=READ",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let rows: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["recordIds"], json!([id]));
    assert_eq!(rows[0]["actorRole"], serde_json::Value::Null);

    // Only administrators; bad input is refused with its field.
    assert_eq!(get(Some(key.clone()), "format=csv").await.0, 403);
    assert_eq!(get(None, "format=csv").await.0, 401);
    // A STAFF user reads patients but not the trail, exported or not.
    let staff = app.staff_session().await;
    let (status, _, body) = get(Some(staff), "format=csv").await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains(&id), "{body}");
    let (status, _, body) = get(Some(app.admin_token.clone()), "format=xml").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("VALIDATION_FAILED"));
    assert_eq!(
        get(Some(app.admin_token.clone()), "recordId=not-a-uuid")
            .await
            .0,
        400
    );

    let exports = app.audit_events(json!({ "action": "EXPORT" })).await;
    assert!(
        exports
            .iter()
            .any(|e| e["fields"] == json!(["externalPatientId"])
                && e["actorRole"] == "SYSTEM_ADMINISTRATOR"),
        "{exports:?}"
    );
}

/// The trail of a time range as NDJSON, from GraphQL and from the command line: the same
/// events, only those of the range; the GraphQL export is itself recorded.
#[tokio::test]
async fn the_trail_of_a_time_range_exports_as_ndjson_from_graphql_and_the_command_line() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let before = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let from = chrono::Utc::now();
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    app.gql_as(&key, READ_ID, json!({ "id": id })).await;
    let to = chrono::Utc::now();
    let range = json!({ "occurredFrom": from.to_rfc3339(), "occurredTo": to.to_rfc3339() });
    let query = "query($f:AuditFilterInput){ auditExport(filter:$f) }";
    let resp = app.admin(query, json!({ "f": range })).await;
    assert!(codes(&resp).is_empty(), "{resp}");
    let ndjson = resp["data"]["auditExport"].as_str().unwrap().to_owned();
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["READ", "CREATE"],
        "newest first, only the range: {ndjson}"
    );
    assert!(lines.iter().all(|e| e["recordIds"] == json!([id])));
    assert!(!ndjson.contains(&before), "outside the range");
    let recorded = app.audit_events(json!({ "action": "EXPORT" })).await;
    assert_eq!(recorded[0]["fields"], json!(["occurredFrom", "occurredTo"]));

    let out = app
        .command(&[])
        .args([
            "audit",
            "export",
            "--from",
            &from.to_rfc3339(),
            "--to",
            &to.to_rfc3339(),
        ])
        .output()
        .expect("switchboard audit export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), ndjson);

    let out = app
        .command(&[])
        .args([
            "audit",
            "export",
            "--from",
            &to.to_rfc3339(),
            "--to",
            &from.to_rfc3339(),
        ])
        .output()
        .expect("switchboard audit export");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to must be after --from"));

    // Administrators of settings only: not staff, not a key with every scope.
    let staff = app.staff_session().await;
    let resp = app.gql_as(&staff, query, json!({ "f": range })).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    let resp = app.gql_as(&key, query, json!({ "f": range })).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"]);
    assert!(
        resp["data"].is_null() || resp["data"]["auditExport"].is_null(),
        "{resp}"
    );
}
