//! The GraphQL API: the only module that imports async-graphql.

mod error;
pub mod guard;
mod ids;
mod inputs;
pub mod introspection;
mod loaders;
mod mutation;
mod query;
#[cfg(test)]
mod schema_tests;
mod types;

use async_graphql::{EmptySubscription, Schema};

pub use error::to_server_error;
pub use guard::{DeniedFields, FieldGuard};
pub use loaders::Loaders;

use crate::access::Access;
use crate::error::AppError;

pub type AppSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// Built once at start-up and shared by every request.
pub fn build_schema() -> AppSchema {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        EmptySubscription,
    )
    .extension(FieldGuard)
    // Bounded so that a single request cannot make the server do unbounded work.
    .limit_depth(10)
    .limit_complexity(5_000)
    .limit_recursive_depth(32)
    .finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema().sdl()
}

/// Resolver access to the request's `Access`.
pub(crate) trait ContextExt {
    fn access(&self) -> Result<&Access, AppError>;
}

impl ContextExt for async_graphql::Context<'_> {
    fn access(&self) -> Result<&Access, AppError> {
        self.data::<Access>()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("request has no Access")))
    }
}

pub use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};

/// Adds what a request needs to execute: its Access, the guard's collector and the loaders.
pub fn prepare(request: Request, access: Access) -> (Request, DeniedFields) {
    let denied = DeniedFields::default();
    let loaders = Loaders::new(access.clone());
    let request = request.data(access).data(denied.clone()).data(loaders);
    (request, denied)
}
