//! Reading an answer's errors for the HTTP layer and the audit trail, so that only this
//! module looks inside async-graphql's error values.

use async_graphql::{PathSegment, Value};

use super::{BatchResponse, Response};

/// How async-graphql's validation errors suggest names of the schema.
const SUGGESTION: &str = " Did you mean";

/// Whether some error suggests field, type or argument names.
pub fn suggests_names(response: &Response) -> bool {
    response
        .errors
        .iter()
        .any(|e| e.message.contains(SUGGESTION))
}

/// Without schema documentation, an error must not teach the schema: the suggestions go.
pub fn strip_suggestions(response: &mut Response) {
    for error in &mut response.errors {
        if let Some(at) = error.message.find(SUGGESTION) {
            error.message.truncate(at);
        }
    }
}

/// Every `FORBIDDEN` of the answer, whoever raised it (the field guard, a handle's scope
/// check, a role check), as `path: missing scope`, for the audit trail's refused attempts.
pub fn refusals(response: &Response) -> Vec<String> {
    response
        .errors
        .iter()
        .filter_map(|error| {
            let ext = error.extensions.as_ref()?;
            if !matches!(ext.get("code"), Some(Value::String(c)) if c == "FORBIDDEN") {
                return None;
            }
            let required = match ext.get("requiredScope") {
                Some(Value::String(s)) => s.as_str(),
                _ => "",
            };
            let path: Vec<String> = error
                .path
                .iter()
                .map(|p| match p {
                    PathSegment::Field(f) => f.clone(),
                    PathSegment::Index(i) => i.to_string(),
                })
                .collect();
            let mut what = format!("{}: {required}", path.join("."));
            what.truncate(what.floor_char_boundary(200));
            Some(what)
        })
        .collect()
}

/// Seconds to wait before retrying, when some error of the answer is `RATE_LIMITED`.
pub fn retry_after(response: &BatchResponse) -> Option<u64> {
    let responses: &[Response] = match response {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs,
    };
    responses
        .iter()
        .flat_map(|r| &r.errors)
        .filter_map(|e| e.extensions.as_ref()?.get("retryAfterSeconds"))
        .filter_map(|v| match v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max()
}

/// What `/metrics` counts an answer as: `ok`, or its first error's code.
pub fn outcome(response: &Response) -> &str {
    let Some(first) = response.errors.first() else {
        return "ok";
    };
    match first.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(Value::String(code)) => code.as_str(),
        _ => "error",
    }
}

/// Says on the answer that nothing it describes was stored (a validation-only request).
pub fn mark_validation_only(response: &mut Response) {
    response
        .extensions
        .insert("validationOnly".to_owned(), Value::Boolean(true));
}
