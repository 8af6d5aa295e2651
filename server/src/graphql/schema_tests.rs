//! The contract checks: the committed schema matches the code, and every field of it has an
//! access rule.

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

use crate::access::rules::{Rule, rule_for};

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
                Some(Rule::Scope(_) | Rule::AnyOf(_)) if !field.node.ty.node.nullable => {
                    nullable_violations.push(format!("{name}.{field_name}"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without an access rule in access/rules.rs: {missing:?}"
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
    for (ty, entries) in crate::access::rules::FIELD_RULES {
        for (field, _) in *entries {
            assert!(
                fields.contains(&format!("{ty}.{field}")),
                "rules.rs names {ty}.{field}, which the schema does not have"
            );
        }
    }
}
