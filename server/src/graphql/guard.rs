//! Enforces `access::rules` on every field of every request.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, QueryPathSegment, ServerError, ServerResult, Value};

use super::field_rules::field_rule;
use crate::access::Access;
use crate::access::Disclosure;
use crate::error::AppError;

/// Errors of refused fields. The guard answers a refused field with `null` (the rest of the
/// response is still served) and the HTTP layer adds these errors to the response.
#[derive(Clone, Default)]
pub struct DeniedFields(Arc<Mutex<Vec<ServerError>>>);

impl DeniedFields {
    pub fn take(&self) -> Vec<ServerError> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn push(&self, err: ServerError) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(err);
    }
}

pub struct FieldGuard;

impl ExtensionFactory for FieldGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldGuardExtension)
    }
}

struct FieldGuardExtension;

fn path_of(info: &ResolveInfo<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = Vec::new();
    let mut node = Some(info.path_node);
    while let Some(n) = node {
        path.push(match n.segment {
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
            QueryPathSegment::Index(i) => PathSegment::Index(i),
        });
        node = n.parent;
    }
    path.reverse();
    path
}

#[async_trait::async_trait]
impl Extension for FieldGuardExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Introspection is governed separately (the developer-portal setting).
        if info.is_for_introspection || info.name.starts_with("__") {
            return next.run(ctx, info).await;
        }
        // Elements of a list come through here too; the list field itself was checked.
        if matches!(info.path_node.segment, QueryPathSegment::Index(_)) {
            return next.run(ctx, info).await;
        }
        let Some(access) = ctx.data_opt::<Access>() else {
            return Err(ServerError::new("request has no credentials context", None));
        };
        let (verdict, disclosure) = match field_rule(info.parent_type, info.name) {
            Some((rule, disclosure)) => (access.principal().check(&rule), disclosure),
            None => {
                tracing::error!(
                    parent = info.parent_type,
                    field = info.name,
                    "field has no access rule; refusing"
                );
                let refused = AppError::forbidden("unavailable", "this field has no access rule");
                (Err(refused), Disclosure::None)
            }
        };
        match verdict {
            Ok(()) => {
                access.disclosed(info.name, disclosure);
                next.run(ctx, info).await
            }
            Err(err) => {
                let mut server_error = super::to_server_error(err);
                server_error.locations = vec![info.field.name.pos];
                server_error.path = path_of(&info);
                if let Some(denied) = ctx.data_opt::<DeniedFields>() {
                    denied.push(server_error);
                }
                Ok(Some(Value::Null))
            }
        }
    }
}
