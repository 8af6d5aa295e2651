//! Control characters in string input, refused for every argument at once.
//!
//! Why: no field of ours means a NUL or a terminal escape, and some reach places that choke on
//! them (PostgreSQL refuses NUL in text and the error surfaced as INTERNAL). Checking every
//! string of a request here, before execution, covers every argument, present and future.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Value as ConstValue, Variables};

/// Line breaks and tabs are ordinary text (addresses, notes); every other control is not.
fn bad(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn const_has(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => bad(s),
        ConstValue::List(items) => items.iter().any(const_has),
        ConstValue::Object(map) => map.iter().any(|(k, v)| bad(k) || const_has(v)),
        _ => false,
    }
}

/// A literal argument, its variables left out (they are checked on their own).
macro_rules! literal_has {
    ($value:expr) => {
        $value
            .clone()
            .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
            .is_ok_and(|v| const_has(&v))
    };
}

fn set_has(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| {
        let directives = item
            .node
            .directives()
            .iter()
            .any(|d| d.node.arguments.iter().any(|(_, v)| literal_has!(v.node)));
        directives
            || match &item.node {
                Selection::Field(f) => {
                    f.node.arguments.iter().any(|(_, v)| literal_has!(v.node))
                        || set_has(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => set_has(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => false,
            }
    })
}

/// The name of the first variable holding a control character, as `$name`.
pub fn in_variables(variables: &Variables) -> Option<String> {
    variables
        .iter()
        .find(|(_, v)| const_has(v))
        .map(|(name, _)| format!("${name}"))
}

/// Whether a string literal of the document (an argument, a directive's argument, a
/// variable's default) holds a control character. Depends on the text alone, so it is
/// decided once per document (`plan`), not per request.
pub fn in_document(doc: &ExecutableDocument) -> bool {
    let in_operations = doc.operations.iter().any(|(_, op)| {
        set_has(&op.node.selection_set.node)
            || op.node.variable_definitions.iter().any(|d| {
                d.node
                    .default_value
                    .as_ref()
                    .is_some_and(|v| const_has(&v.node))
            })
    });
    in_operations
        || doc
            .fragments
            .values()
            .any(|f| set_has(&f.node.selection_set.node))
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn controls_are_found_in_literals_and_variables() {
        let doc =
            parse_query(r#"{ patients(filter: { name: "a\u0000b" }) { totalCount } }"#).unwrap();
        assert!(in_document(&doc));
        let doc = parse_query("query($e: String!) { login(email: $e, password: \"x\") { token } }")
            .unwrap();
        let vars = Variables::from_json(serde_json::json!({ "e": "a\u{1b}[31m@example.org" }));
        assert!(!in_document(&doc));
        assert_eq!(in_variables(&vars), Some("$e".into()));
        let vars = Variables::from_json(serde_json::json!({ "e": "line\nbreak\tand tab" }));
        assert_eq!(in_variables(&vars), None);
    }
}
