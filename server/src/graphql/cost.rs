//! What a document may cost, decided before anything runs, in time linear in its size.
//!
//! Why: fragments can spread other fragments many times over, so a document of a few hundred
//! bytes can stand for billions of fields; anything that walks it naively (async-graphql's own
//! validation and depth checks, our planner) takes exponential time before refusing it. Here
//! each fragment is summed once and reused (memoised), the document's own size is capped
//! (selections, aliases, fragments, directives), and only then are depth, fields, complexity
//! and rows estimated for what the document expands to. Lists count their page size.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Value as ConstValue, Variables};

use super::field_types::{FieldTypes, Many};
use crate::config::RequestLimits;

// Depth, aliases, complexity and page sizes are the operator's (`RequestLimits`); these
// bound the work of costing a document itself.

/// Fields, fragment spreads and inline fragments written in one document.
pub const MAX_SELECTIONS: usize = 1_000;
pub const MAX_FRAGMENTS: usize = 100;
pub const MAX_DIRECTIVES: usize = 100;
/// Fields the document stands for once every fragment is expanded.
pub const MAX_FIELDS: u64 = 2_000;
/// Nesting below `__schema` / `__type`: standard tools' introspection query needs about 15.
pub const MAX_SCHEMA_DEPTH: u32 = 20;
/// Records a document may return, estimated from page sizes (a plain list counts
/// `ASSUMED_LIST` items). `access` also counts the rows really returned, with the same bound.
pub const MAX_ROWS: u64 = crate::access::MAX_ROWS_RETURNED as u64;
/// Items assumed for a list without a page size (a patient's tests, a client's locations).
const ASSUMED_LIST: u64 = 10;

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The document's shape, whatever its variables: the same text is always refused.
    Shape(Exceeded),
    /// What it would load with these variables.
    Load(Exceeded),
}

/// Which limit a document is over, and what to tell its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The limit's name in `extensions.limit`: stable, for the caller's code.
    pub limit: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn exceeded(self) -> Exceeded {
        match self {
            Refusal::Shape(e) | Refusal::Load(e) => e,
        }
    }
}

fn shape(limit: &'static str, message: String) -> Refusal {
    Refusal::Shape(Exceeded { limit, message })
}

fn load(limit: &'static str, message: String) -> Refusal {
    Refusal::Load(Exceeded { limit, message })
}

#[derive(Clone, Copy, Default)]
struct Summary {
    fields: u64,
    depth: u32,
    schema_depth: u32,
    complexity: u64,
    rows: u64,
}

impl Summary {
    /// `same_rows`: the selections are views of the same records (a connection's `nodes`
    /// and `edges`, or aliases of them), so their rows are not added up.
    fn add(&mut self, other: Summary, same_rows: bool) {
        self.fields = self.fields.saturating_add(other.fields);
        self.depth = self.depth.max(other.depth);
        self.schema_depth = self.schema_depth.max(other.schema_depth);
        self.complexity = self.complexity.saturating_add(other.complexity);
        self.rows = if same_rows {
            self.rows.max(other.rows)
        } else {
            self.rows.saturating_add(other.rows)
        };
    }
}

