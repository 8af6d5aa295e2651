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

use async_graphql::parser::types::OperationType;
use async_graphql::{EmptySubscription, Schema};

pub use error::to_server_error;
pub use guard::{DeniedFields, FieldGuard};
pub use loaders::Loaders;
pub use plan::Executed;

use crate::access::Access;
use crate::config::RequestLimits;
use crate::error::AppError;
use types::plain::Cleared;

pub type AppSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// The schema with the field guard: what every request is held to.
pub fn build_schema() -> AppSchema {
    builder(RequestLimits::default())
        .extension(FieldGuard)
        .finish()
}

fn builder(
    limits: RequestLimits,
) -> async_graphql::SchemaBuilder<query::Query, mutation::Mutation, EmptySubscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        EmptySubscription,
    )
    // Resolvers read the page size limit from here.
    .data(limits)
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

impl Executor {
    pub fn new(limits: RequestLimits) -> Self {
        let guarded = builder(limits).extension(FieldGuard).finish();
        let planner = plan::Planner::new(&guarded.sdl(), limits);
        Executor {
            guarded,
            unguarded: builder(limits).finish(),
            planner,
        }
    }
}

impl Executor {
    /// Runs a request; answers with what it executed too (`Plan::executed`), for the audit
    /// trail and `/metrics`.
    pub async fn execute(&self, request: Request, access: &Access) -> (Response, Executed) {
        let Some(plan) = self.planner.plan(&request.query) else {
            // async-graphql reports the syntax error itself.
            return (self.run_guarded(request, access).await, Executed::Invalid);
        };
        let operation = plan.executed(request.operation_name.as_deref());
        if let Err(err) = admissible(&plan, &self.planner, &request) {
            return (Response::from_errors(vec![to_server_error(err)]), operation);
        }
        // Only a query is cut short; a request naming no operation is refused by async-graphql.
        let is_mutation = !matches!(
            operation,
            Executed::Operation {
                ty: OperationType::Query | OperationType::Subscription,
                ..
            }
        );
        let run = self.run(&plan, request, access);
        if is_mutation {
            return (run.await, operation);
        }
        let limit_ms = self.planner.limits.execution_timeout_ms;
        // Dropping a query drops its reads with it; nothing is half-written, as a query
        // writes nothing but its audit record, which `Access::finish` stores afterwards.
        match tokio::time::timeout(std::time::Duration::from_millis(limit_ms), run).await {
            Ok(response) => (response, operation),
            Err(_) => {
                let err = to_server_error(AppError::TimedOut { limit_ms });
                (Response::from_errors(vec![err]), operation)
            }
        }
    }

    /// What a request would execute (`Plan::executed`), without running it. The plan is
    /// cached, so `execute` does not parse it again.
    pub fn operation(&self, request: &Request) -> Executed {
        self.planner
            .plan(&request.query)
            .map_or(Executed::Invalid, |plan| {
                plan.executed(request.operation_name.as_deref())
            })
    }

    /// The label `/metrics` counts an operation under (from `execute`'s answer): its type and
    /// root field when the schema has that field, so that a caller cannot make up labels.
    pub fn metric_operation(&self, executed: &Executed) -> String {
        let Executed::Operation { ty, roots } = executed else {
            return executed.label();
        };
        let kind = plan::kind(*ty);
        let parent = match ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => return "other".to_owned(),
        };
        match roots.as_slice() {
            [root] if matches!(root.as_str(), "__schema" | "__type" | "__typename") => {
                format!("{kind} {root}")
            }
            [root] if self.planner.types.of(parent, root).is_some() => format!("{kind} {root}"),
            [_, _, ..] => format!("{kind} (several)"),
            _ => format!("{kind} (unknown)"),
        }
    }

    async fn run(&self, plan: &plan::Plan, mut request: Request, access: &Access) -> Response {
        // Parsed once per distinct query text, not once per request.
        request.set_parsed_query(plan.document.clone());
        if let Some(needs) = plan.needs(request.operation_name.as_deref())
            && needs.allowed_for(access.principal())
        {
            for (field, disclosure) in &needs.patient_fields {
                access.disclosed(field, *disclosure);
            }
            let (request, _) = prepare(request, access.clone());
            return self.unguarded.execute(request.data(Cleared)).await;
        }
        self.run_guarded(request, access).await
    }

    async fn run_guarded(&self, request: Request, access: &Access) -> Response {
        let (request, denied) = prepare(request, access.clone());
        let mut response = self.guarded.execute(request).await;
        response.errors.extend(denied.take());
        response
    }
}

/// Refuses, before anything runs, a document that costs too much or a string argument with
/// control characters.
fn admissible(
    plan: &plan::Plan,
    planner: &plan::Planner,
    request: &Request,
) -> Result<(), AppError> {
    let too_complex = |e: cost::Exceeded| AppError::TooComplex {
        limit: e.limit,
        message: e.message,
    };
    if let Some(why) = &plan.refusal {
        return Err(too_complex(why.clone()));
    }
    cost::check(
        &plan.document,
        &planner.types,
        &request.variables,
        &planner.limits,
    )
    .map_err(|r| too_complex(r.exceeded()))?;
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
    fn limits(&self) -> RequestLimits;
}

impl ContextExt for async_graphql::Context<'_> {
    fn access(&self) -> Result<&Access, AppError> {
        self.data::<Access>()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("request has no Access")))
    }

    fn limits(&self) -> RequestLimits {
        self.data::<RequestLimits>().copied().unwrap_or_default()
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
