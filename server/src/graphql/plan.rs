//! What a query document selects, worked out once per distinct query text.
//!
//! Why: the field guard (`guard.rs`) is an async-graphql extension, and any extension makes
//! async-graphql build resolve information and chain boxed futures around every field of every
//! object: for a page of 50 patients with their tests, about a thousand times per request
//! (a third of Q1's time, BENCHMARKS.md). Most requests select only fields their credential
//! may read. For those, the rules can be checked once, on the (type, field) pairs the document
//! selects, and the request can run on a schema without the extension. Anything refused, and
//! anything this module does not fully understand (directives, introspection, unknown types or
//! fields, fragment cycles), runs on the guarded schema, which refuses field by field.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{parse_query, parse_schema};

use crate::access::Principal;
use crate::access::rules::{Rule, rule_for};

/// Query texts kept at most; a full cache is emptied rather than grown (partners send a
/// handful of distinct queries, so it refills at once).
const MAX_ENTRIES: usize = 512;
/// Longer documents are planned each time instead of kept.
const MAX_CACHED_QUERY: usize = 16 * 1024;
/// Deeper nesting than the schema's own depth limit is left to the guarded path.
const MAX_DEPTH: usize = 32;

/// Field return types of the schema's object types, read from its SDL.
struct FieldTypes(HashMap<String, HashMap<String, String>>);

impl FieldTypes {
    fn from_sdl(sdl: &str) -> FieldTypes {
        let mut types = HashMap::new();
        // The SDL comes from our own schema; if it ever failed to parse, no field would have a
        // known type and every request would take the guarded path.
        if let Ok(doc) = parse_schema(sdl) {
            for def in doc.definitions {
                let TypeSystemDefinition::Type(ty) = def else {
                    continue;
                };
                let TypeKind::Object(object) = &ty.node.kind else {
                    continue;
                };
                let fields = object
                    .fields
                    .iter()
                    .map(|f| {
                        let mut base = &f.node.ty.node.base;
                        while let BaseType::List(inner) = base {
                            base = &inner.base;
                        }
                        let BaseType::Named(name) = base else {
                            unreachable!("list types were unwrapped above")
                        };
                        (f.node.name.node.to_string(), name.to_string())
                    })
                    .collect();
                types.insert(ty.node.name.node.to_string(), fields);
            }
        }
        FieldTypes(types)
    }

    fn of(&self, parent: &str, field: &str) -> Option<&str> {
        self.0.get(parent)?.get(field).map(String::as_str)
    }
}

/// The rules one operation's fields need, or `None` when only the guarded path will do.
#[derive(Debug, PartialEq)]
pub struct Needs {
    rules: Vec<Rule>,
    /// Patient fields the operation selects, for the read audit.
    pub patient_fields: Vec<String>,
}

impl Needs {
    /// Whether the principal may read every field the operation selects.
    pub fn allowed_for(&self, principal: &Principal) -> bool {
        self.rules.iter().all(|rule| principal.check(rule).is_ok())
    }
}

pub struct Plan {
    pub document: ExecutableDocument,
    operations: Vec<(Option<String>, Option<Needs>)>,
}

impl Plan {
    /// The needs of the operation a request runs, as async-graphql picks it: the named one,
    /// or the only one.
    pub fn needs(&self, operation_name: Option<&str>) -> Option<&Needs> {
        let found = match operation_name {
            Some(name) => self
                .operations
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name)),
            None if self.operations.len() == 1 => self.operations.first(),
            None => None,
        };
        found.and_then(|(_, needs)| needs.as_ref())
    }
}

pub struct Planner {
    types: FieldTypes,
    cache: Mutex<HashMap<String, Arc<Plan>>>,
}

