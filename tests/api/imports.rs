//! Batch imports of patients: NDJSON and CSV uploads and GraphQL lists, each row checked as
//! `createPatient` checks one; duplicates and refused rows explained by line; who may start,
//! see and cancel a job; a revoked key stops its job; and a job of 100,000 rows interrupted by
//! `kill -9` and resumed by another process ends with exactly the right patients.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_tests::{TestApp, codes, data};

const JOB: &str =
    "id status format totalRows processed created duplicates failed error startedBy refusedRowsUrl";

async fn upload(
    app: &TestApp,
    base: &str,
    token: Option<&str>,
    client: &str,
    location: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!(
            "{base}/imports/patients?clientId={client}&locationId={location}"
        ))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON answer"))
}

async fn ndjson(app: &TestApp, token: &str, body: &str) -> (u16, Value) {
    upload(
        app,
        &app.base,
        Some(token),
        &app.fx.client_a,
        &app.fx.loc_a1,
        "application/x-ndjson",
        body.as_bytes().to_vec(),
    )
    .await
}

async fn csv_upload(app: &TestApp, token: &str, body: &[u8]) -> (u16, Value) {
    upload(
        app,
        &app.base,
        Some(token),
        &app.fx.client_a,
        &app.fx.loc_a1,
        "text/csv",
        body.to_vec(),
    )
    .await
}

async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app
        .gql_as(
            token,
            &format!("query($id:ID!){{ importJob(id:$id){{ {JOB} }} }}"),
            json!({ "id": id }),
        )
        .await;
    data(&resp)["importJob"].clone()
}