/// Counts what the document's text holds, without expanding anything.
fn count_text(doc: &ExecutableDocument, limits: &RequestLimits) -> Result<(), Refusal> {
    if doc.fragments.len() > MAX_FRAGMENTS {
        return Err(shape(
            "fragments",
            format!("the document defines more than {MAX_FRAGMENTS} fragments"),
        ));
    }
    let mut selections = 0usize;
    let mut aliases = 0usize;
    let mut directives = 0usize;
    let mut stack: Vec<&SelectionSet> = Vec::new();
    for (_, op) in doc.operations.iter() {
        directives += op.node.directives.len();
        stack.push(&op.node.selection_set.node);
    }
    for fragment in doc.fragments.values() {
        directives += fragment.node.directives.len();
        stack.push(&fragment.node.selection_set.node);
    }
    while let Some(set) = stack.pop() {
        selections += set.items.len();
        for item in &set.items {
            directives += item.node.directives().len();
            match &item.node {
                Selection::Field(f) => {
                    aliases += usize::from(f.node.alias.is_some());
                    stack.push(&f.node.selection_set.node);
                }
                Selection::InlineFragment(f) => stack.push(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let over = |what: &'static str, n: usize, max: usize| {
        (n > max).then(|| shape(what, format!("the document has {n} {what}; at most {max}")))
    };
    if let Some(r) = over("selections", selections, MAX_SELECTIONS)
        .or_else(|| over("aliases", aliases, limits.max_aliases))
        .or_else(|| over("directives", directives, MAX_DIRECTIVES))
    {
        return Err(r);
    }
    Ok(())
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    types: &'a FieldTypes,
    variables: &'a Variables,
    /// Pages larger than this are refused by the resolvers; costed at this size.
    max_page: u64,
    /// Fragment name → its summary; `None` while it is being summed (a cycle).
    memo: HashMap<&'a str, Option<Summary>>,
}

impl<'a> Walk<'a> {
    fn set(
        &mut self,
        parent: &str,
        set: &'a SelectionSet,
        in_schema: bool,
    ) -> Result<Summary, Refusal> {
        let mut sum = Summary::default();
        let same_rows = parent.ends_with("Connection") || parent.ends_with("Edge");
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let schema = in_schema || name == "__schema" || name == "__type";
                    let info = self.types.of(parent, name);
                    let child_type = info.map_or("", |i| i.ty.as_str());
                    let child = self.set(child_type, &field.selection_set.node, schema)?;
                    // Items of a connection's `edges`/`nodes` were counted by the connection.
                    let many = if parent.ends_with("Connection") {
                        Many::One
                    } else {
                        info.map_or(Many::One, |i| i.many)
                    };
                    let n = match many {
                        Many::One => 1,
                        Many::List => ASSUMED_LIST,
                        Many::Page { default_first } => field
                            .arguments
                            .iter()
                            .find(|(arg, _)| arg.node == "first")
                            .map_or(Some(default_first), |(_, v)| {
                                // A literal, or a variable's value; anything else costs
                                // the largest page.
                                let value = v.node.clone().into_const_with(|name| {
                                    self.variables.get(&name).cloned().ok_or(())
                                });
                                match value {
                                    Ok(ConstValue::Number(n)) => n.as_u64(),
                                    _ => None,
                                }
                            })
                            .unwrap_or(self.max_page)
                            .min(self.max_page),
                    };
                    let record = info.is_some_and(|i| i.record);
                    let rows = if matches!(many, Many::One) || schema || !record {
                        0
                    } else {
                        n
                    };
                    sum.add(
                        Summary {
                            fields: child.fields.saturating_add(1),
                            depth: if schema { 0 } else { child.depth + 1 },
                            schema_depth: if schema {
                                child.depth.max(child.schema_depth) + 1
                            } else {
                                child.schema_depth
                            },
                            complexity: child.complexity.saturating_mul(n).saturating_add(1),
                            rows: child.rows.saturating_mul(n).saturating_add(rows),
                        },
                        same_rows,
                    );
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    let on = on.to_owned();
                    sum.add(
                        self.set(&on, &inline.selection_set.node, in_schema)?,
                        same_rows,
                    );
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    sum.add(self.fragment(name, in_schema)?, same_rows);
                }
            }
            if sum.fields > MAX_FIELDS {
                return Err(shape(
                    "fields",
                    format!("the document expands to more than {MAX_FIELDS} fields"),
                ));
            }
        }
        Ok(sum)
    }

    fn fragment(&mut self, name: &'a str, in_schema: bool) -> Result<Summary, Refusal> {
        match self.memo.get(name) {
            Some(Some(done)) => return Ok(*done),
            Some(None) => {
                return Err(shape(
                    "fragments",
                    format!("fragment `{name}` spreads itself"),
                ));
            }
            None => {}
        }
        // An unknown fragment is async-graphql's to report; it adds nothing here.
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(Summary::default());
        };
        self.memo.insert(name, None);
        let on = fragment.node.type_condition.node.on.node.as_str();
        // A fragment is summed once, in the first place it is spread; introspection fragments
        // are only ever spread below `__schema`/`__type`, data ones only outside.
        let sum = self.set(
            on,
            &fragment.node.selection_set.node,
            in_schema || on.starts_with("__"),
        )?;
        self.memo.insert(name, Some(sum));
        Ok(sum)
    }
}

