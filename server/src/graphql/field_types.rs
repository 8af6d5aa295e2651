//! What the schema says about each object field, read once from its SDL: the type it returns
//! and how many rows it can return. The planner (`plan`) and the cost check (`cost`) walk
//! documents with it.

use std::collections::HashMap;

use async_graphql::Value as ConstValue;
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

/// How many items a field returns, for the cost of what is selected below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Many {
    One,
    /// A plain list (`[Test]`): its length is the data's.
    List,
    /// A connection: its `first` argument, with this default.
    Page {
        default_first: u64,
    },
}

#[derive(Clone, Debug)]
pub struct FieldInfo {
    pub ty: String,
    pub many: Many,
    /// Whether each item is a record of its own (an object with an `id`), not a value
    /// embedded in its parent (a test's result lines, a patient's diagnoses).
    pub record: bool,
}

pub struct FieldTypes(HashMap<String, HashMap<String, FieldInfo>>);

impl FieldTypes {
    pub fn from_sdl(sdl: &str) -> FieldTypes {
        let mut types: HashMap<String, HashMap<String, FieldInfo>> = HashMap::new();
        // The SDL comes from our own schema; if it ever failed to parse, no field would have a
        // known type: every request would take the guarded path and cost the most.
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
                        let mut list = false;
                        while let BaseType::List(inner) = base {
                            list = true;
                            base = &inner.base;
                        }
                        let BaseType::Named(name) = base else {
                            unreachable!("list types were unwrapped above")
                        };
                        let first = f
                            .node
                            .arguments
                            .iter()
                            .find(|a| a.node.name.node == "first");
                        let many = match first {
                            Some(arg) if name.ends_with("Connection") => Many::Page {
                                default_first: match arg
                                    .node
                                    .default_value
                                    .as_ref()
                                    .map(|v| &v.node)
                                {
                                    Some(ConstValue::Number(n)) => n.as_u64().unwrap_or(0),
                                    _ => 0,
                                },
                            },
                            _ if list => Many::List,
                            _ => Many::One,
                        };
                        let info = FieldInfo {
                            ty: name.to_string(),
                            many,
                            record: false,
                        };
                        (f.node.name.node.to_string(), info)
                    })
                    .collect();
                types.insert(ty.node.name.node.to_string(), fields);
            }
        }
        // A second pass: which types have an `id` is known once every type is read.
        let with_id: Vec<String> = types
            .iter()
            .filter(|(_, fields)| fields.contains_key("id"))
            .map(|(name, _)| name.clone())
            .collect();
        for fields in types.values_mut() {
            for info in fields.values_mut() {
                info.record =
                    with_id.contains(&info.ty) || (matches!(info.many, Many::Page { .. }));
            }
        }
        FieldTypes(types)
    }

    pub fn of(&self, parent: &str, field: &str) -> Option<&FieldInfo> {
        self.0.get(parent)?.get(field)
    }
}