/// The job once it has ended.
async fn finished(app: &TestApp, token: &str, id: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let job = job(app, token, id).await;
        if ["COMPLETED", "CANCELLED", "FAILED"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "still {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refused(app: &TestApp, token: &str, id: &str) -> Vec<(i64, String, Option<String>)> {
    let resp = app
        .gql_as(
            token,
            "query($id:ID!){ importJob(id:$id){ refusedRows(first: 1000){ line code field message } } }",
            json!({ "id": id }),
        )
        .await;
    data(&resp)["importJob"]["refusedRows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
                r["field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn count_in(app: &TestApp, client: &str) -> i64 {
    let resp = app
        .admin(
            "query($c:ID!){ patients(filter:{ clientId: $c }, first: 0){ totalCount } }",
            json!({ "c": client }),
        )
        .await;
    data(&resp)["patients"]["totalCount"].as_i64().unwrap()
}

async fn patient(app: &TestApp, client: &str, external: &str) -> Value {
    let resp = app
        .admin(
            "query($c:ID!,$e:String!){ patients(filter:{ clientId: $c, externalPatientId: $e }){ nodes { id locationId firstName lastName dateOfBirth sex email address diagnoses accountStatus } } }",
            json!({ "c": client, "e": external }),
        )
        .await;
    data(&resp)["patients"]["nodes"][0].clone()
}

#[tokio::test]
async fn an_ndjson_upload_creates_patients_and_explains_every_row_it_refuses() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    app.patient_id(
        &key,
        &app.fx.client_a,
        &app.fx.loc_a1,
        json!({ "externalPatientId": "OLD-1" }),
    )
    .await;
    let rows = [
        /* 1 */ json!({ "externalPatientId": "N-1", "firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1990-02-03", "sex": "FEMALE", "email": "ada@example.com", "diagnoses": ["J45"] }).to_string(),
        /* 2 */ json!({ "externalPatientId": "OLD-1", "firstName": "Again" }).to_string(),
        /* 3 */ json!({ "externalPatientId": "N-1", "firstName": "Twice" }).to_string(),
        /* 4 */ json!({ "externalPatientId": "N-4", "dateOfBirth": "2990-01-01" }).to_string(),
        /* 5 */ json!({ "externalPatientId": "N-5", "shoeSize": 44 }).to_string(),
        /* 6 */ "{ not json".to_owned(),
        /* 7 */ String::new(),
        /* 8 */ json!({ "externalPatientId": "N-8", "locationId": app.fx.loc_a2 }).to_string(),
        /* 9 */ json!({ "externalPatientId": "N-9", "locationId": app.fx.loc_b1 }).to_string(),
        /* 10 */ json!({ "firstName": "No external id" }).to_string(),
        /* 11 */ json!({ "externalPatientId": "has space" }).to_string(),
    ];
    let (status, answer) = ndjson(&app, &key, &rows.join("\n")).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["totalRows"], 10, "the blank line is no row");
    let id = answer["id"].as_str().unwrap().to_owned();
    let done = finished(&app, &key, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(
        (
            &done["processed"],
            &done["created"],
            &done["duplicates"],
            &done["failed"]
        ),
        (&json!(10), &json!(3), &json!(2), &json!(5)),
        "{done}"
    );
    assert_eq!(done["format"], "NDJSON");
    let refusals = refused(&app, &key, &id).await;
    let by_line: Vec<(i64, &str, Option<&str>)> = refusals
        .iter()
        .map(|(l, c, f)| (*l, c.as_str(), f.as_deref()))
        .collect();
    assert_eq!(
        by_line,
        vec![
            (2, "DUPLICATE_PATIENT", Some("externalPatientId")),
            (3, "DUPLICATE_PATIENT", Some("externalPatientId")),
            (4, "INVALID_INPUT", Some("dateOfBirth")),
            (5, "UNREADABLE", None),
            (6, "UNREADABLE", None),
            (9, "INVALID_INPUT", Some("locationId")),
            (11, "INVALID_INPUT", Some("externalPatientId")),
        ]
    );
    // Stored as createPatient stores them.
    let ada = patient(&app, &app.fx.client_a, "N-1").await;
    assert_eq!(ada["firstName"], "Ada");
    assert_eq!(ada["dateOfBirth"], "1990-02-03");
    assert_eq!(ada["accountStatus"], "INVITED");
    assert_eq!(ada["diagnoses"], json!(["J45"]));
    assert_eq!(ada["locationId"], app.fx.loc_a1.as_str());
    let other = patient(&app, &app.fx.client_a, "N-8").await;
    assert_eq!(other["locationId"], app.fx.loc_a2.as_str());
    assert_eq!(
        patient(&app, &app.fx.client_a, "OLD-1").await["firstName"],
        Value::Null,
        "a duplicate changes nothing"
    );
    assert_eq!(count_in(&app, &app.fx.client_a).await, 4);
    assert_eq!(count_in(&app, &app.fx.client_b).await, 0);

    // The refused rows as CSV, with the same credential only.
    let url = app.url(done["refusedRowsUrl"].as_str().unwrap());
    let csv = app.http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("line,code,field,message\n2,DUPLICATE_PATIENT,externalPatientId,"));
    assert_eq!(csv.lines().count(), 8);
    assert!(
        !csv.contains("Again") && !csv.contains("has space"),
        "no row values: {csv}"
    );
    let other_key = app.full_key().await;
    let refused_csv = app
        .http
        .get(&url)
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused_csv.status(), 404);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);

    // One audit event per batch names the patients created; the job's start is audited too.
    let events = app
        .audit_events(json!({ "action": "CREATE", "recordType": "patient" }))
        .await;
    let batch: Vec<&Value> = events
        .iter()
        .filter(|e| e["operation"] == "importPatients")
        .collect();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0]["recordIds"].as_array().unwrap().len(), 3);
    assert_eq!(batch[0]["actorKind"], "API_KEY");
    assert!(
        batch[0]["recordIds"]
            .as_array()
            .unwrap()
            .contains(&ada["id"])
    );
    let started = app
        .audit_events(json!({ "recordType": "import_job" }))
        .await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["operation"], "importPatients");
}

