//! A request's cost is bounded before any work is done, in time linear in its size; standard
//! tooling's introspection query is still answered.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_tests::{codes, data, spawn_app};

/// Fragments that each spread the next one twice: a few hundred bytes that stand for 2^depth
/// copies of the last fragment's fields.
fn doubling_document(depth: usize) -> String {
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..depth {
        doc += &format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} viewer {{ kind }} }}\n",
            n = i + 1
        );
    }
    doc +=
        &format!("fragment F{depth} on Query {{ patients {{ nodes {{ id tests {{ id }} }} }} }}");
    doc
}

#[tokio::test]
async fn exponential_fragments_are_refused_in_milliseconds_even_anonymously() {
    let app = spawn_app().await;
    let doc = doubling_document(30);
    assert!(doc.len() < 4096, "{} bytes", doc.len());
    for token in [None, Some(app.admin_token.as_str())] {
        let started = Instant::now();
        let (status, body) = app.post(token, json!({ "query": doc })).await;
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert_eq!(codes(&body), vec!["QUERY_TOO_COMPLEX"], "{body}");
        assert!(took < Duration::from_millis(250), "took {took:?}");
    }
    // Cycles and self-spreads too.
    let resp = app
        .admin(
            "query { ...A } fragment A on Query { viewer { kind } ...A }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
}

#[tokio::test]
async fn hostile_documents_do_not_stall_other_requests() {
    let app = spawn_app().await;
    let doc = doubling_document(40);
    let hostile = (0..40).map(|_| app.post(None, json!({ "query": doc })));
    let health = async {
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            worst = worst.max(started.elapsed());
        }
        worst
    };
    let (answers, worst) = tokio::join!(futures_util::future::join_all(hostile), health);
    for (_, body) in answers {
        assert_eq!(codes(&body), vec!["QUERY_TOO_COMPLEX"]);
    }
    assert!(
        worst < Duration::from_millis(250),
        "/healthz took {worst:?}"
    );
}

#[tokio::test]
async fn aliases_and_page_sizes_bound_the_rows_one_request_may_return() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    // 500 aliased lists: refused for its aliases before anything runs.
    let many: String = (0..500)
        .map(|i| format!("a{i}: patients(first: 100) {{ nodes {{ id }} }} "))
        .collect();
    let resp = app.gql_as(&key, &format!("{{ {many} }}"), json!({})).await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
    assert!(resp["data"].is_null());
    // Within the alias limit, the page sizes still add up: 60 pages of 100.
    let pages: String = (0..60)
        .map(|i| format!("a{i}: patients(first: $n) {{ nodes {{ id }} }} "))
        .collect();
    let query = format!("query($n: Int!) {{ {pages} }}");
    let resp = app.gql_as(&key, &query, json!({ "n": 100 })).await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"], "{resp}");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("records"),
        "{resp}"
    );
    // The same document with small pages is fine: the variables decide.
    let resp = app.gql_as(&key, &query, json!({ "n": 5 })).await;
    data(&resp);
    // A batch shares one budget of records, checked as they are read.
    let batch: Vec<_> = (0..3)
        .map(|_| json!({ "query": "{ patients(first: 100) { nodes { id } } }" }))
        .collect();
    let (status, body) = app.post(Some(&key), json!(batch)).await;
    assert_eq!(status, 200);
    for answer in body.as_array().unwrap() {
        data(answer);
    }
}

