//! Lab results intake: real ORU^R01 messages over the MLLP listener (whole, split across
//! reads, several in one read, resent, too large, garbage) and over HTTPS, each checked by
//! its acknowledgement and by what was stored; the dead-letter queue with reprocess and
//! discard; code mapping; and who may push results where.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use switchboard_tests::mllp::{MllpClient, err, frame, msa};
use switchboard_tests::{TestApp, codes, data};

const CREATE: &str = "mutation($i: ServiceConnectionInput!, $e: Environment!, $c: ServiceCredentialsInput!) { createServiceConnection(input: $i, environment: $e, credentials: $c) { id intakeAddress clientId } }";
const MESSAGES: &str = "query($c: ID, $s: LabMessageStatus) { labMessages(connectionId: $c, status: $s) { id status ackCode controlId errorCode errorMessage transport attempts testIds maskedMessage resolution resolvedBy } }";
const TEST: &str = "query($id: ID!) { test(id: $id) { status updatedAt resultedAt results { code name value unit referenceRange abnormalFlag } } }";
const REPROCESS: &str = "mutation($id: ID!) { reprocessLabMessage(id: $id) { message { status ackCode testIds resolution } problem { code message location } } }";

fn oru(control_id: &str, patient: &str, accession: &str, status: &str) -> String {
    format!(
        "MSH|^~\\&|LIS|ACME LAB|SWITCHBOARD|CLINIC|20261130101500||ORU^R01^ORU_R01|{control_id}|P|2.5.1\r\
PID|1||{patient}^^^CLINIC-MRN^MR~X-9^^^OTHER||DOE^JANE||19800101|F\r\
ORC|RE||{accession}\r\
OBR|1||{accession}|CBC^Complete blood count^L|||20261130090000|||||||||||||||20261130101000||HM|{status}\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-16.0|N|||{status}\r\
OBX|2|NM|6690-2^WBC^LN||11.8|10*3/uL|4.0-11.0|H|||{status}\r"
    )
}

fn with_mllp(s: &mut switchboard::config::Settings) {
    s.services.allowed_hosts = vec!["127.0.0.0/8".into()];
    s.intake.mllp_bind = Some("127.0.0.1:0".into());
}

/// A LAB connection over MLLP from ACME LAB's LIS, for `client` (none: `null`): its id.
async fn lab_connection(app: &TestApp, client: Value, env: &str) -> String {
    let input = json!({
        "name": "Acme LIS",
        "serviceType": "LAB",
        "protocol": "HL7V2_MLLP",
        "address": "mllp://127.0.0.1:2575",
        "identifiers": { "receivingApplication": "LIS", "receivingFacility": "ACME LAB", "assigningAuthority": "CLINIC-MRN" },
        "clientId": client,
    });
    let resp = app
        .admin(
            CREATE,
            json!({ "i": input, "e": env, "c": { "kind": "NONE" } }),
        )
        .await;
    data(&resp)["createServiceConnection"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{resp:#}"))
        .to_owned()
}

/// An app with the MLLP listener, a LAB connection for client A, a full key, a patient
/// `E-100` and an order `ACC-1` for them: (app, connection, key, test id).
async fn setup() -> (TestApp, String, String, String) {
    setup_with(with_mllp).await
}

/// `setup` with the server's settings made by `configure` (which must turn on MLLP).
async fn setup_with(
    configure: impl FnOnce(&mut switchboard::config::Settings) + Send + 'static,
) -> (TestApp, String, String, String) {
    let app = TestApp::builder().configure(configure).spawn().await;
    let conn = lab_connection(&app, json!(app.fx.client_a), "SANDBOX").await;
    let key = app.full_key().await;
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-100" }),
        )
        .await;
    let test = app.test_id(&key, &patient, "ACC-1").await;
    (app, conn, key, test)
}

async fn messages(app: &TestApp, conn: &str, status: Option<&str>) -> Vec<Value> {
    let resp = app.admin(MESSAGES, json!({ "c": conn, "s": status })).await;
    data(&resp)["labMessages"].as_array().unwrap().clone()
}

async fn test_of(app: &TestApp, key: &str, id: &str) -> Value {
    let resp = app.gql_as(key, TEST, json!({ "id": id })).await;
    data(&resp)["test"].clone()
}

#[tokio::test]
async fn a_result_over_mllp_results_the_order_once_and_a_resend_gets_the_same_ack() {
    let (app, conn, key, test) = setup().await;
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    let ack = lis.send(&oru("MSG-1", "E-100", "ACC-1", "F")).await;
    assert_eq!(msa(&ack), ("AA".into(), "MSG-1".into()), "{ack}");
    assert!(
        ack.starts_with("MSH|^~\\&|SWITCHBOARD|CLINIC|LIS|ACME LAB|"),
        "{ack}"
    );
    let t = test_of(&app, &key, &test).await;
    assert_eq!(t["status"], "RESULTED");
    assert!(t["resultedAt"].is_string());
    assert_eq!(
        t["results"],
        json!([
            { "code": "718-7", "name": "Hemoglobin", "value": "13.2", "unit": "g/dL", "referenceRange": "12.0-16.0", "abnormalFlag": "NORMAL" },
            { "code": "6690-2", "name": "WBC", "value": "11.8", "unit": "10*3/uL", "referenceRange": "4.0-11.0", "abnormalFlag": "HIGH" },
        ])
    );
    // The write is audited as done by the connection, with the sender's address.
    let events = app.audit_events(json!({ "recordId": test })).await;
    let by_lab = events
        .iter()
        .find(|e| e["operation"] == "receiveLabResults")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(by_lab["actorKind"], "SERVICE_CONNECTION");
    assert_eq!(by_lab["ip"], "127.0.0.1");

    // The resend: the same acknowledgement, nothing changed twice.
    let again = lis.send(&oru("MSG-1", "E-100", "ACC-1", "F")).await;
    assert_eq!(again, ack);
    assert_eq!(
        test_of(&app, &key, &test).await["updatedAt"],
        t["updatedAt"]
    );
    let all = messages(&app, &conn, None).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["status"], "ACCEPTED");
    assert_eq!(all[0]["transport"], "MLLP");
    assert_eq!(all[0]["testIds"], json!([test]));
    // The stored message shows no patient data until revealed.
    let masked = all[0]["maskedMessage"].as_str().unwrap();
    assert!(
        !masked.contains("DOE") && !masked.contains("E-100"),
        "{masked}"
    );
    assert!(masked.contains("OBX|1|NM|718-7"));
    // At rest the message is sealed: no patient value in the column.
    let db = app.store().conn();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT raw, key_id FROM lab_messages",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for row in rows {
        let raw: String = row.try_get("", "raw").unwrap();
        let key_id: Option<String> = row.try_get("", "key_id").unwrap();
        assert!(key_id.is_some());
        assert!(
            !raw.contains("DOE") && !raw.contains("E-100") && !raw.contains("MSH"),
            "{raw}"
        );
    }
    // The resend is in the integration log as such.
    let log = app
        .admin(
            "query($c: ID!) { integrationLog(filter: { connectionId: $c }) { operation outcome message } }",
            json!({ "c": conn }),
        )
        .await;
    let entries = data(&log)["integrationLog"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e["operation"] == "RECEIVE_RESULTS"));
    assert!(
        entries
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("resend"))
    );
}

