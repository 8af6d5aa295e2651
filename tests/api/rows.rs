//! Client/location restrictions and environments: rows outside them do not exist.

use serde_json::{Value, json};
use switchboard_tests::{ALL_SCOPES, TestApp, codes, data, spawn_app};
use uuid::Uuid;

struct World {
    a1_patient: String,
    a2_patient: String,
    b1_patient: String,
    b1_test: String,
    p1_patient: String,
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token.clone();
    let fx = &app.fx;
    let a1_patient = app
        .patient_id(
            &admin,
            &fx.client_a,
            &fx.loc_a1,
            json!({ "externalPatientId": "A1-1" }),
        )
        .await;
    let a2_patient = app
        .patient_id(
            &admin,
            &fx.client_a,
            &fx.loc_a2,
            json!({ "externalPatientId": "A2-1" }),
        )
        .await;
    let b1_patient = app
        .patient_id(
            &admin,
            &fx.client_b,
            &fx.loc_b1,
            json!({ "externalPatientId": "B1-1" }),
        )
        .await;
    let p1_patient = app
        .patient_id(
            &admin,
            &fx.client_p,
            &fx.loc_p1,
            json!({ "externalPatientId": "P1-1" }),
        )
        .await;
    app.create_test(&admin, &a1_patient, "ACC-A1").await;
    app.create_test(&admin, &a2_patient, "ACC-A2").await;
    let b1_test = app.test_id(&admin, &b1_patient, "ACC-B1").await;
    World {
        a1_patient,
        a2_patient,
        b1_patient,
        b1_test,
        p1_patient,
    }
}

/// What `key` reads of `field` (`patient` or `test`) by `id`: `null` when it may not see it.
async fn by_id(app: &TestApp, key: &str, field: &str, id: &str) -> serde_json::Value {
    let query = format!("query($id:ID!){{ {field}(id:$id){{ id }} }}");
    let resp = app.gql_as(key, &query, json!({ "id": id })).await;
    data(&resp)[field].clone()
}

