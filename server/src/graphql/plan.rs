//! What a query document selects, worked out once per distinct query text.
//!
//! Why: the field guard (`guard.rs`) is an async-graphql extension, and any extension makes
//! async-graphql build resolve information and chain boxed futures around every field of every
//! object: for a page of 50 patients with their tests, about a thousand times per request
//! (a third of Q1's time, docs/benchmarks-history.md). Most requests select only fields their credential
//! may read. For those, the rules can be checked once, on the (type, field) pairs the document
//! selects, and the request can run on a schema without the extension. Anything refused, and
//! anything this module does not fully understand (directives, introspection, unknown types or
//! fields, fragment cycles), runs on the guarded schema, which refuses field by field.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};

use super::cost::{self, Exceeded, Refusal};
use super::field_types::FieldTypes;
use super::text_input;
use crate::config::RequestLimits;

use super::field_rules::field_rule;
use crate::access::Disclosure;
use crate::access::Principal;
use crate::access::rules::Rule;

/// Query texts kept at most; a full cache is emptied rather than grown (partners send a
/// handful of distinct queries, so it refills at once).
const MAX_ENTRIES: usize = 512;
/// Longer documents are planned each time instead of kept.
const MAX_CACHED_QUERY: usize = 16 * 1024;
/// Deeper nesting than the schema's own depth limit is left to the guarded path.
const MAX_DEPTH: usize = 32;

/// The rules one operation's fields need, or `None` when only the guarded path will do.
#[derive(Debug, PartialEq)]
pub struct Needs {
    rules: Vec<Rule>,
    /// Fields the operation selects that disclose patient data, for the read audit.
    pub patient_fields: Vec<(String, Disclosure)>,
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
    /// Why the document is refused whatever its variables (`cost::Refusal::Shape`); its
    /// operations were then not walked at all.
    pub refusal: Option<Exceeded>,
    /// Whether a string literal of the document holds a control character.
    pub control_character: bool,
}

/// Characters of the executed-operation label kept for the audit trail.
const OPERATION_MAX: usize = 200;

/// What a request executes, from its document, never from the caller's `operationName`: what
/// the audit trail records (`label`), `/metrics` counts and validation-only requests check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    /// The document does not parse.
    Invalid,
    /// The document holds no operation the request runs (several, and none named).
    Unknown,
    Operation {
        ty: OperationType,
        /// Its root fields, in the order first selected (root-level fragments followed).
        roots: Vec<String>,
    },
}

impl Executed {
    /// The audit trail's label: `query patients,test` (at most `OPERATION_MAX` characters),
    /// `invalid` or `unknown`.
    pub fn label(&self) -> String {
        let mut label = match self {
            Executed::Invalid => return "invalid".to_owned(),
            Executed::Unknown => return "unknown".to_owned(),
            Executed::Operation { ty, roots } => format!("{} {}", kind(*ty), roots.join(",")),
        };
        if label.len() > OPERATION_MAX {
            let mut end = OPERATION_MAX;
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            label.truncate(end);
        }
        label
    }
}

/// An operation type as GraphQL writes it.
pub fn kind(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

impl Plan {
    fn operation(&self, operation_name: Option<&str>) -> Option<&OperationDefinition> {
        match (&self.document.operations, operation_name) {
            (DocumentOperations::Single(op), _) => Some(&op.node),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().map(|op| &op.node)
            }
            (DocumentOperations::Multiple(_), None) => None,
        }
    }

    /// What the operation a request runs executes (`Executed`). Root-level fragments are
    /// followed, each once.
    pub fn executed(&self, operation_name: Option<&str>) -> Executed {
        let Some(op) = self.operation(operation_name) else {
            return Executed::Unknown;
        };
        let mut roots: Vec<String> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut stack = vec![&op.selection_set.node];
        while let Some(set) = stack.pop() {
            for item in &set.items {
                match &item.node {
                    Selection::Field(f) => {
                        let name = f.node.name.node.as_str();
                        if !roots.iter().any(|r| r == name) {
                            roots.push(name.to_owned());
                        }
                    }
                    Selection::InlineFragment(f) => stack.push(&f.node.selection_set.node),
                    Selection::FragmentSpread(s) => {
                        let name = s.node.fragment_name.node.as_str();
                        if !seen.contains(&name)
                            && let Some(fragment) = self.document.fragments.get(name)
                        {
                            seen.push(name);
                            stack.push(&fragment.node.selection_set.node);
                        }
                    }
                }
            }
        }
        Executed::Operation { ty: op.ty, roots }
    }

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
    pub types: FieldTypes,
    pub limits: RequestLimits,
    cache: Mutex<HashMap<String, Arc<Plan>>>,
}

