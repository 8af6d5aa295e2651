//! The one error model. `graphql::error` and `http::error` map it to the wire; nothing else
//! decides codes.
//!
//! `AppError` deliberately implements neither `Display` nor `std::error::Error`: async-graphql
//! converts any `Display` type into an error without a code, so a `?` in a resolver would
//! silently lose the code (and could print an internal cause). Without `Display`, the only
//! conversion is ours in `graphql::error`.

use uuid::Uuid;

use crate::domain::validate::Invalid;

#[derive(Debug)]
pub enum AppError {
    Unauthenticated(&'static str),
    /// Always says what is missing: a scope name, or `role:…` for what only a portal user
    /// of those roles may do.
    Forbidden {
        required_scope: String,
        message: String,
    },
    /// Too many attempts; the caller may try again after `retry_after_secs`.
    RateLimited {
        retry_after_secs: u64,
        message: String,
    },
    /// The credential may not be used from the request's address.
    IpNotAllowed,
    /// The request would cost more than any request may; refused before it runs. `limit`
    /// names the limit (`depth`, `aliases`, `complexity`…) for the caller's code.
    TooComplex {
        limit: &'static str,
        message: String,
    },
    /// A query ran longer than `limits.execution_timeout_ms` and was abandoned.
    TimedOut {
        limit_ms: u64,
    },
    NotFound(&'static str),
    Validation(Invalid),
    DuplicatePatient {
        existing_id: Option<Uuid>,
    },
    /// A write broke a uniqueness rule of the schema (`store::constraints`).
    Duplicate(Unique),
    Conflict(String),
    /// A production patient for a sandbox connection, or the reverse: refused, as live data
    /// must not reach a staging system (nor test data a live one).
    EnvironmentMismatch(String),
    Internal(anyhow::Error),
}

/// The uniqueness rules a caller can break, told apart by the database's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    /// A patient's external id within its client.
    PatientExternalId,
    /// A test's accession number within its client.
    TestAccession,
    AdminEmail,
    /// Any other unique index.
    Other,
}

impl Unique {
    pub fn message(self) -> &'static str {
        match self {
            Unique::PatientExternalId => {
                "a patient with this externalPatientId already exists for this client"
            }
            Unique::TestAccession => "this accession number is already used for this client",
            Unique::AdminEmail => "an admin with this email exists",
            Unique::Other => "the record conflicts with an existing one",
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Internal(err)
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden { .. } => "FORBIDDEN",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::IpNotAllowed => "IP_NOT_ALLOWED",
            AppError::TooComplex { .. } => "QUERY_TOO_COMPLEX",
            AppError::TimedOut { .. } => "TIMEOUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Validation(_) => "VALIDATION_FAILED",
            AppError::DuplicatePatient { .. } => "DUPLICATE_PATIENT",
            AppError::Duplicate(_) | AppError::Conflict(_) => "CONFLICT",
            AppError::EnvironmentMismatch(_) => "ENVIRONMENT_MISMATCH",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// What the caller is told. Internal errors say nothing about their cause.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) => (*m).to_owned(),
            AppError::Forbidden { message, .. } => message.clone(),
            AppError::RateLimited { message, .. } => message.clone(),
            AppError::IpNotAllowed => {
                "this credential may not be used from this address".to_owned()
            }
            AppError::TooComplex { message, .. } => message.clone(),
            AppError::TimedOut { limit_ms } => format!(
                "the query ran longer than {limit_ms} ms and was stopped; ask for less (smaller pages, fewer fields)"
            ),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Validation(invalid) => invalid.to_string(),
            AppError::DuplicatePatient { .. } => {
                "a patient with this externalPatientId already exists for this client".into()
            }
            AppError::Duplicate(rule) => rule.message().to_owned(),
            AppError::Conflict(m) | AppError::EnvironmentMismatch(m) => m.clone(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    pub fn missing_scope(scope: impl std::fmt::Display) -> Self {
        AppError::Forbidden {
            required_scope: scope.to_string(),
            message: format!("this credential lacks the scope `{scope}`"),
        }
    }

    /// Refused for want of something other than a scope: `required` names it (`role:…`).
    pub fn forbidden(required: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            required_scope: required.into(),
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(Invalid::new(field, message))
    }
}

/// Reads an enum-like value the database holds (a role, a status, an environment). One this
/// build cannot read is our fault, not the caller's.
pub fn parse_stored<T>(raw: &str) -> AppResult<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| AppError::Internal(anyhow::anyhow!("stored value `{raw}`: {e}")))
}

/// For the command line and other callers outside a request: the error with its whole
/// cause, or its code and the caller's message.
impl From<AppError> for anyhow::Error {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Internal(cause) => cause,
            other => anyhow::anyhow!("{}: {}", other.code(), other.message()),
        }
    }
}

impl From<Invalid> for AppError {
    fn from(value: Invalid) -> Self {
        AppError::Validation(value)
    }
}
