use serde_json::json;
use switchboard_tests::{data, spawn_app};

#[tokio::test]
async fn a_valid_email_gets_an_account_and_anything_else_does_not() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let cases = [
        (
            json!({ "email": "pat@example.org" }),
            json!({ "hasAccount": true, "status": "INVITED", "reason": null }),
        ),
        (
            json!({}),
            json!({ "hasAccount": false, "status": "NONE", "reason": "NO_EMAIL" }),
        ),
        (
            json!({ "email": "" }),
            json!({ "hasAccount": false, "status": "NONE", "reason": "NO_EMAIL" }),
        ),
        (
            json!({ "email": "not-an-address" }),
            json!({ "hasAccount": false, "status": "NONE", "reason": "INVALID_EMAIL" }),
        ),
        (
            json!({ "email": "two@@example.org" }),
            json!({ "hasAccount": false, "status": "NONE", "reason": "INVALID_EMAIL" }),
        ),
    ];
    for (fields, expected) in cases {
        let resp = app
            .create_patient(&key, &app.fx.client_a, &app.fx.loc_a1, fields.clone())
            .await;
        let created = &data(&resp)["createPatient"];
        assert_eq!(created["account"], expected, "{fields}");
        let id = created["patient"]["id"].as_str().unwrap();
        let resp = app
            .gql_as(
                &key,
                "query($id:ID!){ patient(id:$id){ hasAccount accountStatus accountReason } }",
                json!({ "id": id }),
            )
            .await;
        let p = &data(&resp)["patient"];
        assert_eq!(p["hasAccount"], expected["hasAccount"]);
        assert_eq!(p["accountReason"], expected["reason"]);
    }
}

#[tokio::test]
async fn adding_a_valid_email_later_creates_the_account() {
    let app = spawn_app().await;
    let key = app.full_key().await;
    let id = app
        .patient_id(&key, &app.fx.client_a, &app.fx.loc_a1, json!({}))
        .await;
    let update = "mutation($id:ID!,$e:String){ updatePatient(id:$id, input:{ email:$e }){ account { hasAccount status reason } } }";
    let resp = app
        .gql_as(&key, update, json!({ "id": id, "e": "still wrong" }))
        .await;
    assert_eq!(
        data(&resp)["updatePatient"]["account"],
        json!({ "hasAccount": false, "status": "NONE", "reason": "INVALID_EMAIL" })
    );
    let resp = app
        .gql_as(&key, update, json!({ "id": id, "e": "later@example.org" }))
        .await;
    assert_eq!(
        data(&resp)["updatePatient"]["account"],
        json!({ "hasAccount": true, "status": "INVITED", "reason": null })
    );
}