#[tokio::test]
async fn a_csv_upload_is_read_by_its_header_and_its_columns_need_their_scopes() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    let csv = "\u{feff}externalPatientId,firstName,lastName,address,diagnoses,sex\r\n\
               C-1,Ada,\"Lovelace, Countess\",\"12 Long Road\nFlat 3\",J45; E11 ,female\r\n\
               C-2,Bob,,,,\r\n\
               C-3,Too,Few\r\n\
               \r\n\
               C-4,Carol,King,,,robot\r\n";
    let (status, answer) = upload(
        &app,
        &app.base,
        Some(&key),
        &app.fx.client_a,
        &app.fx.loc_a1,
        "text/csv; charset=utf-8",
        csv.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let done = finished(&app, &key, id, Duration::from_secs(30)).await;
    assert_eq!(
        (&done["created"], &done["failed"]),
        (&json!(2), &json!(2)),
        "{done}"
    );
    let refusals = refused(&app, &key, id).await;
    // Line 2's record spans two lines (a quoted line break): the next is line 4.
    assert_eq!(
        refusals,
        vec![
            (5, "UNREADABLE".to_owned(), None),
            (7, "INVALID_INPUT".to_owned(), Some("sex".to_owned())),
        ]
    );
    let ada = patient(&app, &app.fx.client_a, "C-1").await;
    assert_eq!(ada["lastName"], "Lovelace, Countess");
    assert_eq!(ada["address"], "12 Long Road\nFlat 3");
    assert_eq!(ada["diagnoses"], json!(["J45", "E11"]));
    assert_eq!(ada["sex"], "FEMALE");
    assert_eq!(
        patient(&app, &app.fx.client_a, "C-2").await["lastName"],
        Value::Null
    );

    // An unknown column refuses the upload whole, before any row.
    let (status, answer) = csv_upload(&app, &key, b"externalPatientId,shoeSize\nX-1,44\n").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "VALIDATION_FAILED"
    );
    assert!(patient(&app, &app.fx.client_a, "X-1").await.is_null());

    // A column the key may not write refuses the upload before it is read.
    let narrow = app
        .key(&["patients:create", "patients.demographics:write"])
        .await;
    let (status, answer) = csv_upload(
        &app,
        &narrow,
        b"externalPatientId,firstName,email\nX-2,Eve,eve@example.com\n",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    // In NDJSON each row is checked: a row with a field the key may not write is refused.
    let (_, answer) = ndjson(
        &app,
        &narrow,
        "{\"externalPatientId\":\"X-3\",\"firstName\":\"Eve\"}\n{\"externalPatientId\":\"X-4\",\"email\":\"eve@example.com\"}\n",
    )
    .await;
    let id = answer["id"].as_str().unwrap();
    let done = finished(&app, &narrow, id, Duration::from_secs(30)).await;
    assert_eq!((&done["created"], &done["failed"]), (&json!(1), &json!(1)));
    assert_eq!(refused(&app, &narrow, id).await[0].1, "FORBIDDEN");
    assert!(patient(&app, &app.fx.client_a, "X-4").await.is_null());
}

