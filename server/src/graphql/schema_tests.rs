//! The contract checks: the committed schema matches the code, and every field of it has an
//! access rule.

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

use super::field_rules::{self, rule_for};
use crate::access::rules::Rule;

const COMMITTED: &str = include_str!("../../../schema.graphql");

#[test]
fn committed_schema_matches_the_code() {
    let current = super::sdl();
    assert!(
        current == COMMITTED,
        "schema.graphql is out of date. If the change is intended, run\n  cargo run -q --bin switchboard -- export-schema > schema.graphql\nand review the diff: removing or retyping a field breaks partners."
    );
}

#[test]
fn every_object_field_has_an_access_rule() {
    let doc = parse_schema(super::sdl()).expect("the schema parses");
    let mut missing = Vec::new();
    let mut nullable_violations = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let name = ty.node.name.node.as_str();
        let TypeKind::Object(object) = &ty.node.kind else {
            continue;
        };
        for field in &object.fields {
            let field_name = field.node.name.node.as_str();
            match rule_for(name, field_name) {
                None => missing.push(format!("{name}.{field_name}")),
                // A refused data field is answered with null; it must be nullable so that
                // the refusal does not wipe out its parent.
                Some(Rule::Scope(_) | Rule::AnyOf(_) | Rule::AllOf(_))
                    if !field.node.ty.node.nullable =>
                {
                    nullable_violations.push(format!("{name}.{field_name}"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without an access rule (a record's declaration or access/rules.rs): {missing:?}"
    );
    assert!(
        nullable_violations.is_empty(),
        "scope-guarded fields must be nullable: {nullable_violations:?}"
    );
}

#[test]
fn the_rule_table_names_no_field_that_does_not_exist() {
    let sdl = super::sdl();
    let doc = parse_schema(&sdl).expect("the schema parses");
    let mut fields = std::collections::HashSet::new();
    for def in &doc.definitions {
        if let TypeSystemDefinition::Type(ty) = def
            && let TypeKind::Object(object) = &ty.node.kind
        {
            for f in &object.fields {
                fields.insert(format!("{}.{}", ty.node.name.node, f.node.name.node));
            }
        }
    }
    for (ty, field) in field_rules::all() {
        assert!(
            fields.contains(&format!("{ty}.{field}")),
            "a rule names {ty}.{field}, which the schema does not have"
        );
    }
}

#[test]
fn record_declarations_name_existing_columns() {
    assert!(super::types::patient::Patient::declared_columns_exist());
    assert!(super::types::test::Test::declared_columns_exist());
}

mod portal_scopes {
    include!("../../../portal/src/scopes.rs");
}

/// The portal's operations; it derives its types from them at compile time too.
const PORTAL_OPERATIONS: &str = include_str!("../../../portal/src/operations.graphql");

#[test]
fn the_portal_offers_exactly_the_server_scopes() {
    let mut offered: Vec<&str> = portal_scopes::PERMISSION_SCOPES
        .iter()
        .chain(portal_scopes::CATEGORY_SCOPES)
        .copied()
        .collect();
    offered.sort_unstable();
    let mut known: Vec<&str> = crate::domain::scope::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    known.sort_unstable();
    assert_eq!(
        offered, known,
        "portal/src/scopes.rs lists other scopes than the server knows"
    );
}

#[test]
fn every_offered_scope_is_described_and_presets_name_offered_scopes() {
    let offered: Vec<&str> = portal_scopes::PERMISSION_SCOPES
        .iter()
        .chain(portal_scopes::CATEGORY_SCOPES)
        .copied()
        .collect();
    let described: Vec<&str> = portal_scopes::SCOPE_HELP.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        described, offered,
        "one line of help per scope, in the form's order"
    );
    for (id, _, scopes) in portal_scopes::PRESETS {
        assert!(
            scopes.iter().all(|s| offered.contains(s)),
            "preset {id} names a scope the form does not offer"
        );
    }
}

/// Stops after parsing and validation: the documents are checked, nothing is executed.
struct ValidateOnly;

impl async_graphql::extensions::ExtensionFactory for ValidateOnly {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ValidateOnly)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ValidateOnly {
    async fn execute(
        &self,
        _ctx: &async_graphql::extensions::ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: async_graphql::extensions::NextExecute<'_>,
    ) -> async_graphql::Response {
        async_graphql::Response::new(async_graphql::Value::Null)
    }
}

#[tokio::test]
async fn every_portal_document_is_valid_against_the_schema() {
    let schema = async_graphql::Schema::build(
        super::query::Query::default(),
        super::mutation::Mutation::default(),
        async_graphql::EmptySubscription,
    )
    .extension(ValidateOnly)
    .finish();
    let doc = async_graphql::parser::parse_query(PORTAL_OPERATIONS)
        .expect("the portal's operations parse");
    let names: Vec<String> = doc
        .operations
        .iter()
        .filter_map(|(n, _)| n.map(|n| n.to_string()))
        .collect();
    assert!(names.len() >= 10, "every operation is named: {names:?}");
    for name in names {
        let request = async_graphql::Request::new(PORTAL_OPERATIONS).operation_name(&name);
        let resp = schema.execute(request).await;
        assert!(
            resp.errors.is_empty(),
            "the portal's {name} does not fit the schema: {:?}",
            resp.errors
        );
    }
    // The check itself can fail: a document asking for a field that does not exist.
    let resp = schema.execute("query { viewer { noSuchField } }").await;
    assert!(!resp.errors.is_empty());
}

#[tokio::test]
async fn introspection_documents_every_type_field_and_argument_with_its_rule() {
    let schema = super::build_schema();
    let query = r#"{ __schema { types { name kind description
        fields { name description args { name description } }
        inputFields { name description } } } }"#;
    let mut resp = schema.execute(query).await;
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    super::introspection::annotate_scopes(&mut resp.data);
    let json = resp.data.into_json().expect("json");
    let mut undocumented = Vec::new();
    for ty in json["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().unwrap_or("");
        if name.starts_with("__") || ty["kind"] == "SCALAR" {
            continue;
        }
        let described = |v: &serde_json::Value| v.as_str().is_some_and(|d| !d.trim().is_empty());
        if !described(&ty["description"]) {
            undocumented.push(name.to_owned());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let f = field["name"].as_str().unwrap_or("");
            if !described(&field["description"]) {
                undocumented.push(format!("{name}.{f}"));
            }
            if let Some(rule) = rule_for(name, f) {
                let note = crate::access::rules::describe(rule);
                assert!(
                    field["description"]
                        .as_str()
                        .is_some_and(|d| d.contains(&note)),
                    "{name}.{f} does not state its rule"
                );
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(&arg["description"]) {
                    undocumented.push(format!(
                        "{name}.{f}({})",
                        arg["name"].as_str().unwrap_or("")
                    ));
                }
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            if !described(&field["description"]) {
                undocumented.push(format!("{name}.{}", field["name"].as_str().unwrap_or("")));
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}
