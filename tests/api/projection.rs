//! Lists fetch only the columns their selection reads (`store::columns`). Every field of a
//! patient and of a test, asked alone and together, through every list form (nodes, edges,
//! a fragment, the nested lists and the nested patient), must equal the same record read
//! whole by id. The data is chosen so that no field's true value is its empty default in
//! every record: a field mapped to the wrong column, or to none, fails here.

use serde_json::{Value, json};
use switchboard_tests::{TestApp, data, spawn_app};

/// The fields of `type_name`, each with the selection it needs: nothing for scalars and
/// enums, and the scalar fields of the inner type for objects (left out when `nested`).
async fn fields_of(app: &TestApp, key: &str, type_name: &str, nested: bool) -> Vec<String> {
    let query = "query($t:String!){ __type(name:$t){ fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let resp = app.gql_as(key, query, json!({ "t": type_name })).await;
    let mut out = Vec::new();
    for field in data(&resp)["__type"]["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        let mut ty = &field["type"];
        while ty["name"].is_null() {
            ty = &ty["ofType"];
        }
        if ty["kind"] == "OBJECT" {
            if nested {
                continue;
            }
            let inner = Box::pin(fields_of(app, key, ty["name"].as_str().unwrap(), true)).await;
            out.push(format!("{name} {{ {} }}", inner.join(" ")));
        } else {
            out.push(name.to_owned());
        }
    }
    out
}

/// `nodes` by id, from a list of objects.
fn by_id(list: &Value) -> Vec<(String, Value)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_owned(), n.clone()))
        .collect()
}

/// `edges { node }` of a connection, by id.
fn edge_nodes(connection: &Value) -> Vec<(String, Value)> {
    let nodes = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    by_id(&Value::Array(nodes))
}

/// Each record read alone by id through `field` (`patient` or `test`), by id.
async fn read_alone(
    app: &TestApp,
    key: &str,
    field: &str,
    sel: &str,
    ids: &[String],
) -> Vec<(String, Value)> {
    let q = format!("query($id:ID!){{ {field}(id:$id){{ id {sel} }} }}");
    let mut out = Vec::new();
    for id in ids {
        let resp = app.gql_as(key, &q, json!({ "id": id })).await;
        out.push((id.clone(), data(&resp)[field].clone()));
    }
    out
}

/// Moves a test on (the response must carry no errors).
async fn update_test(app: &TestApp, key: &str, id: &str, input: Value) {
    let update = "mutation($id:ID!,$i:UpdateTestInput!){ updateTest(id:$id, input:$i){ id } }";
    let resp = app
        .gql_as(key, update, json!({ "id": id, "i": input }))
        .await;
    data(&resp);
}

struct World {
    key: String,
    patients: Vec<String>,
    tests: Vec<String>,
}

/// Two patients: one with every field and an account, one with nothing optional and no
/// account; three tests: resulted with results, cancelled, and just ordered.
async fn world(app: &TestApp) -> World {
    let key = app.full_key().await;
    let (client, loc) = (&app.fx.client_a, &app.fx.loc_a1);
    let full = app
        .patient_id(
            &key,
            client,
            loc,
            json!({
                "externalPatientId": "EXT-1", "firstName": "Ada", "lastName": "Lovelace",
                "dateOfBirth": "1985-12-10", "sex": "FEMALE", "email": "ada@example.org",
                "phone": "+44 20 7946 0000", "address": "12 St James's Square, London",
                "diagnoses": ["J45"], "medications": ["salbutamol"],
                "insurance": "NHS", "billingAccount": "B-77"
            }),
        )
        .await;
    let bare = app.patient_id(&key, client, loc, json!({})).await;
    let resulted = app.test_id(&key, &full, "ACC-P1").await;
    for status in ["COLLECTED", "IN_PROGRESS"] {
        update_test(app, &key, &resulted, json!({ "status": status })).await;
    }
    let results = json!([{ "code": "718-7", "name": "Hemoglobin", "value": "13.5", "unit": "g/dL", "referenceRange": "12-16", "abnormalFlag": "NORMAL" }]);
    let input = json!({ "status": "RESULTED", "results": results });
    update_test(app, &key, &resulted, input).await;
    let cancelled = app.test_id(&key, &full, "ACC-P2").await;
    update_test(app, &key, &cancelled, json!({ "status": "CANCELLED" })).await;
    let ordered = app.test_id(&key, &bare, "ACC-P3").await;
    World {
        key,
        patients: vec![full, bare],
        tests: vec![resulted, cancelled, ordered],
    }
}