fn ids(resp: &serde_json::Value, list: &str) -> Vec<String> {
    data(resp)[list]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_client_restricted_key_sees_only_its_client_everywhere() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (_, key) = app
        .create_key_with(json!({ "name": "A only", "scopes": ALL_SCOPES, "environment": "SANDBOX", "clientIds": [app.fx.client_a] }))
        .await;
    // Lists and counts.
    let resp = app
        .gql_as(&key, "{ patients { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 2);
    let mut seen = ids(&resp, "patients");
    seen.sort();
    let mut expected = vec![w.a1_patient.clone(), w.a2_patient.clone()];
    expected.sort();
    assert_eq!(seen, expected);
    // Filtering for another client does not reach it.
    let resp = app
        .gql_as(
            &key,
            "query($c:ID!){ patients(filter:{clientId:$c}) { totalCount } }",
            json!({ "c": app.fx.client_b }),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
    let resp = app
        .gql_as(&key, "{ tests { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&resp)["tests"]["totalCount"], 2);
    // Lookups by id.
    assert_eq!(
        by_id(&app, &key, "patient", &w.b1_patient).await,
        json!(null)
    );
    assert_eq!(by_id(&app, &key, "test", &w.b1_test).await, json!(null));
    // Mutation targets.
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updatePatient(id:$id, input:{ externalPatientId:\"HACK\" }){ patient { id } } }",
            json!({ "id": w.b1_patient }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);
    let resp = app
        .gql_as(
            &key,
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: CANCELLED }){ id } }",
            json!({ "id": w.b1_test }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["NOT_FOUND"]);
    let resp = app.create_test(&key, &w.b1_patient, "ACC-HACK").await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    // Outside the key's clients, a client answers exactly as one that does not exist.
    let resp = app
        .create_patient(&key, &app.fx.client_b, &app.fx.loc_b1, json!({}))
        .await;
    assert_same_refusal(&app, &key, &resp).await;
    // Nothing of B changed.
    let resp = app
        .admin(
            "query($id:ID!){ patient(id:$id){ externalPatientId tests { status } } }",
            json!({ "id": w.b1_patient }),
        )
        .await;
    assert_eq!(data(&resp)["patient"]["externalPatientId"], "B1-1");
    assert_eq!(
        data(&resp)["patient"]["tests"],
        json!([{ "status": "ORDERED" }])
    );
}

#[tokio::test]
async fn a_location_restricted_key_sees_only_its_location_including_nested_fields() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (_, key) = app
        .create_key_with(json!({ "name": "A1 only", "scopes": ALL_SCOPES, "environment": "SANDBOX", "locationIds": [app.fx.loc_a1] }))
        .await;
    let resp = app
        .gql_as(
            &key,
            "{ patients { totalCount nodes { id tests { accessionNumber } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    assert_eq!(ids(&resp, "patients"), vec![w.a1_patient.clone()]);
    assert_eq!(
        data(&resp)["patients"]["nodes"][0]["tests"],
        json!([{ "accessionNumber": "ACC-A1" }])
    );
    let resp = app
        .gql_as(
            &key,
            "{ tests { nodes { accessionNumber patient { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&resp)["tests"]["nodes"],
        json!([{ "accessionNumber": "ACC-A1", "patient": { "id": w.a1_patient } }])
    );
    assert_eq!(
        by_id(&app, &key, "patient", &w.a2_patient).await,
        json!(null)
    );
    // Creating in the other location of the same client is refused; in its own, allowed.
    let resp = app
        .create_patient(&key, &app.fx.client_a, &app.fx.loc_a2, json!({}))
        .await;
    let unknown = app
        .create_patient(
            &key,
            &app.fx.client_a,
            &Uuid::now_v7().to_string(),
            json!({}),
        )
        .await;
    assert_same_answer(&resp, &unknown);
    let resp = app
        .create_patient(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    data(&resp);
}

#[tokio::test]
async fn sandbox_and_production_never_mix() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let sandbox = app.full_key().await;
    assert_eq!(
        by_id(&app, &sandbox, "patient", &w.p1_patient).await,
        json!(null)
    );
    let resp = app
        .gql_as(&sandbox, "{ patients { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 3);
    let resp = app
        .create_patient(&sandbox, &app.fx.client_p, &app.fx.loc_p1, json!({}))
        .await;
    assert_same_refusal(&app, &sandbox, &resp).await;
    let (_, live) = app
        .create_key_with(
            json!({ "name": "live", "scopes": ALL_SCOPES, "environment": "PRODUCTION" }),
        )
        .await;
    let resp = app
        .gql_as(&live, "{ patients { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 1);
    assert_eq!(ids(&resp, "patients"), vec![w.p1_patient.clone()]);

    // A production test and patient do not exist for the sandbox key: not by id, not in
    // lists or counts, not as the target of a change, not in a validation-only request;
    // each answered exactly as for an id that does not exist.
    let live_test = app.test_id(&live, &w.p1_patient, "LIVE-1").await;
    let unknown = Uuid::now_v7().to_string();
    for (query, known, missing) in [
        ("query($id:ID!){ test(id:$id){ id } }", &live_test, &unknown),
        (
            "query($id:ID!){ patient(id:$id){ id tests { id } } }",
            &w.p1_patient,
            &unknown,
        ),
    ] {
        let seen = app.gql_as(&sandbox, query, json!({ "id": known })).await;
        let none = app.gql_as(&sandbox, query, json!({ "id": missing })).await;
        assert_eq!(seen, none, "{query}");
    }
    let resp = app
        .gql_as(&sandbox, "{ tests { totalCount nodes { id } } }", json!({}))
        .await;
    assert!(!resp.to_string().contains(&live_test), "{resp}");
    let changes = [
        (
            "mutation($id:ID!){ updatePatient(id:$id, input:{ lastName: \"X\" }){ patient { id } } }",
            "id",
        ),
        (
            "mutation($id:ID!){ createTest(input:{ patientId:$id, testCode:\"CBC\", testName:\"CBC\", accessionNumber:\"S-1\" }){ id } }",
            "id",
        ),
        (
            "mutation($id:ID!){ updateTest(id:$id, input:{ status: COLLECTED }){ id } }",
            "test",
        ),
    ];
    for (mutation, which) in changes {
        let known = if which == "test" {
            &live_test
        } else {
            &w.p1_patient
        };
        let refused = app.gql_as(&sandbox, mutation, json!({ "id": known })).await;
        let none = app
            .gql_as(&sandbox, mutation, json!({ "id": unknown }))
            .await;
        assert!(!codes(&refused).is_empty(), "{mutation}: {refused}");
        assert_eq!(
            refused["errors"][0]["extensions"], none["errors"][0]["extensions"],
            "{mutation}"
        );
        assert_eq!(
            refused["errors"][0]["message"], none["errors"][0]["message"],
            "{mutation}"
        );
    }
    let rehearsed = app
        .http
        .post(app.url("/graphql"))
        .header("X-Api-Key", &sandbox)
        .header("X-Validate-Only", "true")
        .json(&json!({
            "query": "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } } }",
            "variables": { "i": { "clientId": app.fx.client_p, "locationId": app.fx.loc_p1 } },
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_same_refusal(&app, &sandbox, &rehearsed).await;
    // The live test is still as it was.
    let resp = app
        .gql_as(
            &live,
            "query($id:ID!){ test(id:$id){ status } }",
            json!({ "id": live_test }),
        )
        .await;
    assert_eq!(data(&resp)["test"]["status"], "ORDERED");
    // A key cannot even be limited to a client of the other environment.
    let resp = app
        .admin(
            "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret } }",
            json!({ "i": { "name": "x", "scopes": ["patients:read"], "environment": "SANDBOX", "clientIds": [app.fx.client_p] } }),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn pagination_walks_every_visible_row_once() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.patient_id(
                &key,
                &app.fx.client_a,
                &app.fx.loc_a1,
                json!({ "externalPatientId": format!("PG-{i}") }),
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let resp = app
            .gql_as(
                &key,
                "query($a:String){ patients(first:3, after:$a){ nodes { id } pageInfo { hasNextPage endCursor } } }",
                json!({ "a": after }),
            )
            .await;
        seen.extend(ids(&resp, "patients"));
        let info = &data(&resp)["patients"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, created);
    let resp = app
        .gql_as(&key, "{ patients(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    let resp = app
        .gql_as(
            &key,
            "{ patients(after: \"!!\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
}

#[tokio::test]
async fn filters_narrow_lists_by_name_external_id_location_and_date() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let fx = app.fx.clone();
    app.patient_id(
        &key,
        &fx.client_a,
        &fx.loc_a1,
        json!({ "externalPatientId": "F-1", "firstName": "Grace", "lastName": "Hopper" }),
    )
    .await;
    app.patient_id(
        &key,
        &fx.client_a,
        &fx.loc_a2,
        json!({ "externalPatientId": "F-2", "firstName": "Alan", "lastName": "Turing" }),
    )
    .await;
    let count = |filter: serde_json::Value| {
        let app = &app;
        let key = key.clone();
        async move {
            let resp = app
                .gql_as(
                    &key,
                    "query($f:PatientFilterInput){ patients(filter:$f){ totalCount } }",
                    json!({ "f": filter }),
                )
                .await;
            data(&resp)["patients"]["totalCount"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({ "name": "hop" })).await, 1);
    assert_eq!(count(json!({ "name": "ALAN" })).await, 1);
    assert_eq!(
        count(json!({ "name": "%" })).await,
        2,
        "wildcards match nothing special"
    );
    assert_eq!(count(json!({ "externalPatientId": "F-2" })).await, 1);
    assert_eq!(count(json!({ "locationId": fx.loc_a1 })).await, 1);
    assert_eq!(
        count(json!({ "createdFrom": "2000-01-01T00:00:00Z" })).await,
        2
    );
    assert_eq!(
        count(json!({ "createdTo": "2000-01-01T00:00:00Z" })).await,
        0
    );
    let resp = app
        .gql_as(
            &key,
            "{ patients(filter:{ clientId: \"nope\" }){ totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&resp), vec!["VALIDATION_FAILED"]);
    assert_eq!(resp["errors"][0]["extensions"]["field"], "filter.clientId");
}

#[tokio::test]
async fn nested_lists_cost_the_same_number_of_queries_for_any_page_size() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    for i in 0..20 {
        let p = app
            .patient_id(
                &key,
                &app.fx.client_a,
                &app.fx.loc_a1,
                json!({ "externalPatientId": format!("NP-{i}") }),
            )
            .await;
        app.create_test(&key, &p, &format!("NP-ACC-{i}")).await;
    }
    let query = "query($n:Int!){ patients(first:$n){ nodes { id tests { id patient { id } } } } }";
    // Warm up: the key's last-use write happens on first use only.
    app.gql_as(&key, query, json!({ "n": 1 })).await;
    let mut costs = Vec::new();
    for n in [1, 20] {
        let before = app.statements();
        let resp = app.gql_as(&key, query, json!({ "n": n })).await;
        assert_eq!(
            data(&resp)["patients"]["nodes"].as_array().unwrap().len(),
            n as usize
        );
        costs.push(app.statements() - before);
    }
    // Key lookup, the page, the tests of all patients, the patients of all tests.
    assert_eq!(
        costs[0], costs[1],
        "queries grew with the page size: {costs:?}"
    );
    assert!(costs[1] <= 5, "too many queries for one request: {costs:?}");
}

/// A page of patients reads their tests ahead in one query per selection
/// (`Loaders::prefetch_tests`): patients without tests, two selections and one selection
/// asked through both `nodes` and `edges` included. The answer and the audit are those of the
/// field-by-field way, which a directive forces (the plan leaves such requests to the guard).
#[tokio::test]
async fn tests_read_ahead_for_a_page_answer_and_audit_as_read_field_by_field() {
    let mut app = spawn_app().await;
    let (key_id, key) = app
        .create_key_with(json!({ "name": "ahead", "scopes": ALL_SCOPES, "environment": "SANDBOX" }))
        .await;
    // A client of its own, so that the page holds these patients alone.
    let client = app.create_client("Read ahead", "SANDBOX").await;
    let loc = app.create_location(&client, "Read ahead 1").await;
    let mut all_tests = Vec::new();
    for i in 0..4 {
        let p = app
            .patient_id(
                &key,
                &client,
                &loc,
                json!({ "externalPatientId": format!("RA-{i}") }),
            )
            .await;
        // The first patient has none.
        for j in 0..i {
            all_tests.push(app.test_id(&key, &p, &format!("RA-{i}-{j}")).await);
        }
    }
    all_tests.sort();
    let query = |name: &str, directive: &str| {
        format!(
            "query {name}($c:ID!){{ patients(filter:{{clientId:$c}}){{ \
             nodes {{ id {directive} t: tests {{ id }} s: tests {{ id status testCode }} }} \
             edges {{ node {{ id t: tests {{ id }} }} }} }} }}"
        )
    };
    let vars = json!({ "c": client });
    // Warm up: the key's last-use write happens on first use only.
    statements_and_data(&app, &key, "Warm", &query("Warm", ""), &vars).await;
    let page_only = "query Page($c:ID!){ patients(filter:{clientId:$c}){ nodes { id } } }";
    let (page_alone, _) = statements_and_data(&app, &key, "Page", page_only, &vars).await;
    let (ahead, ahead_data) =
        statements_and_data(&app, &key, "Ahead", &query("Ahead", ""), &vars).await;
    let one_by_one_query = query("OneByOne", "@include(if: true)");
    let (one_by_one, one_by_one_data) =
        statements_and_data(&app, &key, "OneByOne", &one_by_one_query, &vars).await;
    assert_eq!(ahead_data, one_by_one_data);
    assert_eq!(
        (ahead, one_by_one),
        (page_alone + 2, page_alone + 2),
        "one query per distinct selection of tests, none per patient"
    );
    let nodes = ahead_data["patients"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let mut served: Vec<String> = nodes
        .iter()
        .flat_map(|n| n["s"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    served.sort();
    assert_eq!(served, all_tests);
    assert_eq!(nodes[0]["t"], json!([]), "a patient without tests");
    for (node, edge) in nodes
        .iter()
        .zip(ahead_data["patients"]["edges"].as_array().unwrap())
    {
        assert_eq!(node["t"], edge["node"]["t"]);
    }
    // Audit: each request recorded reading exactly the tests it served.
    app.restart().await;
    let resp = app
        .admin(
            "query($f:AuditFilterInput){ auditEvents(filter:$f, first: 100){ nodes { action operation operationName recordType recordIds } } }",
            json!({ "f": { "actorId": key_id, "recordType": "test" } }),
        )
        .await;
    let events = data(&resp)["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    for operation in ["Ahead", "OneByOne"] {
        let read = events
            .iter()
            .find(|e| e["action"] == "READ" && e["operationName"] == operation)
            .unwrap_or_else(|| panic!("{operation} audited: {events:?}"));
        let mut ids: Vec<String> = read["recordIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        assert_eq!(ids, all_tests, "{operation}");
    }
}

/// The statements one request for operation `name` costs, with its data.
async fn statements_and_data(
    app: &TestApp,
    key: &str,
    name: &str,
    query: &str,
    vars: &serde_json::Value,
) -> (u64, serde_json::Value) {
    let before = app.statements();
    let body = json!({ "query": query, "operationName": name, "variables": vars });
    let (status, resp) = app.post(Some(key), body).await;
    assert_eq!(status, 200, "{resp}");
    (app.statements() - before, data(&resp).clone())
}

/// Queries leave out the per-row environment check when a key's clients were checked when
/// it was loaded (`RowScope::clients_in_environment`). Keys are only made with clients of
/// their environment; this one, written to the database directly, lists a production client
/// on a sandbox key, and still sees nothing of it.
#[tokio::test]
async fn a_key_listing_a_client_of_the_other_environment_sees_none_of_its_rows() {
    use switchboard::domain::api_key::new_api_key;
    use switchboard::domain::environment::Environment;
    use switchboard::store::api_keys::{NewApiKey, insert};

    let app = spawn_app().await;
    let w = world(&app).await;
    let uuid = |s: &str| s.parse::<uuid::Uuid>().unwrap();
    let secret = new_api_key(Environment::Sandbox);
    insert(
        app.store().conn(),
        NewApiKey {
            name: "mixed".into(),
            prefix: secret.prefix,
            secret_hash: secret.hash,
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            client_ids: Some(vec![uuid(&app.fx.client_a), uuid(&app.fx.client_p)]),
            location_ids: None,
            environment: "SANDBOX".into(),
            expires_at: None,
            created_by: None,
            limits: Default::default(),
        },
    )
    .await
    .unwrap();
    let key = secret.secret;
    let resp = app
        .gql_as(&key, "{ patients { totalCount nodes { id } } }", json!({}))
        .await;
    let mut seen = ids(&resp, "patients");
    seen.sort();
    let mut expected = vec![w.a1_patient.clone(), w.a2_patient.clone()];
    expected.sort();
    assert_eq!(seen, expected, "client A's patients only");
    assert_eq!(data(&resp)["patients"]["totalCount"], 2);
    assert_eq!(
        by_id(&app, &key, "patient", &w.p1_patient).await,
        json!(null)
    );
    let resp = app
        .gql_as(
            &key,
            "query($c:ID!){ patients(filter:{clientId:$c}){ totalCount } tests(filter:{clientId:$c}){ totalCount } }",
            json!({ "c": app.fx.client_p }),
        )
        .await;
    assert_eq!(data(&resp)["patients"]["totalCount"], 0);
    assert_eq!(data(&resp)["tests"]["totalCount"], 0);
    let resp = app
        .create_patient(&key, &app.fx.client_p, &app.fx.loc_p1, json!({}))
        .await;
    assert_same_refusal(&app, &key, &resp).await;
}

/// `resp` is the answer a create for a client that does not exist gets: same code, message
/// and extensions, so it tells nothing about which clients exist.
async fn assert_same_refusal(app: &TestApp, key: &str, resp: &Value) {
    let unknown = app
        .create_patient(
            key,
            &Uuid::now_v7().to_string(),
            &Uuid::now_v7().to_string(),
            json!({}),
        )
        .await;
    assert_same_answer(resp, &unknown);
}

fn assert_same_answer(resp: &Value, unknown: &Value) {
    assert_eq!(codes(resp), vec!["VALIDATION_FAILED"], "{resp}");
    assert_eq!(
        resp["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    assert_eq!(
        resp["errors"][0]["extensions"],
        unknown["errors"][0]["extensions"]
    );
}