impl Planner {
    pub fn new(sdl: &str, limits: RequestLimits) -> Planner {
        Planner {
            types: FieldTypes::from_sdl(sdl),
            limits,
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
        let plan = Arc::new(self.plan_document(document));
        if query.len() <= MAX_CACHED_QUERY {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(query.to_owned(), plan.clone());
        }
        Some(plan)
    }

    fn plan_document(&self, document: ExecutableDocument) -> Plan {
        // Shape first: walking the operations below is only safe once their expansion is
        // known to be bounded.
        if let Err(Refusal::Shape(why)) =
            cost::check(&document, &self.types, &Default::default(), &self.limits)
        {
            return Plan {
                document,
                operations: Vec::new(),
                refusal: Some(why),
                control_character: false,
            };
        }
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
        let control_character = text_input::in_document(&document);
        Plan {
            document,
            operations,
            refusal: None,
            control_character,
        }
    }

    fn needs(&self, doc: &ExecutableDocument, root: &str, set: &SelectionSet) -> Option<Needs> {
        let mut pairs = BTreeSet::new();
        self.walk(doc, root, set, 0, &mut pairs)?;
        let mut rules = Vec::new();
        let mut patient_fields = Vec::new();
        for (ty, field) in &pairs {
            // A field without a rule is refused by the guard; leave it to the guard.
            let (rule, disclosure) = field_rule(ty, field)?;
            if !rules.contains(&rule) {
                rules.push(rule);
            }
            match disclosure {
                Disclosure::None => {}
                d => patient_fields.push((field.clone(), d)),
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
                    let ty = &self.types.of(parent, name)?.ty;
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
        Planner::new(&crate::graphql::sdl(), RequestLimits::default())
    }

    fn plan(query: &str) -> Arc<Plan> {
        planner().plan(query).expect("parses")
    }

    #[test]
    fn what_executed_comes_from_the_document_and_its_label_is_bounded() {
        let p = plan(
            "query A { ...F viewer { id } } fragment F on Query { patients { totalCount } viewer { id } } \
             mutation B { logout }",
        );
        let a = p.executed(Some("A"));
        assert_eq!(
            a,
            Executed::Operation {
                ty: OperationType::Query,
                roots: vec!["viewer".into(), "patients".into()],
            }
        );
        assert_eq!(a.label(), "query viewer,patients");
        assert_eq!(p.executed(Some("B")).label(), "mutation logout");
        // Two operations and none named: async-graphql refuses it; nothing executed.
        assert_eq!(p.executed(None), Executed::Unknown);
        assert_eq!(Executed::Invalid.label(), "invalid");
        let long = Executed::Operation {
            ty: OperationType::Query,
            roots: vec!["é".repeat(150)],
        };
        assert!(long.label().len() <= OPERATION_MAX);
        assert!(long.label().starts_with("query é"));
    }

    fn key_with(scopes: &[Scope]) -> Principal {
        Principal {
            actor: crate::access::Actor::ApiKey {
                id: uuid::Uuid::nil(),
                name: "plan test".into(),
            },
            grant: crate::access::principal::Grant {
                scopes: scopes.iter().copied().collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn every_selected_field_counts_including_fragments_and_aliases() {
        let plan = plan(
            "query { a: patients { nodes { ...P ... on Patient { email } } } }
             fragment P on Patient { firstName tests { status } }",
        );
        let n = plan.needs(None).expect("plannable");
        let fields: Vec<&str> = n.patient_fields.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["email", "firstName", "tests"]);
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
