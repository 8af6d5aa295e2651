//! The GraphQL API: the only module that imports async-graphql.

pub mod answer;
mod app_inputs;
mod audit;
mod cost;
mod directory;
mod error;
mod external_services;
mod field_rules;
mod field_types;
pub mod guard;
mod ids;
mod imports;
mod inputs;
pub mod introspection;
mod lab_intake;
mod loaders;
mod mutation;
mod outside_records;
mod plan;
mod protection;
mod query;
#[cfg(test)]
mod schema_tests;
mod service_polls;
mod text_input;
mod types;
mod webhooks;

use async_graphql::{EmptySubscription, Schema};

pub use error::to_server_error;
pub use guard::{DeniedFields, FieldGuard};
pub use loaders::Loaders;

use crate::access::Access;
use crate::error::AppError;
use types::plain::Cleared;

pub type AppSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// The schema with the field guard: what every request is held to.
pub fn build_schema() -> AppSchema {
    builder().extension(FieldGuard).finish()
}

fn builder() -> async_graphql::SchemaBuilder<query::Query, mutation::Mutation, EmptySubscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        EmptySubscription,
    )
    // Depth, size and cost are bounded by `cost` before a document reaches the schema, in
    // linear time; the schema's own checks walk fragments once per spread. This one bounds
    // the parser's recursion.
    .limit_recursive_depth(32)
}

/// Runs requests. Built once at start-up and shared by every request.
pub struct Executor {
    guarded: AppSchema,
    /// The same schema without the field guard, only for operations whose every selected
    /// field the plan has shown the caller may read (see `plan`).
    unguarded: AppSchema,
    planner: plan::Planner,
}

impl Default for Executor {
    fn default() -> Self {
        let guarded = build_schema();
        let planner = plan::Planner::new(&guarded.sdl());
        Executor {
            guarded,
            unguarded: builder().finish(),
            planner,
        }
    }
}

impl Executor {
    /// Runs a request; answers with what it executed too, for the audit trail: the
    /// operation's type and root fields, from the document (`Plan::executed`), or `invalid`
    /// for a document that does not parse.
    pub async fn execute(&self, mut request: Request, access: &Access) -> (Response, String) {
        let mut operation = "invalid".to_owned();
        if let Some(plan) = self.planner.plan(&request.query) {
            operation = plan.executed(request.operation_name.as_deref());
            if let Err(err) = admissible(&plan, &self.planner.types, &request) {
                return (Response::from_errors(vec![to_server_error(err)]), operation);
            }
            // Parsed once per distinct query text, not once per request.
            request.set_parsed_query(plan.document.clone());
            if let Some(needs) = plan.needs(request.operation_name.as_deref())
                && needs.allowed_for(access.principal())
            {
                for (field, disclosure) in &needs.patient_fields {
                    access.disclosed(field, *disclosure);
                }
                let (request, _) = prepare(request, access.clone());
                let response = self.unguarded.execute(request.data(Cleared)).await;
                return (response, operation);
            }
        }
        let (request, denied) = prepare(request, access.clone());
        let mut response = self.guarded.execute(request).await;
        response.errors.extend(denied.take());
        (response, operation)
    }
}

/// Refuses, before anything runs, a document that costs too much or a string argument with
/// control characters.
fn admissible(
    plan: &plan::Plan,
    types: &field_types::FieldTypes,
    request: &Request,
) -> Result<(), AppError> {
    if let Some(why) = &plan.refusal {
        return Err(AppError::TooComplex(why.clone()));
    }
    cost::check(&plan.document, types, &request.variables)
        .map_err(|r| AppError::TooComplex(r.message().to_owned()))?;
    let field = if plan.control_character {
        Some("query".to_owned())
    } else {
        text_input::in_variables(&request.variables)
    };
    if let Some(field) = field {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
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
fn prepare(request: Request, access: Access) -> (Request, DeniedFields) {
    let denied = DeniedFields::default();
    let loaders = Loaders::new(access.clone());
    let request = request.data(access).data(denied.clone()).data(loaders);
    (request, denied)
}