/// Refuses a document whose text, or whose expansion with these variables, is over a limit.
/// Every operation is checked: validation walks them all, whichever one runs.
pub fn check(
    doc: &ExecutableDocument,
    types: &FieldTypes,
    variables: &Variables,
    limits: &RequestLimits,
) -> Result<(), Refusal> {
    count_text(doc, limits)?;
    let mut walk = Walk {
        doc,
        types,
        variables,
        max_page: u64::from(limits.max_page_size),
        memo: HashMap::new(),
    };
    let operations: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node).collect(),
    };
    for op in operations {
        let root = match op.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        };
        let sum = walk.set(root, &op.selection_set.node, false)?;
        if sum.depth > limits.max_depth {
            return Err(shape(
                "depth",
                format!(
                    "the document nests fields {} deep; at most {}",
                    sum.depth, limits.max_depth
                ),
            ));
        }
        if sum.schema_depth > MAX_SCHEMA_DEPTH {
            return Err(shape(
                "schemaDepth",
                format!(
                    "the document nests schema fields {} deep; at most {MAX_SCHEMA_DEPTH}",
                    sum.schema_depth
                ),
            ));
        }
        if sum.complexity > limits.max_complexity {
            return Err(load(
                "complexity",
                format!(
                    "the document would resolve about {} fields; at most {} (ask for smaller pages)",
                    sum.complexity, limits.max_complexity
                ),
            ));
        }
        if sum.rows > MAX_ROWS {
            return Err(load(
                "rows",
                format!(
                    "the document could return about {} records; at most {MAX_ROWS} (ask for smaller pages)",
                    sum.rows
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use async_graphql::parser::parse_query;

    use super::*;

    fn run(query: &str) -> Result<(), Refusal> {
        let types = FieldTypes::from_sdl(&crate::graphql::sdl());
        check(
            &parse_query(query).unwrap(),
            &types,
            &Variables::default(),
            &RequestLimits::default(),
        )
    }

    #[test]
    fn ordinary_queries_pass() {
        run("{ patients(first: 100) { totalCount nodes { id firstName tests { id status results { code value } } } } }").unwrap();
        run("query($id: ID!) { patient(id: $id) { id firstName tests { id } } }").unwrap();
    }

    #[test]
    fn doubling_fragments_are_refused_at_once() {
        let mut doc = String::from("query { ...F0 }\n");
        for i in 0..40 {
            doc += &format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1);
        }
        doc += "fragment F40 on Query { viewer { kind } }";
        let t = Instant::now();
        let refused = run(&doc).unwrap_err();
        assert!(matches!(refused, Refusal::Shape(_)), "{refused:?}");
        assert!(t.elapsed().as_millis() < 50, "{:?}", t.elapsed());
    }

    #[test]
    fn page_sizes_count() {
        let many: String = (0..60)
            .map(|i| format!("a{i}: patients(first: 100) {{ nodes {{ id }} }} "))
            .collect();
        assert!(matches!(
            run(&format!("{{ {many} }}")),
            Err(Refusal::Load(_))
        ));
        let few: String = (0..5)
            .map(|i| format!("a{i}: patients(first: 100) {{ nodes {{ id }} }} "))
            .collect();
        run(&format!("{{ {few} }}")).unwrap();
    }

    #[test]
    fn cycles_and_depth_are_refused() {
        assert!(run("{ ...A } fragment A on Query { ...A }").is_err());
        let deep = "{ patients { nodes { tests { patient { tests { patient { tests { patient { tests { patient { tests { id } } } } } } } } } } } }";
        assert!(matches!(run(deep), Err(Refusal::Shape(_))));
    }
}