#[tokio::test]
async fn every_field_read_through_a_list_equals_the_record_read_alone() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let patient_fields = fields_of(&app, &w.key, "Patient", false).await;
    let test_fields = fields_of(&app, &w.key, "Test", false).await;
    assert!(patient_fields.len() >= 20 && test_fields.len() >= 15);
    let all_patient = patient_fields.join(" ");
    let all_test = test_fields.join(" ");

    // Each field alone, then all of them together.
    for sel in patient_fields.iter().chain([&all_patient]) {
        let whole = read_alone(&app, &w.key, "patient", sel, &w.patients).await;
        let q = format!(
            "query($c:ID!){{ patients(filter:{{clientId:$c}}){{ nodes {{ id {sel} }} edges {{ node {{ id ...P }} }} }} \
             byFragment: patients(filter:{{clientId:$c}}){{ nodes {{ ... on Patient {{ id {sel} }} }} }} }} \
             fragment P on Patient {{ {sel} }}"
        );
        let resp = app
            .gql_as(&w.key, &q, json!({ "c": app.fx.client_a }))
            .await;
        let d = data(&resp);
        for list in [
            by_id(&d["patients"]["nodes"]),
            edge_nodes(&d["patients"]),
            by_id(&d["byFragment"]["nodes"]),
        ] {
            assert_eq!(list, whole, "patient selection `{sel}`");
        }
    }

    for sel in test_fields.iter().chain([&all_test]) {
        let whole = read_alone(&app, &w.key, "test", sel, &w.tests).await;
        let q = format!(
            "query($c:ID!){{ tests(filter:{{clientId:$c}}){{ nodes {{ id {sel} }} edges {{ node {{ id {sel} }} }} }} \
             patients(filter:{{clientId:$c}}){{ nodes {{ tests {{ id {sel} }} other: tests {{ id }} }} }} }}"
        );
        let resp = app
            .gql_as(&w.key, &q, json!({ "c": app.fx.client_a }))
            .await;
        let d = data(&resp);
        let mut nested = Vec::new();
        for patient in d["patients"]["nodes"].as_array().unwrap() {
            nested.extend(by_id(&patient["tests"]));
            // An alias with another selection is loaded in the same batch, with its own columns.
            let other = patient["other"].as_array().unwrap();
            assert_eq!(other.len(), patient["tests"].as_array().unwrap().len());
        }
        for list in [by_id(&d["tests"]["nodes"]), edge_nodes(&d["tests"]), nested] {
            assert_eq!(list, whole, "test selection `{sel}`");
        }
    }

    // The nested patient of a test (batched by its own loader) against the patient alone.
    let q = format!(
        "query($c:ID!){{ tests(filter:{{clientId:$c}}){{ nodes {{ patient {{ id {all_patient} }} }} }} }}"
    );
    let resp = app
        .gql_as(&w.key, &q, json!({ "c": app.fx.client_a }))
        .await;
    let nested: Vec<Value> = data(&resp)["tests"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["patient"].clone())
        .collect();
    let nested = by_id(&Value::Array(nested));
    let ids: Vec<String> = nested.iter().map(|(id, _)| id.clone()).collect();
    let alone = read_alone(&app, &w.key, "patient", &all_patient, &ids).await;
    assert_eq!(nested, alone);
}

/// Lists resolve plain fields their own way (`graphql/types/plain.rs`); aliases, `__typename`
/// and a field asked twice must come out exactly as when the record is read alone.
#[tokio::test]
async fn aliases_typenames_and_repeated_fields_in_a_list_equal_the_record_read_alone() {
    let app = spawn_app().await;
    let w = world(&app).await;
    for sel in [
        "__typename first: firstName last: lastName tests { __typename code: testCode status s: status id }",
        "firstName firstName name: lastName tests { id id testCode }",
        // One key twice with different selections: the two must be merged.
        "tests { id } tests { testCode }",
    ] {
        let whole = read_alone(&app, &w.key, "patient", sel, &w.patients).await;
        let q = format!(
            "query($c:ID!){{ patients(filter:{{clientId:$c}}){{ nodes {{ id {sel} }} edges {{ node {{ id {sel} }} }} }} }}"
        );
        let resp = app
            .gql_as(&w.key, &q, json!({ "c": app.fx.client_a }))
            .await;
        let d = data(&resp);
        assert_eq!(by_id(&d["patients"]["nodes"]), whole, "`{sel}`");
        assert_eq!(edge_nodes(&d["patients"]), whole, "`{sel}`");
    }
}

/// On PostgreSQL, list rows are decoded by position without sqlx's per-value type check
/// (`store::pg_decode`); the types are checked once per query instead. A column whose type
/// drifted from the entity must fail the list with an error, not be read as text: an
/// integer's four bytes are valid UTF-8 and would come out as a garbled test code.
#[tokio::test]
async fn a_list_column_of_an_unexpected_type_is_an_error_not_garbage() {
    use sea_orm::ConnectionTrait;
    use switchboard_tests::{Backend, backend, codes};

    if backend() != Backend::Postgres {
        // SQLite's lists come as JSON (`store::list_fetch`), where a wrong type is a JSON
        // error that `store::json_array_decode`'s unit tests cover.
        return;
    }
    let app = spawn_app().await;
    let w = world(&app).await;
    let list = "query($c:ID!){ tests(filter:{clientId:$c}){ nodes { id testCode } } }";
    let vars = json!({ "c": app.fx.client_a });
    let before = app.gql_as(&w.key, list, vars.clone()).await;
    assert_eq!(data(&before)["tests"]["nodes"][0]["testCode"], "CBC");

    app.store()
        .conn()
        .execute_unprepared("ALTER TABLE lab_tests ALTER COLUMN test_code TYPE integer USING 7")
        .await
        .unwrap();
    let after = app.gql_as(&w.key, list, vars).await;
    assert_eq!(codes(&after), ["INTERNAL"], "{after}");
    assert!(
        after["data"].is_null() || after["data"]["tests"].is_null(),
        "{after}"
    );
}