#[tokio::test]
async fn documents_over_the_size_limits_are_refused() {
    let app = spawn_app().await;
    let fields: String = (0..1200).map(|_| "kind ").collect();
    let resp = app
        .admin(&format!("{{ viewer {{ {fields} }} }}"), json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
    let directives: String = (0..120).map(|_| "@include(if: true) ").collect();
    let resp = app
        .admin(&format!("{{ viewer {{ kind {directives} }} }}"), json!({}))
        .await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
}

/// The introspection query of graphql-js 16.15 (`getIntrospectionQuery` with every option:
/// descriptions, specifiedByUrl, directiveIsRepeatable, schemaDescription,
/// inputValueDeprecation, oneOf), as client libraries and code generators send it.
const TOOLING_INTROSPECTION: &str = include_str!("graphql-js-introspection.graphql");

#[tokio::test]
async fn standard_tooling_can_read_the_schema() {
    let app = spawn_app().await;
    let key = app.key(&["patients:read"]).await;
    // On by default: developers may introspect.
    for token in [&app.admin_token, &key] {
        let (status, body) = app
            .post(
                Some(token),
                json!({ "query": TOOLING_INTROSPECTION, "operationName": "IntrospectionQuery" }),
            )
            .await;
        assert_eq!(status, 200);
        let schema = &data(&body)["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query");
        let types = schema["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "Patient"));
    }
    // Introspection has bounds of its own: nesting far beyond any tool's is refused.
    let deep = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "ofType {".repeat(25),
        "}".repeat(25)
    );
    let resp = app.admin(&deep, json!({})).await;
    assert_eq!(codes(&resp), vec!["QUERY_TOO_COMPLEX"]);
}

/// Lists whose length is the data's (a patient's tests) are counted as they are read: one
/// HTTP request, a batch included, returns at most 5,000 records.
#[tokio::test]
async fn the_records_really_returned_are_bounded_per_request() {
    use switchboard::store::lab_tests::{NewTest, insert_many as insert_tests};
    use switchboard::store::patients::{NewPatient, insert_many as insert_patients};
    let app = spawn_app().await;
    let key = app.full_key().await;
    let (client, location) = (
        app.fx.client_a.parse().unwrap(),
        app.fx.loc_a1.parse().unwrap(),
    );
    let patients: Vec<NewPatient> = (0..100)
        .map(|i| NewPatient {
            client_id: client,
            location_id: location,
            external_patient_id: Some(format!("BULK-{i}")),
            first_name: None,
            last_name: None,
            date_of_birth: None,
            sex: None,
            email: None,
            phone: None,
            address: None,
            diagnoses: vec![],
            medications: vec![],
            insurance: None,
            billing_account: None,
            account_status: switchboard::domain::patient::AccountStatus::None,
            account_reason: Some(switchboard::domain::patient::NoAccountReason::NoEmail),
        })
        .collect();
    let ids = insert_patients(app.store().conn(), patients)
        .await
        .map_err(|e| e.message())
        .unwrap();
    let tests: Vec<NewTest> = ids
        .iter()
        .flat_map(|p| (0..50).map(move |t| (*p, t)))
        .map(|(p, t)| NewTest {
            patient_id: p,
            client_id: client,
            location_id: location,
            test_code: "CBC".into(),
            test_name: "Blood count".into(),
            accession_number: format!("{p}-{t}"),
            ordered_at: chrono::Utc::now(),
        })
        .collect();
    // In chunks, as `seed-bench` writes them: one statement holds a bounded number of values.
    for chunk in tests.chunks(500) {
        insert_tests(app.store().conn(), chunk.to_vec())
            .await
            .map_err(|e| e.message())
            .unwrap();
    }
    let page = |n: u32| json!({ "query": format!("{{ patients(first: {n}) {{ nodes {{ id tests {{ id }} }} }} }}") });
    // 100 patients with 50 tests each: 5,100 records, over the budget while being read.
    let (_, body) = app.post(Some(&key), page(100)).await;
    let codes = codes(&body);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == "QUERY_TOO_COMPLEX"),
        "{codes:?}"
    );
    // 10 patients: 510 records, fine alone; a batch of ten such pages shares one budget.
    let (_, body) = app.post(Some(&key), page(10)).await;
    data(&body);
    let (_, body) = app.post(Some(&key), json!(vec![page(10); 10])).await;
    let answers = body.as_array().unwrap();
    for answer in &answers[..9] {
        data(answer);
    }
    assert!(
        switchboard_tests::codes(&answers[9])
            .iter()
            .all(|c| c == "QUERY_TOO_COMPLEX")
            && !switchboard_tests::codes(&answers[9]).is_empty(),
        "{}",
        answers[9]
    );
}