#[tokio::test]
async fn who_may_import_where_and_who_sees_a_job() {
    let app = TestApp::builder().spawn().await;
    let body = || b"{\"externalPatientId\":\"W-1\"}\n".to_vec();
    let (fx, base) = (&app.fx, app.base.as_str());
    // No credential; a key without patients:create.
    let (status, _) = upload(
        &app,
        base,
        None,
        &fx.client_a,
        &fx.loc_a1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(status, 401);
    let reader = app.key(&["patients:read"]).await;
    let (status, answer) = upload(
        &app,
        base,
        Some(&reader),
        &fx.client_a,
        &fx.loc_a1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(
        (status, answer["errors"][0]["extensions"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    // A key limited to client A may not import into client B (answered as createPatient
    // answers: no such client), nor into a production client with a sandbox key.
    let (_, only_a) = app
        .create_key_with(json!({ "name": "A only", "scopes": ["patients:create", "patients:read"], "environment": "SANDBOX", "clientIds": [fx.client_a] }))
        .await;
    let (status, answer) = upload(
        &app,
        base,
        Some(&only_a),
        &fx.client_b,
        &fx.loc_b1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "input.clientId");
    let full = app.full_key().await;
    let (status, _) = upload(
        &app,
        base,
        Some(&full),
        &fx.client_p,
        &fx.loc_p1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(status, 400);
    // A location of another client.
    let (status, answer) = upload(
        &app,
        base,
        Some(&full),
        &fx.client_a,
        &fx.loc_b1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["errors"][0]["extensions"]["field"],
        "input.locationId"
    );
    // No format.
    let (status, answer) = upload(
        &app,
        base,
        Some(&full),
        &fx.client_a,
        &fx.loc_a1,
        "application/octet-stream",
        body(),
    )
    .await;
    assert_eq!(
        (status, answer["errors"][0]["extensions"]["field"].as_str()),
        (400, Some("format"))
    );
    assert_eq!(count_in(&app, &fx.client_b).await, 0);

    // The job is its starter's and the settings administrators'.
    let (status, answer) = upload(
        &app,
        base,
        Some(&only_a),
        &fx.client_a,
        &fx.loc_a1,
        "application/x-ndjson",
        body(),
    )
    .await;
    assert_eq!(status, 202);
    let id = answer["id"].as_str().unwrap();
    finished(&app, &only_a, id, Duration::from_secs(30)).await;
    assert!(
        job(&app, &full, id).await.is_null(),
        "another key does not see it"
    );
    let staff = app.staff_session().await;
    assert!(job(&app, &staff, id).await.is_null());
    assert_eq!(job(&app, &app.admin_token, id).await["startedBy"], "A only");
    let listed = app.gql_as(&full, "{ importJobs { id } }", json!({})).await;
    assert_eq!(data(&listed)["importJobs"], json!([]));
    let listed = app.admin("{ importJobs { id } }", json!({})).await;
    assert_eq!(data(&listed)["importJobs"].as_array().unwrap().len(), 1);
    let cancel = "mutation($id:ID!){ cancelImportJob(id:$id){ status } }";
    let resp = app.gql_as(&full, cancel, json!({ "id": id })).await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);
    let resp = app.gql_as(&only_a, cancel, json!({ "id": id })).await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "it has ended");
    let resp = app
        .gql_as(&reader, "{ importJobs { id } }", json!({}))
        .await;
    assert_eq!(data(&resp)["importJobs"], json!([]));
}

#[tokio::test]
async fn a_list_imports_through_graphql_and_bad_uploads_import_nothing() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    let resp = app
        .gql_as(
            &key,
            &format!("mutation($i:ImportPatientsInput!){{ importPatients(input:$i){{ {JOB} }} }}"),
            json!({ "i": {
                "clientId": app.fx.client_a, "locationId": app.fx.loc_a1,
                "patients": [
                    { "externalPatientId": "L-1", "firstName": "Ada", "sex": "FEMALE", "dateOfBirth": "1980-01-01" },
                    { "externalPatientId": "L-2", "locationId": app.fx.loc_b1 },
                    { "externalPatientId": "L-3", "email": "not an address" },
                ],
            } }),
        )
        .await;
    let started = &data(&resp)["importPatients"];
    assert_eq!(started["format"], "LIST");
    assert_eq!(started["totalRows"], 3);
    let id = started["id"].as_str().unwrap();
    let done = finished(&app, &key, id, Duration::from_secs(30)).await;
    assert_eq!((&done["created"], &done["failed"]), (&json!(2), &json!(1)));
    assert_eq!(
        refused(&app, &key, id).await,
        vec![(2, "INVALID_INPUT".to_owned(), Some("locationId".to_owned()))]
    );
    assert_eq!(
        patient(&app, &app.fx.client_a, "L-3").await["accountStatus"],
        "NONE",
        "an invalid email is kept, without an account, as createPatient does"
    );
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "externalPatientId": format!("M-{i}") }))
        .collect();
    let resp = app
        .gql_as(
            &key,
            "mutation($i:ImportPatientsInput!){ importPatients(input:$i){ id } }",
            json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "patients": many } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);

    // Not UTF-8, and a line that cannot be a patient: refused whole, the job says why.
    let mut latin1 = b"{\"externalPatientId\":\"B-1\"}\n".to_vec();
    latin1.extend_from_slice(b"{\"externalPatientId\":\"B-2\",\"firstName\":\"Jos\xe9\"}\n");
    let (status, answer) = ndjson_bytes(&app, &key, latin1).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2 is not UTF-8")
    );
    let mut long = b"{\"externalPatientId\":\"B-3\"}\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 70_000));
    let (status, _) = ndjson_bytes(&app, &key, long).await;
    assert_eq!(status, 400);
    let jobs = app
        .gql_as(&key, "{ importJobs { status error totalRows } }", json!({}))
        .await;
    let jobs = data(&jobs)["importJobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["status"], "FAILED");
    assert!(
        jobs[0]["error"]
            .as_str()
            .unwrap()
            .contains("line 2 is longer than 64 KiB"),
        "{}",
        jobs[0]
    );
    assert!(patient(&app, &app.fx.client_a, "B-1").await.is_null());
    assert!(patient(&app, &app.fx.client_a, "B-3").await.is_null());
}

