//! The portal's only way to the server: POST /graphql, the same API partners use.

use gloo_net::http::Request;
use graphql_client::{GraphQLQuery, Response};

use crate::session;

/// What went wrong, in words for the person at the screen.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The session is gone: the caller should return to the login screen.
    SessionExpired,
    /// The server refused or failed; the message is readable as is.
    Message(String),
}

impl ApiError {
    pub fn text(&self) -> String {
        match self {
            ApiError::SessionExpired => "Your session has expired. Please sign in again.".into(),
            ApiError::Message(m) => m.clone(),
        }
    }
}

/// An enum value of an answer as the API spells it (`SYSTEM_ADMINISTRATOR`).
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A readable sentence for each stable error code of the API.
pub fn describe(code: &str, message: &str, field: Option<&str>) -> String {
    match code {
        "UNAUTHENTICATED" => "Your session has expired. Please sign in again.".into(),
        "FORBIDDEN" => "You do not have permission to do this.".into(),
        "NOT_FOUND" => "It no longer exists; refresh the page.".into(),
        "VALIDATION_FAILED" => match field {
            Some(f) => format!("Please check {}: {}", humanize(f), after_colon(message)),
            None => format!("The request was not accepted: {message}"),
        },
        "CONFLICT" => format!("That conflicts with existing data: {message}"),
        "INTERNAL" => "Something went wrong on the server. Please try again; if it keeps happening, give the administrator the reference shown in the server log.".into(),
        _ => message.to_owned(),
    }
}

fn after_colon(message: &str) -> &str {
    message.split_once(": ").map(|(_, m)| m).unwrap_or(message)
}

/// `input.expiresAt` → "expires at".
fn humanize(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let mut out = String::new();
    for c in last.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if c == '[' || c == ']' {
            continue;
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs operation `Q` and returns its typed `data`, or the first error made readable.
pub async fn run<Q: GraphQLQuery>(variables: Q::Variables) -> Result<Q::ResponseData, ApiError> {
    let mut request = Request::post("/graphql").header("Content-Type", "application/json");
    if let Some(token) = session::token() {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let response = request
        .json(&Q::build_query(variables))
        .map_err(|e| ApiError::Message(e.to_string()))?
        .send()
        .await
        .map_err(|_| ApiError::Message("Cannot reach the server. Check your connection.".into()))?;
    let status = response.status();
    let body: Response<Q::ResponseData> = response
        .json()
        .await
        .map_err(|_| ApiError::Message(format!("The server answered with status {status}.")))?;
    if let Some(first) = body.errors.as_ref().and_then(|e| e.first()) {
        let ext = |key: &str| {
            first
                .extensions
                .as_ref()
                .and_then(|x| x.get(key))
                .and_then(|v| v.as_str())
        };
        let code = ext("code").unwrap_or("");
        if code == "UNAUTHENTICATED" && session::token().is_some() {
            session::clear();
            return Err(ApiError::SessionExpired);
        }
        return Err(ApiError::Message(describe(
            code,
            &first.message,
            ext("field"),
        )));
    }
    body.data
        .ok_or_else(|| ApiError::Message(format!("The server answered with status {status}.")))
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn codes_become_sentences() {
        assert_eq!(
            describe(
                "VALIDATION_FAILED",
                "input.expiresAt: must be in the future",
                Some("input.expiresAt")
            ),
            "Please check expires at: must be in the future"
        );
        assert!(describe("FORBIDDEN", "x", None).contains("permission"));
    }
}
