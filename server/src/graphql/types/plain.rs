//! A faster way to resolve the objects of long lists (a page of patients, each patient's tests).
//!
//! async-graphql resolves every field of every object as a boxed future of its own, with a
//! context, a name lookup and a join, even when the field only copies a value out of the row:
//! about a thousand of them for a page of 50 patients with their tests, which was the largest
//! cost of Q1 after the database (docs/benchmarks-history.md). `Plain<T>` is the same GraphQL type as `T`
//! (same name, same fields, nothing new in the schema) whose plain fields are copied into the
//! response directly; every other field still goes through `T`'s own resolver.
//!
//! It only takes the short way when the request runs unguarded, that is when the plan has
//! already shown every selected field to be allowed (`Cleared`), and only for selections it
//! fully understands: fields without directives, each response key once. Anything else
//! (the field guard, fragments, `@skip`/`@include`, a key selected twice) is resolved by
//! async-graphql exactly as for `T`.

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container_serial};
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

/// Request data set only when the plan has cleared every field the request selects.
pub struct Cleared;

/// An object some of whose fields are plain copies of its data.
pub trait PlainFields: ContainerType {
    /// The value of field `name` when it needs nothing but the object's own data (no
    /// arguments, no loader, cannot fail); `None` for every other field. It must equal what
    /// the field's resolver returns: the projection test compares list reads (this way) with
    /// single reads (the resolvers) for every field.
    fn plain(&self, name: &str) -> Option<Value>;
}

/// `T`, resolved the short way where it can be.
pub struct Plain<T>(pub T);

impl<T: PlainFields> OutputType for Plain<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if understood(ctx) {
            Ok(resolve_fields(ctx, &self.0).await)
        } else {
            // The fields of an object have no ordering constraint between them, and these
            // objects come in lists whose items already run concurrently: serial is enough
            // and avoids a concurrent join per object.
            resolve_container_serial(ctx, &self.0).await
        }
    }
}

/// Whether the request is cleared and the selection has nothing but fields without
/// directives, each response key once.
fn understood(ctx: &ContextSelectionSet<'_>) -> bool {
    if ctx.data_opt::<Cleared>().is_none() {
        return false;
    }
    let items = &ctx.item.node.items;
    items.iter().enumerate().all(|(i, item)| {
        let Selection::Field(field) = &item.node else {
            return false;
        };
        let key = &field.node.response_key().node;
        field.node.directives.is_empty()
            && !items[..i].iter().any(|earlier| match &earlier.node {
                Selection::Field(f) => &f.node.response_key().node == key,
                _ => false,
            })
    })
}

/// As async-graphql resolves a container, without a future per plain field: a field's error
/// is recorded and the field left out, as there. Only for selections `understood` accepted
/// (all of them fields), so nothing is skipped by the `continue` below.
async fn resolve_fields<T: PlainFields>(ctx: &ContextSelectionSet<'_>, object: &T) -> Value {
    let items = &ctx.item.node.items;
    let mut values = IndexMap::with_capacity(items.len());
    for item in items {
        let Selection::Field(field) = &item.node else {
            continue;
        };
        let name = field.node.name.node.as_str();
        let key = field.node.response_key().node.clone();
        let value = if name == "__typename" {
            Value::String(object.introspection_type_name().into_owned())
        } else if let Some(value) = object.plain(name) {
            value
        } else {
            match object.resolve_field(&ctx.with_field(field)).await {
                Ok(value) => value.unwrap_or_default(),
                Err(e) => {
                    ctx.add_error(e);
                    continue;
                }
            }
        };
        values.insert(key, value);
    }
    if values.is_empty() {
        Value::Null
    } else {
        Value::Object(values)
    }
}