async fn ndjson_bytes(app: &TestApp, token: &str, body: Vec<u8>) -> (u16, Value) {
    upload(
        app,
        &app.base,
        Some(token),
        &app.fx.client_a,
        &app.fx.loc_a1,
        "application/x-ndjson",
        body,
    )
    .await
}

/// A server that takes uploads but leaves the jobs to other processes.
fn uploads_only(s: &mut switchboard::config::Settings) {
    s.imports.run_jobs = Some(false);
}

#[tokio::test]
async fn a_cancelled_job_imports_nothing_more_and_a_revoked_key_stops_its_job() {
    let app = TestApp::builder().configure(uploads_only).spawn().await;
    let key = app.full_key().await;
    let rows: String = (0..3000)
        .map(|i| format!("{{\"externalPatientId\":\"K-{i}\"}}\n"))
        .collect();
    let (_, answer) = ndjson(&app, &key, &rows).await;
    let cancelled = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(answer["status"], "QUEUED");
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ cancelImportJob(id:$id){ status } }",
            json!({ "id": cancelled }),
        )
        .await;
    assert_eq!(data(&resp)["cancelImportJob"]["status"], "CANCELLED");

    let (key_id, revoked) = app.key_with_id(&["patients:create", "patients:read"]).await;
    let (_, answer) = ndjson(&app, &revoked, &rows).await;
    let stopped = answer["id"].as_str().unwrap().to_owned();
    let resp = app
        .admin(
            "mutation($id:ID!){ revokeApiKey(id:$id){ status } }",
            json!({ "id": key_id }),
        )
        .await;
    assert_eq!(data(&resp)["revokeApiKey"]["status"], "REVOKED");

    let _worker = app.spawn_process();
    let done = finished(&app, &app.admin_token, &stopped, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "FAILED");
    assert!(
        done["error"].as_str().unwrap().contains("revoked"),
        "{done}"
    );
    assert_eq!(done["created"], 0);
    let done = job(&app, &app.admin_token, &cancelled).await;
    assert_eq!(
        (&done["status"], &done["created"]),
        (&json!("CANCELLED"), &json!(0))
    );
    assert_eq!(count_in(&app, &app.fx.client_a).await, 0);
    let events = app
        .audit_events(json!({ "recordType": "import_job", "action": "UPDATE" }))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["operation"], "cancelImportJob");
}

