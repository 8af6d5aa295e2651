//! Schema introspection: whether a request asks for it, and the scope notes added to the
//! field descriptions it returns (from the one rule table, so the docs cannot drift from what
//! is enforced).

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};
use async_graphql::{Name, Value};

use super::field_rules::rule_for;
use crate::access::rules::describe;

fn selects_schema(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            name == "__schema" || name == "__type" || selects_schema(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => selects_schema(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// Whether the query reads the schema (`__schema` or `__type`; `__typename` is not schema
/// documentation). Parsed only when the text mentions them, so ordinary queries pay nothing.
pub fn asks_for_schema(query: &str) -> bool {
    if !query.contains("__schema") && !query.contains("__type") {
        return false;
    }
    let Ok(doc) = parse_query(query) else {
        // Unparseable: execution reports the syntax error, and nothing is disclosed.
        return false;
    };
    let in_operations = match &doc.operations {
        DocumentOperations::Single(op) => selects_schema(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => ops
            .values()
            .any(|op| selects_schema(&op.node.selection_set.node)),
    };
    in_operations
        || doc
            .fragments
            .values()
            .any(|f| selects_schema(&f.node.selection_set.node))
}

/// Appends each field's access rule to its description, wherever introspection output lists
/// a type's fields together with the type's `name` (as GraphiQL and other tools always ask).
pub fn annotate_scopes(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let type_name = match map.get("name") {
                Some(Value::String(name)) => Some(name.clone()),
                _ => None,
            };
            if let (Some(type_name), Some(Value::List(fields))) =
                (type_name, map.get_mut(&Name::new("fields")))
            {
                for field in fields.iter_mut() {
                    annotate_field(&type_name, field);
                }
            }
            for (_, child) in map.iter_mut() {
                annotate_scopes(child);
            }
        }
        Value::List(items) => items.iter_mut().for_each(annotate_scopes),
        _ => {}
    }
}

fn annotate_field(type_name: &str, field: &mut Value) {
    let Value::Object(map) = field else {
        return;
    };
    let Some(Value::String(name)) = map.get("name") else {
        return;
    };
    let Some(rule) = rule_for(type_name, name) else {
        return;
    };
    let key = Name::new("description");
    if !map.contains_key(&key) {
        return; // the client did not ask for descriptions
    }
    let note = describe(rule);
    let text = match map.get(&key) {
        Some(Value::String(existing)) if !existing.is_empty() => format!("{existing}\n\n{note}"),
        _ => note,
    };
    map.insert(key, Value::String(text));
}

#[cfg(test)]
mod tests {
    use super::asks_for_schema;

    #[test]
    fn only_schema_fields_count_as_introspection() {
        assert!(asks_for_schema("{ __schema { types { name } } }"));
        assert!(asks_for_schema(
            "query { x: __type(name: \"Patient\") { name } }"
        ));
        assert!(asks_for_schema(
            "query { ...F } fragment F on Query { __schema { queryType { name } } }"
        ));
        assert!(!asks_for_schema("{ patients { nodes { __typename id } } }"));
        assert!(!asks_for_schema("{ viewer { kind } }"));
    }
}
