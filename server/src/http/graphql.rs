use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::OperationType;
use futures_util::StreamExt;
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use crate::access::Access;
use crate::audit::Pending;
use crate::error::AppError;
use crate::graphql::{self, BatchRequest, BatchResponse, Executed, Request, Response};
use crate::store;

/// Bytes reserved for a response body up front.
const RESPONSE_CAPACITY: usize = 4 * 1024;

/// A GraphQL-shaped error answer with one error.
pub(super) fn error_json(code: &str, message: &str) -> serde_json::Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

fn error_body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_json(code, message))
}

/// A request over one of the request limits: `extensions.limit` names it, as for the
/// document limits (`QUERY_TOO_COMPLEX`).
fn over_limit(status: StatusCode, limit: &str, message: &str) -> HttpResponse {
    let mut body = error_json("VALIDATION_FAILED", message);
    body["errors"][0]["extensions"]["limit"] = limit.into();
    HttpResponse::build(status).json(body)
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            error_body(
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED",
                "could not read the request body",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(over_limit(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body",
                &format!("the request body exceeds {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The header that makes a request validation-only: every check runs, nothing is stored.
const VALIDATE_ONLY: &str = "x-validate-only";
/// What a validation-only request may run: mutations whose every write goes through the
/// store's rehearsal (`Store::rehearsing`).
const REHEARSABLE: [&str; 4] = ["createPatient", "updatePatient", "createTest", "updateTest"];

/// Whether the request asks to be validated only (`X-Validate-Only: true`).
fn validate_only(req: &HttpRequest) -> Result<bool, &'static str> {
    let Some(value) = req.headers().get(VALIDATE_ONLY) else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok("true" | "1") => Ok(true),
        Ok("false" | "0") => Ok(false),
        _ => Err("must be `true` or `false`"),
    }
}

fn invalid_header(message: impl Into<String>) -> HttpResponse {
    let (status, body) = super::error_answer(AppError::invalid("X-Validate-Only", message));
    HttpResponse::build(status).json(body)
}

/// Whether every operation of a validation-only request may be rehearsed: queries (which
/// store nothing but their audit) and the rehearsable mutations.
fn rehearsable(executed: &Executed) -> bool {
    match executed {
        Executed::Operation {
            ty: OperationType::Query,
            ..
        } => true,
        Executed::Operation {
            ty: OperationType::Mutation,
            roots,
        } => roots.iter().all(|r| REHEARSABLE.contains(&r.as_str())),
        _ => false,
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> HttpResponse {
    let rehearsal = match validate_only(&req) {
        Ok(rehearsal) => rehearsal,
        Err(why) => return invalid_header(why),
    };
    let body = match read_body(payload, state.settings.server.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(err) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED",
                &format!("the request body is not a GraphQL request in JSON: {err}"),
            );
        }
    };
    let empty = match &batch {
        BatchRequest::Single(r) => r.query.trim().is_empty(),
        BatchRequest::Batch(rs) => rs.is_empty() || rs.iter().any(|r| r.query.trim().is_empty()),
    };
    if empty {
        return error_body(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            "the request has no query",
        );
    }
    if rehearsal {
        let requests = match &batch {
            BatchRequest::Single(r) => std::slice::from_ref(r),
            BatchRequest::Batch(rs) => rs.as_slice(),
        };
        if let Some(refused) = requests
            .iter()
            .map(|r| state.graphql.operation(r))
            .find(|op| !rehearsable(op))
        {
            return invalid_header(format!(
                "is for queries and {}; not for `{}`",
                REHEARSABLE.join(", "),
                refused.label()
            ));
        }
    }
    let ip = caller.ip.map(|ip| ip.to_string());
    let mut services = state.services.clone();
    if rehearsal {
        services.store = services.store.rehearsing();
    }
    let access = Access::new(caller.principal, services, ip);
    // Each answer's reads, handed to the audit writer: the answer is serialized while they
    // commit, and sent only after.
    let mut audits = Vec::new();
    let response = match batch {
        BatchRequest::Single(request) => {
            let (response, audit) = execute(&state, request, &access).await;
            audits.push(audit);
            BatchResponse::Single(response)
        }
        BatchRequest::Batch(requests) if requests.len() > state.settings.limits.max_batch => {
            return over_limit(
                StatusCode::BAD_REQUEST,
                "batch",
                &format!(
                    "a batch may hold at most {} requests",
                    state.settings.limits.max_batch
                ),
            );
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                let (response, audit) = execute(&state, request, &access).await;
                responses.push(response);
                audits.push(audit);
            }
            BatchResponse::Batch(responses)
        }
    };
    let mut response = response;
    if rehearsal {
        match &mut response {
            BatchResponse::Single(r) => graphql::answer::mark_validation_only(r),
            BatchResponse::Batch(rs) => rs
                .iter_mut()
                .for_each(graphql::answer::mark_validation_only),
        }
    }
    // Grown from a few KB rather than from nothing: a page of nested records was otherwise
    // reallocated many times over.
    let mut bytes = Vec::with_capacity(RESPONSE_CAPACITY);
    let mut written = serde_json::to_writer(&mut bytes, &response);
    // The answer leaves only once its reads are in the audit trail; one whose reads were not
    // stored is replaced by the error, and the whole is written again.
    let mut unaudited = false;
    for (i, audit) in audits.into_iter().enumerate() {
        if let Err(err) = audit.committed().await {
            let refused = Response::from_errors(vec![graphql::to_server_error(err)]);
            match &mut response {
                BatchResponse::Single(r) => *r = refused,
                BatchResponse::Batch(rs) => rs[i] = refused,
            }
            unaudited = true;
        }
    }
    if unaudited {
        bytes.clear();
        written = serde_json::to_writer(&mut bytes, &response);
    }
    let retry = graphql::answer::retry_after(&response);
    match written {
        Ok(()) => match retry {
            None => HttpResponse::Ok()
                .content_type("application/json")
                .body(bytes),
            Some(seconds) => HttpResponse::TooManyRequests()
                .content_type("application/json")
                .insert_header((RETRY_AFTER, seconds.to_string()))
                .body(bytes),
        },
        Err(err) => {
            let err = graphql::to_server_error(AppError::Internal(err.into()));
            HttpResponse::InternalServerError().json(json!({ "errors": [err] }))
        }
    }
}

/// Schema documentation is for signed-in callers, and only for administrators when the
/// developer portal is switched off.
async fn may_introspect(state: &AppState, access: &Access) -> Result<(), AppError> {
    let principal = access.principal();
    principal.authenticated()?;
    if principal.role().is_some_and(|r| r.manages_settings()) {
        return Ok(());
    }
    if store::settings::developer_portal_enabled(state.services.store.conn()).await? {
        Ok(())
    } else {
        Err(AppError::forbidden(
            crate::access::principal::SETTINGS_ROLES,
            "schema documentation is switched off by an administrator",
        ))
    }
}

/// Runs one request: its answer, and its reads on their way into the audit trail.
async fn execute(state: &AppState, request: Request, access: &Access) -> (Response, Pending) {
    let started = std::time::Instant::now();
    let (response, operation, audit) = answer(state, request, access).await;
    state.metrics.graphql_operation(
        &state.graphql.metric_operation(&operation),
        graphql::answer::outcome(&response),
        started.elapsed().as_secs_f64(),
    );
    (response, audit)
}

/// Runs one request and answers with what it executed (`Executor::execute`).
async fn answer(
    state: &AppState,
    request: Request,
    access: &Access,
) -> (Response, Executed, Pending) {
    // The caller's operation name is only a label; what executed comes from the document.
    let operation_name = request.operation_name.clone();
    let reads_schema = graphql::introspection::asks_for_schema(&request.query);
    if reads_schema && let Err(err) = may_introspect(state, access).await {
        let refused = Response::from_errors(vec![graphql::to_server_error(err)]);
        let executed = Executed::Operation {
            ty: OperationType::Query,
            roots: vec!["__schema".to_owned()],
        };
        return (refused, executed, Pending::none());
    }
    let (mut response, operation) = state.graphql.execute(request, access).await;
    if reads_schema {
        graphql::introspection::annotate_scopes(&mut response.data);
    }
    // Errors raised by async-graphql itself (syntax, unknown fields, wrong types) carry no
    // code; they are all the caller's invalid input.
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "VALIDATION_FAILED");
        }
    }
    if graphql::answer::suggests_names(&response) && may_introspect(state, access).await.is_err() {
        graphql::answer::strip_suggestions(&mut response);
    }
    for refusal in graphql::answer::refusals(&response) {
        access.refused(refusal);
    }
    match access.submit_reads(&operation.label(), operation_name.as_deref()) {
        Ok(audit) => (response, operation, audit),
        Err(err) => (
            Response::from_errors(vec![graphql::to_server_error(err)]),
            operation,
            Pending::none(),
        ),
    }
}