impl Planner {
    pub fn new(sdl: &str) -> Planner {
        Planner {
            types: FieldTypes::from_sdl(sdl),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The plan of a query text; `None` when it does not parse (async-graphql then reports
    /// the syntax error itself).
    pub fn plan(&self, query: &str) -> Option<Arc<Plan>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plan) = cache.get(query) {
            return Some(plan.clone());
        }
        drop(cache);
        let document = parse_query(query).ok()?;
        let operations = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, &op.node)],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| (Some(name.to_string()), &op.node))
                .collect(),
        };
        let operations = operations
            .into_iter()
            .map(|(name, op)| {
                let root = match op.ty {
                    OperationType::Query => "Query",
                    OperationType::Mutation => "Mutation",
                    OperationType::Subscription => return (name, None),
                };
                let needs = op
                    .directives
                    .is_empty()
                    .then(|| self.needs(&document, root, &op.selection_set.node))
                    .flatten();
                (name, needs)
            })
            .collect();
        let plan = Arc::new(Plan {
            document,
            operations,
        });
        if query.len() <= MAX_CACHED_QUERY {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(query.to_owned(), plan.clone());
        }
        Some(plan)
    }

    fn needs(&self, doc: &ExecutableDocument, root: &str, set: &SelectionSet) -> Option<Needs> {
        let mut pairs = BTreeSet::new();
        self.walk(doc, root, set, 0, &mut pairs)?;
        let mut rules = Vec::new();
        let mut patient_fields = Vec::new();
        for (ty, field) in &pairs {
            // A field without a rule is refused by the guard; leave it to the guard.
            let rule = rule_for(ty, field)?;
            if !rules.contains(&rule) {
                rules.push(rule);
            }
            if ty == "Patient" {
                patient_fields.push(field.clone());
            }
        }
        Some(Needs {
            rules,
            patient_fields,
        })
    }

    /// Collects every (parent type, field) the selection set can resolve; `None` for anything
    /// that must go through the guard.
    fn walk(
        &self,
        doc: &ExecutableDocument,
        parent: &str,
        set: &SelectionSet,
        depth: usize,
        out: &mut BTreeSet<(String, String)>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !field.directives.is_empty() {
                        return None;
                    }
                    let name = field.name.node.as_str();
                    if name == "__typename" {
                        continue;
                    }
                    let ty = self.types.of(parent, name)?;
                    out.insert((parent.to_owned(), name.to_owned()));
                    if !field.selection_set.node.items.is_empty() {
                        self.walk(doc, ty, &field.selection_set.node, depth + 1, out)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !spread.node.directives.is_empty() {
                        return None;
                    }
                    let fragment = &doc.fragments.get(&spread.node.fragment_name.node)?.node;
                    if !fragment.directives.is_empty() {
                        return None;
                    }
                    let on = fragment.type_condition.node.on.node.as_str();
                    self.walk(doc, on, &fragment.selection_set.node, depth + 1, out)?;
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    if !inline.directives.is_empty() {
                        return None;
                    }
                    let on = match &inline.type_condition {
                        Some(cond) => cond.node.on.node.as_str(),
                        None => parent,
                    };
                    self.walk(doc, on, &inline.selection_set.node, depth + 1, out)?;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scope::Scope;

    fn planner() -> Planner {
        Planner::new(&crate::graphql::sdl())
    }

    fn plan(query: &str) -> Arc<Plan> {
        planner().plan(query).expect("parses")
    }

    fn key_with(scopes: &[Scope]) -> Principal {
        Principal {
            actor: crate::access::Actor::ApiKey {
                id: uuid::Uuid::nil(),
                name: "plan test".into(),
            },
            scopes: scopes.iter().copied().collect(),
            rows: crate::domain::row_scope::RowScope::unrestricted(),
        }
    }

    #[test]
    fn every_selected_field_counts_including_fragments_and_aliases() {
        let plan = plan(
            "query { a: patients { nodes { ...P ... on Patient { email } } } }
             fragment P on Patient { firstName tests { status } }",
        );
        let n = plan.needs(None).expect("plannable");
        assert_eq!(n.patient_fields, ["email", "firstName", "tests"]);
        let demographics = key_with(&[Scope::PatientsRead, Scope::DemographicsRead]);
        assert!(!n.allowed_for(&demographics), "email needs contact:read");
        let contact = key_with(&[
            Scope::PatientsRead,
            Scope::DemographicsRead,
            Scope::ContactRead,
            Scope::TestsRead,
        ]);
        assert!(n.allowed_for(&contact));
    }

    #[test]
    fn what_is_not_understood_goes_to_the_guard() {
        for query in [
            "{ patients { nodes { email @include(if: true) } } }",
            "{ __schema { types { name } } }",
            "{ patients { nodes { noSuchField } } }",
            "{ patients { nodes { ...Missing } } }",
            "query { patients { nodes { ...A } } } fragment A on Patient { ...A }",
        ] {
            assert_eq!(plan(query).needs(None), None, "{query}");
        }
    }

    #[test]
    fn the_named_operation_is_the_one_planned() {
        let plan = planner()
            .plan("query A { viewer { kind } } query B { apiKeys { id } }")
            .unwrap();
        let admin_only = plan.needs(Some("B")).unwrap();
        assert!(!admin_only.allowed_for(&key_with(&[Scope::PatientsRead])));
        assert!(
            plan.needs(Some("A"))
                .unwrap()
                .allowed_for(&key_with(&[Scope::PatientsRead]))
        );
        assert!(plan.needs(None).is_none(), "ambiguous without a name");
        assert!(plan.needs(Some("C")).is_none());
    }
}
