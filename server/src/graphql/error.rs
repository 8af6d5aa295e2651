use async_graphql::{Error, ErrorExtensions, ServerError};
use uuid::Uuid;

use crate::error::AppError;

impl From<AppError> for Error {
    fn from(err: AppError) -> Self {
        let message = err.message();
        let code = err.code();
        let correlation = matches!(err, AppError::Internal(_)).then(Uuid::now_v7);
        if let (AppError::Internal(cause), Some(id)) = (&err, correlation) {
            // The whole cause chain goes to the log, never to the client; the correlation id
            // joins the two.
            tracing::error!(correlation_id = %id, error = ?cause, "internal error");
        }
        Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match &err {
                AppError::Forbidden { required_scope, .. } => {
                    ext.set("requiredScope", required_scope.as_str())
                }
                AppError::RateLimited {
                    retry_after_secs, ..
                } => ext.set("retryAfterSeconds", *retry_after_secs),
                AppError::Validation(invalid) => ext.set("field", invalid.field.as_str()),
                AppError::TooComplex { limit, .. } => ext.set("limit", *limit),
                AppError::TimedOut { .. } => ext.set("limit", "executionTime"),
                AppError::DuplicatePatient { existing_id } => {
                    ext.set("existingPatientId", existing_id.map(|id| id.to_string()))
                }
                _ => {}
            }
            if let Some(id) = correlation {
                ext.set("correlationId", id.to_string());
            }
        })
    }
}

/// The error as a top-level GraphQL error (no path), for failures outside execution.
pub fn to_server_error(err: AppError) -> ServerError {
    Error::from(err).into_server_error(async_graphql::Pos::default())
}