#[tokio::test]
async fn a_hundred_thousand_rows_interrupted_by_kill_9_end_with_exactly_the_right_patients() {
    let app = TestApp::builder().configure(uploads_only).spawn().await;
    let key = app.full_key().await;
    // Already there: 500 of the file's external ids.
    let existing: Vec<Value> = (0..500)
        .map(|i| json!({ "externalPatientId": format!("R-{}", i * 7) }))
        .collect();
    for chunk in existing.chunks(500) {
        let resp = app
            .gql_as(
                &key,
                "mutation($i:ImportPatientsInput!){ importPatients(input:$i){ id } }",
                json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "patients": chunk } }),
            )
            .await;
        assert!(data(&resp)["importPatients"]["id"].is_string());
    }
    // 100,000 rows: every 50th repeats an earlier id, every 97th is bad, every 10th has no
    // external id (a replayed batch would create those twice: nothing else would notice).
    let mut body = String::with_capacity(6_000_000);
    let (mut fresh, mut repeated, mut bad, mut anonymous) = (0, 0, 0, 0);
    let mut seen = std::collections::HashSet::new();
    let existing_ids: std::collections::HashSet<String> =
        (0..500).map(|i| format!("R-{}", i * 7)).collect();
    for i in 0..100_000u32 {
        if i % 97 == 96 {
            bad += 1;
            body.push_str(&format!(
                "{{\"externalPatientId\":\"R-{i}\",\"dateOfBirth\":\"not a date\"}}\n"
            ));
        } else if i % 10 == 5 {
            anonymous += 1;
            body.push_str(&format!("{{\"firstName\":\"Anon {i}\"}}\n"));
        } else {
            let ext = if i % 50 == 49 {
                format!("R-{}", i - 7)
            } else {
                format!("R-{i}")
            };
            if existing_ids.contains(&ext) || !seen.insert(ext.clone()) {
                repeated += 1;
            } else {
                fresh += 1;
            }
            body.push_str(&format!(
                "{{\"externalPatientId\":\"{ext}\",\"lastName\":\"Row {i}\"}}\n"
            ));
        }
    }
    let (status, answer) = ndjson(&app, &key, &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["totalRows"], 100_000);
    let id = answer["id"].as_str().unwrap().to_owned();

    let env = [("SWITCHBOARD__IMPORTS__LEASE_SECONDS", "2")];
    let first = app.spawn_process_with(&env);
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let now = job(&app, &key, &id).await;
        if now["processed"].as_i64().unwrap() >= 20_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(first); // SIGKILL in the middle of the job
    let at_kill = job(&app, &key, &id).await;
    assert_eq!(at_kill["status"], "RUNNING");
    assert!(
        at_kill["processed"].as_i64().unwrap() < 100_000,
        "too late: {at_kill}"
    );

    let _second = app.spawn_process_with(&env);
    // Generous: a machine busy writing back a cold build's files slows every commit.
    let done = finished(&app, &key, &id, Duration::from_secs(420)).await;
    eprintln!(
        "killed at {} of 100000 rows; then {done}",
        at_kill["processed"]
    );
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["processed"], 100_000);
    assert_eq!(done["created"], fresh + anonymous);
    assert_eq!(done["duplicates"], repeated);
    assert_eq!(done["failed"], bad);
    assert_eq!(
        count_in(&app, &app.fx.client_a).await,
        i64::from(500 + fresh + anonymous),
        "no row imported twice, none skipped"
    );
    let refusals = app
        .http
        .get(app.url(done["refusedRowsUrl"].as_str().unwrap()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(refusals.lines().count() as u32, 1 + repeated + bad);
    assert!(
        refusals
            .lines()
            .any(|l| l.starts_with("97,INVALID_INPUT,dateOfBirth,"))
    );
}

/// The tests of a patient of client A, by accession number.
async fn tests_of(app: &TestApp, external: &str) -> Vec<(String, String, String)> {
    let id = patient(app, &app.fx.client_a, external).await["id"].clone();
    let resp = app
        .admin(
            "query($p:ID!){ tests(filter:{ patientId: $p }){ nodes { accessionNumber testCode status } } }",
            json!({ "p": id }),
        )
        .await;
    let mut tests: Vec<(String, String, String)> = data(&resp)["tests"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["accessionNumber"].as_str().unwrap().to_owned(),
                t["testCode"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tests.sort();
    tests
}

#[tokio::test]
async fn patients_are_imported_with_their_tests_each_row_whole_or_not_at_all() {
    let app = TestApp::builder().spawn().await;
    let key = app.full_key().await;
    // An accession number the client already uses.
    let existing = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "T-0" }),
        )
        .await;
    app.test_id(&key, &existing, "ACC-USED").await;

    let test = |acc: &str| json!({ "testCode": "CBC", "testName": "Complete blood count", "accessionNumber": acc });
    let rows = [
        json!({ "externalPatientId": "T-1", "tests": [test("ACC-1"), test("ACC-2")] }),
        json!({ "externalPatientId": "T-2" }),
        // Refused whole: an accession number the client has, one given twice in the row, one
        // an earlier row of the upload took, a test without its name.
        json!({ "externalPatientId": "T-3", "tests": [test("ACC-3"), test("ACC-USED")] }),
        json!({ "externalPatientId": "T-4", "tests": [test("ACC-4"), test("ACC-4")] }),
        json!({ "externalPatientId": "T-5", "tests": [test("ACC-1")] }),
        json!({ "externalPatientId": "T-6", "tests": [{ "testCode": "CBC", "accessionNumber": "ACC-6" }] }),
        // A duplicate patient brings no tests.
        json!({ "externalPatientId": "T-0", "tests": [test("ACC-7")] }),
    ];
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let (status, answer) = ndjson(&app, &key, &body).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let done = finished(&app, &key, id, Duration::from_secs(30)).await;
    let counts = app
        .gql_as(
            &key,
            "query($id:ID!){ importJob(id:$id){ created duplicates failed testsCreated } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data(&counts)["importJob"],
        json!({ "created": 2, "duplicates": 1, "failed": 4, "testsCreated": 2 }),
        "{done}"
    );
    assert_eq!(
        refused(&app, &key, id).await,
        vec![
            (
                3,
                "DUPLICATE_TEST".to_owned(),
                Some("tests[1].accessionNumber".to_owned())
            ),
            (
                4,
                "INVALID_INPUT".to_owned(),
                Some("tests[1].accessionNumber".to_owned())
            ),
            (
                5,
                "DUPLICATE_TEST".to_owned(),
                Some("tests[0].accessionNumber".to_owned())
            ),
            (
                6,
                "INVALID_INPUT".to_owned(),
                Some("tests[0].testName".to_owned())
            ),
            (
                7,
                "DUPLICATE_PATIENT".to_owned(),
                Some("externalPatientId".to_owned())
            ),
        ]
    );
    let ordered = |acc: &str| (acc.to_owned(), "CBC".to_owned(), "ORDERED".to_owned());
    assert_eq!(
        tests_of(&app, "T-1").await,
        vec![ordered("ACC-1"), ordered("ACC-2")]
    );
    assert!(tests_of(&app, "T-2").await.is_empty());
    assert_eq!(count_in(&app, &app.fx.client_a).await, 3);
    // The tests are audited as created by the import, beside the patients.
    let events: Vec<Value> = app
        .audit_events(json!({ "recordType": "test", "action": "CREATE" }))
        .await
        .into_iter()
        .filter(|e| e["operation"] == "importPatients")
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["recordIds"].as_array().unwrap().len(), 2);

    // Without tests:create a row with tests is refused; a CSV naming test columns, whole.
    let patients_only = app
        .key(&[
            "patients:read",
            "patients:create",
            "patients.demographics:write",
        ])
        .await;
    let (status, answer) = ndjson(
        &app,
        &patients_only,
        &format!(
            "{}\n{}\n",
            json!({ "externalPatientId": "U-1", "tests": [test("ACC-U1")] }),
            json!({ "externalPatientId": "U-2" })
        ),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let done = finished(&app, &patients_only, id, Duration::from_secs(30)).await;
    assert_eq!((&done["created"], &done["failed"]), (&json!(1), &json!(1)));
    assert_eq!(
        refused(&app, &patients_only, id).await,
        vec![(1, "FORBIDDEN".to_owned(), Some("tests".to_owned()))]
    );
    let (status, answer) = csv_upload(
        &app,
        &patients_only,
        b"externalPatientId,testCode,testName,accessionNumber\nV-1,CBC,Blood count,ACC-V1\n",
    )
    .await;
    assert_eq!(status, 403, "{answer}");

    // A CSV: one test per row, its three columns; empty cells order none.
    let (status, answer) = csv_upload(&app, &key, b"externalPatientId,testCode,testName,accessionNumber\nV-1,CBC,Blood count,ACC-V1\nV-2,,,\nV-3,CBC,,ACC-V3\n")
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let done = finished(&app, &key, id, Duration::from_secs(30)).await;
    assert_eq!((&done["created"], &done["failed"]), (&json!(2), &json!(1)));
    assert_eq!(tests_of(&app, "V-1").await, vec![ordered("ACC-V1")]);
    assert!(tests_of(&app, "V-2").await.is_empty());
    assert_eq!(
        refused(&app, &key, id).await,
        vec![(
            4,
            "INVALID_INPUT".to_owned(),
            Some("tests[0].testName".to_owned())
        )]
    );

    // And through GraphQL.
    let resp = app
        .gql_as(
            &key,
            "mutation($i: ImportPatientsInput!){ importPatients(input: $i){ id } }",
            json!({ "i": { "clientId": app.fx.client_a, "locationId": app.fx.loc_a1, "patients": [
                { "externalPatientId": "G-1", "tests": [test("ACC-G1")] }
            ] } }),
        )
        .await;
    let id = data(&resp)["importPatients"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished(&app, &key, &id, Duration::from_secs(30)).await;
    assert_eq!(tests_of(&app, "G-1").await, vec![ordered("ACC-G1")]);
}