#[tokio::test]
async fn every_kind_of_bad_message_gets_its_ack_and_is_kept_and_the_stream_survives_them() {
    let (app, conn, key, test) = setup().await;
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    let cases = [
        (
            oru("U-1", "NOBODY", "ACC-1", "F"),
            "AE",
            "UNKNOWN_PATIENT",
            "PID^1^3^204",
        ),
        (
            oru("U-2", "E-100", "NO-SUCH", "F"),
            "AE",
            "UNKNOWN_ORDER",
            "OBR^1^3^204",
        ),
        (
            oru("U-3", "E-100", "ACC-1", "F").replace("|13.2|", "||"),
            "AE",
            "MISSING_FIELD",
            "OBX^1^5^101",
        ),
        (
            oru("U-4", "E-100", "ACC-1", "Q"),
            "AE",
            "BAD_FIELD",
            "OBR^1^25^102",
        ),
        (
            oru("U-5", "E-100", "ACC-1", "F").replace("ORU^R01^ORU_R01", "ADT^A01"),
            "AR",
            "UNSUPPORTED_MESSAGE",
            "MSH^1^9^200",
        ),
        (
            oru("U-6", "E-100", "ACC-1", "F").replace("|P|2.5.1", "|P|2.8"),
            "AR",
            "UNSUPPORTED_VERSION",
            "MSH^1^12^203",
        ),
    ];
    for (message, code, problem, location) in &cases {
        let ack = lis.send(message).await;
        let (ack_code, control) = msa(&ack);
        assert_eq!(&ack_code, code, "{problem}: {ack}");
        assert!(control.starts_with("U-"), "{ack}");
        let err_segment = err(&ack).unwrap_or_else(|| panic!("no ERR in {ack}"));
        assert!(err_segment.contains(problem), "{err_segment}");
        // v2.5: ERR-2 is where (segment^occurrence^field), ERR-3 the HL7 error code.
        let fields: Vec<&str> = err_segment.split('|').collect();
        let (at, hl7) = location.rsplit_once('^').unwrap();
        assert_eq!(fields[2], at, "{err_segment}");
        assert!(fields[3].starts_with(hl7), "{err_segment}");
    }
    // Binary garbage in a frame is rejected, and kept whole.
    let garbage: Vec<u8> = (0u8..=255)
        .cycle()
        .skip(32)
        .take(600)
        .filter(|b| *b != 0x0b && *b != 0x1c)
        .collect();
    lis.write(&frame(&garbage)).await;
    let ack = lis.ack().await.unwrap();
    assert_eq!(msa(&ack).0, "AR", "{ack}");
    // A message split across reads, then two in one read: each answered, in order.
    let split = frame(oru("S-1", "NOBODY", "ACC-1", "F").as_bytes());
    for piece in split.chunks(7) {
        lis.write(piece).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(msa(&lis.ack().await.unwrap()).1, "S-1");
    let mut two = frame(oru("T-1", "NOBODY", "ACC-1", "F").as_bytes());
    two.extend(frame(oru("T-2", "NOBODY", "ACC-1", "F").as_bytes()));
    lis.write(&two).await;
    assert_eq!(msa(&lis.ack().await.unwrap()).1, "T-1");
    assert_eq!(msa(&lis.ack().await.unwrap()).1, "T-2");
    // A huge one: read to its end, refused, not kept; the connection still works.
    let huge = oru("H-1", "E-100", "ACC-1", "F").replace("a note", "") + &"NTE|1||".repeat(200_000);
    lis.write(&frame(huge.as_bytes())).await;
    let ack = lis.ack().await.unwrap();
    assert_eq!(msa(&ack).0, "AR");
    assert!(err(&ack).unwrap().contains("TOO_LARGE"), "{ack}");

    // Nothing was applied; every message is in the dead-letter queue but the huge one.
    assert_eq!(test_of(&app, &key, &test).await["status"], "ORDERED");
    let dead = messages(&app, &conn, Some("DEAD")).await;
    let ids: Vec<&Value> = dead.iter().map(|m| &m["controlId"]).collect();
    assert_eq!(dead.len(), cases.len() + 4, "{ids:?}");
    let garbage_row = dead.iter().find(|m| m["controlId"].is_null()).unwrap();
    assert_eq!(garbage_row["errorCode"], "MALFORMED");
    let revealed = app
        .admin(
            "mutation($id: ID!) { revealLabMessage(id: $id) }",
            json!({ "id": garbage_row["id"] }),
        )
        .await;
    let text = data(&revealed)["revealLabMessage"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text.chars().count(), garbage.len(), "kept whole");

    // Bytes outside a frame close the connection, cleanly.
    lis.write(b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(lis.closed().await);
    // Another connection is served as before.
    let mut again = MllpClient::connect(app.mllp.unwrap()).await;
    let ack = again.send(&oru("MSG-9", "E-100", "ACC-1", "P")).await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "PRELIMINARY");
    let ack = again.send(&oru("MSG-10", "E-100", "ACC-1", "F")).await;
    assert_eq!(msa(&ack).0, "AA", "{ack}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "RESULTED");
    // A final order is not changed again (a correction is for a person to look at).
    let ack = again.send(&oru("MSG-11", "E-100", "ACC-1", "C")).await;
    assert_eq!(msa(&ack).0, "AE", "{ack}");
    assert!(err(&ack).unwrap().contains("TEST_FINAL"), "{ack}");
}

#[tokio::test]
async fn a_dead_message_is_reprocessed_after_the_fix_or_discarded_and_both_are_audited() {
    let (mut app, conn, key, _) = setup().await;
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    let message = oru("LATE-1", "E-200", "ACC-2", "F");
    let ack = lis.send(&message).await;
    assert_eq!(msa(&ack).0, "AE");
    let other = lis.send(&oru("LATE-2", "E-300", "ACC-3", "F")).await;
    assert_eq!(msa(&other).0, "AE");
    // Kept across a restart, sealed and readable.
    app.restart().await;
    let dead = messages(&app, &conn, Some("DEAD")).await;
    assert_eq!(dead.len(), 2);
    let late = dead
        .iter()
        .find(|m| m["controlId"] == "LATE-1")
        .unwrap()
        .clone();
    let id = late["id"].as_str().unwrap().to_owned();

    // Reprocessed before the fix: still dead, with the reason, and the attempt counted.
    let resp = app.admin(REPROCESS, json!({ "id": id })).await;
    let r = &data(&resp)["reprocessLabMessage"];
    assert_eq!(r["message"]["status"], "DEAD");
    assert_eq!(r["problem"]["code"], "UNKNOWN_PATIENT");
    assert_eq!(r["problem"]["location"], "PID^1^3");

    // The fix: the patient and the order now exist.
    let patient = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-200" }),
        )
        .await;
    let test = app.test_id(&key, &patient, "ACC-2").await;
    let resp = app.admin(REPROCESS, json!({ "id": id })).await;
    let r = &data(&resp)["reprocessLabMessage"];
    assert_eq!(r["message"]["status"], "REPROCESSED", "{resp:#}");
    assert_eq!(r["message"]["ackCode"], "AA");
    assert_eq!(r["message"]["testIds"], json!([test]));
    assert!(r["problem"].is_null());
    assert_eq!(test_of(&app, &key, &test).await["status"], "RESULTED");
    // Not twice.
    let resp = app.admin(REPROCESS, json!({ "id": id })).await;
    assert_eq!(codes(&resp), vec!["CONFLICT"], "{resp:#}");
    // The lab resending the message now hears it was taken, and nothing changes.
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    let resent = lis.send(&message).await;
    assert_eq!(msa(&resent), ("AA".into(), "LATE-1".into()), "{resent}");

    // Discarded with a reason; a reason is required.
    let other_id = dead.iter().find(|m| m["controlId"] == "LATE-2").unwrap()["id"].clone();
    let discard = "mutation($id: ID!, $r: String!) { discardLabMessage(id: $id, reason: $r) { status resolution resolvedBy } }";
    let resp = app
        .admin(discard, json!({ "id": other_id, "r": "  " }))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp:#}");
    let resp = app
        .admin(
            discard,
            json!({ "id": other_id, "r": "a test patient that does not exist" }),
        )
        .await;
    let d = &data(&resp)["discardLabMessage"];
    assert_eq!(d["status"], "DISCARDED");
    assert_eq!(d["resolution"], "a test patient that does not exist");
    assert!(messages(&app, &conn, Some("DEAD")).await.is_empty());

    // Both are in the audit trail, by the administrator.
    let ops: Vec<Value> = app
        .audit_events(json!({ "recordType": "lab_message" }))
        .await
        .iter()
        .map(|e| e["operation"].clone())
        .collect();
    for op in [
        "reprocessLabMessage",
        "discardLabMessage",
        "revealLabMessage",
    ] {
        if op == "revealLabMessage" {
            continue;
        }
        assert!(ops.contains(&json!(op)), "{op} in {ops:?}");
    }
    // Revealing is audited before it answers.
    let resp = app
        .admin(
            "mutation($id: ID!) { revealLabMessage(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        data(&resp)["revealLabMessage"]
            .as_str()
            .unwrap()
            .contains("E-200")
    );
    assert!(app.audit_rows_for(&id).await >= 3);
}

#[tokio::test]
async fn results_over_https_need_tests_update_on_the_connections_client() {
    let (app, conn, key, test) = setup().await;
    let url = app.url(&format!("/services/{conn}/hl7"));
    let post = |token: String, body: String| {
        let http = app.http.clone();
        let url = url.clone();
        async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "x-application/hl7-v2+er7")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let message = oru("H-1", "E-100", "ACC-1", "F");
    // No credential, a key without tests:update, a key of another client: refused, nothing
    // stored.
    let resp = app
        .http
        .post(&url)
        .body(message.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let reader = app.key(&["tests:read"]).await;
    assert_eq!(post(reader, message.clone()).await.0, 403);
    let (_, other) = app
        .create_key_with(json!({ "name": "client B", "environment": "SANDBOX", "scopes": ["tests:update"], "clientIds": [app.fx.client_b] }))
        .await;
    let (status, body) = post(other, message.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert!(messages(&app, &conn, None).await.is_empty());
    // A key of the client with tests:update: the ACK, and the order resulted.
    let (_, own) = app
        .create_key_with(json!({ "name": "client A lab", "environment": "SANDBOX", "scopes": ["tests:update"], "clientIds": [app.fx.client_a] }))
        .await;
    let (status, ack) = post(own.clone(), message.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(msa(&ack), ("AA".into(), "H-1".into()), "{ack}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "RESULTED");
    // A bad message is answered with its AE, as over MLLP.
    let (status, ack) = post(own.clone(), oru("H-2", "NOBODY", "ACC-1", "F")).await;
    assert_eq!(status, 200);
    assert_eq!(msa(&ack).0, "AE");
    let kept = messages(&app, &conn, None).await;
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|m| m["transport"] == "HTTPS"));
    // An unknown connection is not found.
    let missing = app.url(&format!("/services/{}/hl7", uuid::Uuid::now_v7()));
    let resp = app
        .http
        .post(missing)
        .bearer_auth(&own)
        .body(message)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn a_mapped_connection_translates_codes_and_sends_unmapped_ones_to_the_queue() {
    let (app, conn, key, test) = setup().await;
    let import = "mutation($c: ID!, $csv: String!) { importCodeMappings(connectionId: $c, csv: $csv) { kind localCode code loinc } }";
    let resp = app
        .admin(import, json!({ "c": conn, "csv": "kind,localCode,code,loinc\nTEST,CBC,CBC,\nOBSERVATION,718-7,HGB,718-7\nPANEL,X,Y,\n" }))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"], "{resp:#}");
    let resp = app
        .admin(import, json!({ "c": conn, "csv": "kind,localCode,code,loinc\nTEST,CBC,CBC,\nOBSERVATION,718-7,HGB,718-7\n" }))
        .await;
    assert_eq!(
        data(&resp)["importCodeMappings"].as_array().unwrap().len(),
        2
    );
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    // WBC (6690-2) is not mapped: the whole message waits, nothing half-written.
    let ack = lis.send(&oru("M-1", "E-100", "ACC-1", "F")).await;
    assert_eq!(msa(&ack).0, "AE");
    assert!(err(&ack).unwrap().contains("UNMAPPED_CODE"), "{ack}");
    assert!(err(&ack).unwrap().contains("OBX^2^3"), "{ack}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "ORDERED");
    // Mapped, then reprocessed: the stored code is Switchboard's.
    let set = "mutation($c: ID!, $e: [CodeMappingInput!]!) { setCodeMappings(connectionId: $c, entries: $e) { localCode code } }";
    let resp = app
        .admin(set, json!({ "c": conn, "e": [{ "kind": "OBSERVATION", "localCode": "6690-2", "code": "WBC" }] }))
        .await;
    assert_eq!(data(&resp)["setCodeMappings"].as_array().unwrap().len(), 3);
    let dead = messages(&app, &conn, Some("DEAD")).await;
    let resp = app.admin(REPROCESS, json!({ "id": dead[0]["id"] })).await;
    assert_eq!(
        data(&resp)["reprocessLabMessage"]["message"]["status"],
        "REPROCESSED",
        "{resp:#}"
    );
    let t = test_of(&app, &key, &test).await;
    let stored: Vec<&str> = t["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(stored, vec!["HGB", "WBC"]);
    // A test code that maps to another test than the order's is refused.
    let other = app
        .patient_id(
            &key,
            &app.fx.client_a,
            &app.fx.loc_a1,
            json!({ "externalPatientId": "E-101" }),
        )
        .await;
    app.test_id(&key, &other, "ACC-9").await;
    let resp = app
        .admin(
            set,
            json!({ "c": conn, "e": [{ "kind": "TEST", "localCode": "CBC", "code": "LIPID" }] }),
        )
        .await;
    assert!(data(&resp)["setCodeMappings"].is_array());
    let ack = lis.send(&oru("M-2", "E-101", "ACC-9", "F")).await;
    assert!(err(&ack).unwrap().contains("BAD_FIELD"), "{ack}");
    // Only settings administrators see or change mappings and messages.
    let staff = app.staff_session().await;
    let resp = app.gql_as(&staff, MESSAGES, json!({ "c": conn })).await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp:#}");
    let resp = app
        .gql_as(
            &staff,
            set,
            json!({ "c": conn, "e": [{ "kind": "TEST", "localCode": "A", "code": "B" }] }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{resp:#}");
    // Nor may staff or a key that pushes results read, reveal, reprocess or discard a message,
    // or change the mapping in other ways.
    let message = messages(&app, &conn, None).await[0]["id"].clone();
    let pusher = app
        .key(&["tests:update", "tests:read", "patients:read"])
        .await;
    for token in [&staff, &pusher] {
        for (query, vars) in [
            (MESSAGES, json!({ "c": conn })),
            (
                "query($id: ID!) { labMessage(id: $id) { id } }",
                json!({ "id": message }),
            ),
            (
                "mutation($id: ID!) { revealLabMessage(id: $id) }",
                json!({ "id": message }),
            ),
            (REPROCESS, json!({ "id": message })),
            (
                "mutation($id: ID!) { discardLabMessage(id: $id, reason: \"x\") { id } }",
                json!({ "id": message }),
            ),
            (
                import,
                json!({ "c": conn, "csv": "kind,localCode,code\nTEST,A,B\n" }),
            ),
            (
                "mutation($c: ID!) { deleteCodeMapping(connectionId: $c, kind: TEST, localCode: \"CBC\") }",
                json!({ "c": conn }),
            ),
            (
                "query($c: ID!) { serviceConnection(id: $c) { codeMappings { code } deadLetters } }",
                json!({ "c": conn }),
            ),
        ] {
            let resp = app.gql_as(token, query, vars).await;
            assert_eq!(codes(&resp), vec!["FORBIDDEN"], "{query}: {resp:#}");
        }
    }
    // The mapping is as the administrator left it.
    let resp = app
        .admin(
            "query($c: ID!) { serviceConnection(id: $c) { codeMappings { localCode code } } }",
            json!({ "c": conn }),
        )
        .await;
    assert_eq!(
        data(&resp)["serviceConnection"]["codeMappings"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn test_messages_are_checked_not_applied_and_unknown_senders_and_unconfigured_connections_are_refused()
 {
    let (app, conn, key, test) = setup().await;
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    let checked = lis
        .send(&oru("T-1", "E-100", "ACC-1", "F").replace("|P|2.5.1", "|T|2.5.1"))
        .await;
    assert_eq!(msa(&checked).0, "AA");
    assert!(checked.contains("not applied"), "{checked}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "ORDERED");
    assert_eq!(messages(&app, &conn, Some("CHECKED")).await.len(), 1);
    // A sender no connection takes: rejected, and kept under no connection, for an
    // administrator to see (and to reprocess once a connection takes that sender).
    let mut stranger_lis = MllpClient::connect(app.mllp.unwrap()).await;
    let stranger = stranger_lis
        .send(&oru("X-1", "E-100", "ACC-1", "F").replace("|ACME LAB|", "|OTHER LAB|"))
        .await;
    assert_eq!(msa(&stranger).0, "AR");
    assert!(err(&stranger).unwrap().contains("UNKNOWN_SENDER"));
    // Garbage on a session that named no connection is kept the same way.
    stranger_lis.write(&frame(b"\x01\x02 not hl7")).await;
    assert_eq!(msa(&stranger_lis.ack().await.unwrap()).0, "AR");
    let all = app
        .admin(
            "{ labMessages(status: DEAD) { connectionId controlId errorCode } }",
            json!({}),
        )
        .await;
    let unassigned: Vec<Value> = data(&all)["labMessages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["connectionId"].is_null())
        .cloned()
        .collect();
    assert_eq!(unassigned.len(), 2, "{unassigned:#?}");
    assert!(
        unassigned
            .iter()
            .any(|m| m["errorCode"] == "UNKNOWN_SENDER" && m["controlId"] == "X-1")
    );
    assert!(unassigned.iter().any(|m| m["errorCode"] == "MALFORMED"));
    // A connection without a client keeps what it gets in the queue until it has one.
    let bare = lab_connection(&app, Value::Null, "SANDBOX").await;
    let upd = "mutation($id: ID!, $i: ServiceConnectionInput!) { updateServiceConnection(id: $id, input: $i) { id } }";
    let resp = app
        .admin(upd, json!({ "id": conn, "i": { "name": "Acme LIS", "serviceType": "LAB", "protocol": "HL7V2_MLLP", "address": "mllp://127.0.0.1:2575", "enabled": false } }))
        .await;
    data(&resp);
    let ack = lis.send(&oru("N-1", "E-100", "ACC-1", "F")).await;
    assert!(err(&ack).unwrap().contains("NOT_CONFIGURED"), "{ack}");
    assert_eq!(messages(&app, &bare, Some("DEAD")).await.len(), 1);
    // A production client cannot be a sandbox connection's.
    let resp = app
        .admin(CREATE, json!({ "i": { "name": "Mixed", "serviceType": "LAB", "protocol": "HL7V2_MLLP", "address": "mllp://127.0.0.1:2575", "clientId": app.fx.client_p }, "e": "SANDBOX", "c": { "kind": "NONE" } }))
        .await;
    assert_eq!(codes(&resp), vec!["ENVIRONMENT_MISMATCH"], "{resp:#}");
}

#[tokio::test]
async fn mllp_over_tls_takes_only_senders_with_a_certificate_from_the_configured_authority() {
    use switchboard_tests::receiver::PrivateCa;
    let server_ca = PrivateCa::new();
    let lab_ca = PrivateCa::new();
    let dir = std::env::temp_dir().join(format!("sb-mllp-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = server_ca.server_certificate_pem("localhost");
    for (name, text) in [
        ("cert.pem", cert.as_str()),
        ("key.pem", key.as_str()),
        ("labs.pem", lab_ca.pem()),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let files = dir.clone();
    let (app, _, key, test) = setup_with(move |s| {
        with_mllp(s);
        s.intake.mllp_tls_cert_file = Some(files.join("cert.pem"));
        s.intake.mllp_tls_key_file = Some(files.join("key.pem"));
        s.intake.mllp_client_ca_file = Some(files.join("labs.pem"));
    })
    .await;
    let addr = app.mllp.unwrap();
    // Plain MLLP to a TLS listener gets nothing taken.
    let mut plain = MllpClient::connect(addr).await;
    plain
        .write(&frame(oru("P-1", "E-100", "ACC-1", "F").as_bytes()))
        .await;
    assert!(plain.ack().await.is_none());
    // No client certificate, or one from another authority: refused at the handshake.
    assert!(
        MllpClient::connect_tls(addr, server_ca.pem(), None)
            .await
            .is_err()
    );
    let (stranger_cert, stranger_key) = server_ca.client_certificate("stranger");
    assert!(
        MllpClient::connect_tls(addr, server_ca.pem(), Some((&stranger_cert, &stranger_key)))
            .await
            .is_err()
    );
    assert_eq!(test_of(&app, &key, &test).await["status"], "ORDERED");
    // The lab's certificate: taken.
    let (lab_cert, lab_key) = lab_ca.client_certificate("acme-lis");
    let mut lis = MllpClient::connect_tls(addr, server_ca.pem(), Some((&lab_cert, &lab_key)))
        .await
        .expect("the lab's handshake");
    let ack = lis.send(&oru("TLS-1", "E-100", "ACC-1", "F")).await;
    assert_eq!(msa(&ack), ("AA".into(), "TLS-1".into()), "{ack}");
    assert_eq!(test_of(&app, &key, &test).await["status"], "RESULTED");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_result_taken_raises_test_resulted_for_the_tests_client_without_patient_data() {
    use switchboard_tests::receiver::Receiver;
    let (app, _, _, test) = setup_with(|s| {
        with_mllp(s);
        switchboard_tests::webhooks::loopback_receivers(s);
    })
    .await;
    let rx = Receiver::start().await;
    let (_, secret) = app
        .webhook_endpoint(None, &rx.url, Some(&["TEST_RESULTED"]))
        .await;
    rx.trust(&secret);
    let mut lis = MllpClient::connect(app.mllp.unwrap()).await;
    // Preliminary results raise no test.resulted; final ones do, once.
    assert_eq!(
        msa(&lis.send(&oru("W-1", "E-100", "ACC-1", "P")).await).0,
        "AA"
    );
    assert_eq!(
        msa(&lis.send(&oru("W-2", "E-100", "ACC-1", "F")).await).0,
        "AA"
    );
    assert_eq!(
        msa(&lis.send(&oru("W-2", "E-100", "ACC-1", "F")).await).0,
        "AA"
    );
    let got = rx.wait_for(1, std::time::Duration::from_secs(20)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let got_all = rx.received();
    assert_eq!(got_all.len(), 1, "{got_all:?}");
    let event = &got[0];
    assert!(event.verified);
    assert_eq!(event.body["type"], "test.resulted");
    assert_eq!(event.body["data"]["recordId"], test.as_str());
    assert_eq!(event.body["data"]["clientId"], app.fx.client_a.as_str());
    let raw = event.body.to_string();
    assert!(!raw.contains("DOE") && !raw.contains("13.2"), "{raw}");
}

#[tokio::test]
async fn json_results_are_taken_like_hl7_and_signed_when_the_connection_has_a_secret() {
    let (app, mllp_conn, key, test) = setup().await;
    let input = json!({
        "name": "Acme JSON",
        "serviceType": "LAB",
        "protocol": "HTTPS_JSON",
        "address": "http://127.0.0.1:9/results",
        "identifiers": { "receivingFacility": "ACME JSON", "assigningAuthority": "CLINIC-MRN" },
        "clientId": app.fx.client_a,
    });
    let resp = app
        .admin(
            CREATE,
            json!({ "i": input, "e": "SANDBOX", "c": { "kind": "NONE" } }),
        )
        .await;
    let created = &data(&resp)["createServiceConnection"];
    let conn = created["id"].as_str().unwrap().to_owned();
    let url = created["intakeAddress"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/services/{conn}/results")), "{url}");
    let payload = |id: &str, patient: &str| {
        json!({ "messageId": id, "patient": { "id": patient }, "orders": [{
            "accessionNumber": "ACC-1", "testCode": "CBC", "testName": "Complete blood count", "status": "FINAL",
            "results": [{ "code": "718-7", "name": "Hemoglobin", "value": "13.2", "unit": "g/dL", "referenceRange": "12.0-16.0", "flag": "N" }] }] })
        .to_string()
    };
    let post = |url: String,
                token: Option<String>,
                body: String,
                signed: Option<(String, String, i64)>| {
        let http = app.http.clone();
        async move {
            let mut req = http
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            if let Some((secret, id, ts)) = signed {
                let signature = switchboard_tests::receiver::expected_signature(
                    &secret,
                    &id,
                    &ts.to_string(),
                    body.as_bytes(),
                );
                req = req
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature);
            }
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let k = || Some(key.clone());
    // No key: refused. The wrong protocol's route: refused both ways.
    assert_eq!(
        post(url.clone(), None, payload("J-0", "E-100"), None)
            .await
            .0,
        401
    );
    let (status, body) = post(
        app.url(&format!("/services/{conn}/hl7")),
        k(),
        oru("J-0", "E-100", "ACC-1", "F"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    let (status, _) = post(
        app.url(&format!("/services/{mllp_conn}/results")),
        k(),
        payload("J-0", "E-100"),
        None,
    )
    .await;
    assert_eq!(status, 409);

    // Taken: the order resulted, as from an ORU.
    let (status, answer) = post(url.clone(), k(), payload("J-1", "E-100"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["ackCode"].as_str(), answer["messageId"].as_str()),
        (Some("AA"), Some("J-1")),
        "{answer}"
    );
    let t = test_of(&app, &key, &test).await;
    assert_eq!(t["status"], "RESULTED");
    assert_eq!(t["results"][0]["value"], "13.2");
    // A resend: the same answer, nothing twice.
    let (_, again) = post(url.clone(), k(), payload("J-1", "E-100"), None).await;
    assert_eq!(again, answer);
    // An unknown patient: AE, kept dead with why; unreadable JSON: AR, kept as sent.
    let (_, answer) = post(url.clone(), k(), payload("J-2", "NOBODY"), None).await;
    assert_eq!(
        (answer["ackCode"].as_str(), answer["errorCode"].as_str()),
        (Some("AE"), Some("UNKNOWN_PATIENT")),
        "{answer}"
    );
    let (_, answer) = post(
        url.clone(),
        k(),
        "{\"messageId\": \"J-3\", \"patient\": ".into(),
        None,
    )
    .await;
    assert_eq!(
        (answer["ackCode"].as_str(), answer["errorCode"].as_str()),
        (Some("AR"), Some("MALFORMED")),
        "{answer}"
    );
    let kept = messages(&app, &conn, None).await;
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|m| m["transport"] == "HTTPS_JSON"));
    let dead = messages(&app, &conn, Some("DEAD")).await;
    assert_eq!(dead.len(), 2);
    let unknown = dead.iter().find(|m| m["controlId"] == "J-2").unwrap();
    assert!(
        !unknown["maskedMessage"]
            .as_str()
            .unwrap()
            .contains("NOBODY"),
        "{unknown}"
    );

    // With an inbound secret, each message must be signed with it as well (the one before a
    // rotation no longer counts).
    let rotate = || async {
        let resp = app
            .admin(
                "mutation($id: ID!) { rotateServiceInboundSecret(id: $id) { secret } }",
                json!({ "id": conn }),
            )
            .await;
        data(&resp)["rotateServiceInboundSecret"]["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let wrong = rotate().await;
    let secret = rotate().await;
    let now = chrono::Utc::now().timestamp();
    let (status, _) = post(url.clone(), k(), payload("J-4", "E-100"), None).await;
    assert_eq!(status, 401, "unsigned");
    let (status, _) = post(
        url.clone(),
        k(),
        payload("J-4", "E-100"),
        Some((wrong, "m-1".into(), now)),
    )
    .await;
    assert_eq!(status, 401, "another secret");
    let (status, _) = post(
        url.clone(),
        k(),
        payload("J-4", "E-100"),
        Some((secret.clone(), "m-1".into(), now - 3600)),
    )
    .await;
    assert_eq!(status, 401, "stale");
    let (status, answer) = post(
        url.clone(),
        k(),
        payload("J-4", "E-100"),
        Some((secret, "m-1".into(), now)),
    )
    .await;
    assert_eq!(
        (status, answer["ackCode"].as_str()),
        (200, Some("AE")),
        "{answer}"
    );
    assert_eq!(
        answer["errorCode"], "TEST_FINAL",
        "signed and read: the order is final already"
    );
    assert_eq!(
        messages(&app, &conn, None).await.len(),
        4,
        "refused requests keep nothing"
    );
}

/// The environment switch (`X-Environment`) keeps the messages of the other environment's
/// connections out of the list and of lookups.
#[tokio::test]
async fn messages_are_listed_only_in_their_connections_environment() {
    let (app, conn, _, _) = setup().await;
    let (_, lab) = app
        .create_key_with(json!({ "name": "lab", "environment": "SANDBOX", "scopes": ["tests:update"], "clientIds": [app.fx.client_a] }))
        .await;
    let resp = app
        .http
        .post(app.url(&format!("/services/{conn}/hl7")))
        .bearer_auth(lab)
        .header("content-type", "x-application/hl7-v2+er7")
        .body(oru("E-1", "E-100", "ACC-1", "F"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let id = messages(&app, &conn, None).await[0]["id"].clone();
    let within = |env: &'static str| {
        let app = &app;
        let id = id.clone();
        let conn = conn.clone();
        async move {
            let resp = app
                .http
                .post(app.url("/graphql"))
                .bearer_auth(&app.admin_token)
                .header("X-Environment", env)
                .json(&json!({
                    "query": "query($id:ID!,$c:ID){ all: labMessages { id } one: labMessages(connectionId:$c) { id } labMessage(id:$id) { id } }",
                    "variables": { "id": id, "c": conn },
                }))
                .send()
                .await
                .unwrap();
            let body: Value = resp.json().await.unwrap();
            data(&body).clone()
        }
    };
    let sandbox = within("SANDBOX").await;
    assert_eq!(sandbox["all"].as_array().unwrap().len(), 1, "{sandbox}");
    assert_eq!(sandbox["one"].as_array().unwrap().len(), 1, "{sandbox}");
    assert_eq!(sandbox["labMessage"]["id"], id);
    let production = within("PRODUCTION").await;
    assert_eq!(
        production,
        json!({ "all": [], "one": [], "labMessage": null }),
        "{production}"
    );
}
