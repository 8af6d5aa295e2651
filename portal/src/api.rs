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
    /// The server refused one input field (its path, e.g. `input.name`), in words.
    Invalid { field: String, text: String },
}

impl ApiError {
    pub fn text(&self) -> String {
        match self {
            ApiError::SessionExpired => "Your session has expired. Please sign in again.".into(),
            ApiError::Message(m) => m.clone(),
            ApiError::Invalid { text, .. } => text.clone(),
        }
    }

    /// A refusal from the server, in words, tied to its input field when it names one.
    fn refusal(code: &str, message: &str, field: Option<&str>) -> ApiError {
        let text = describe(code, message, field);
        match field {
            Some(f) if code == "VALIDATION_FAILED" => ApiError::Invalid {
                field: f.to_owned(),
                text,
            },
            _ => ApiError::Message(text),
        }
    }
}

/// Fetches `path` (an export) as the signed-in user and saves it as `filename`.
pub async fn download(path: &str, filename: &str) -> Result<(), ApiError> {
    use wasm_bindgen::JsCast;
    let (_, text) = answer(signed(Request::get(path)).build(), "the export failed").await?;
    let failed = |_| ApiError::Message("The browser could not save the file.".into());
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(&text));
    let blob = web_sys::Blob::new_with_str_sequence(&parts).map_err(failed)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    let anchor = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        .ok_or_else(|| ApiError::Message("The browser could not save the file.".into()))?;
    anchor.set_href(&url);
    anchor.set_download(filename);
    anchor.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// `request` as the signed-in user, in the environment the switch chose.
fn signed(request: gloo_net::http::RequestBuilder) -> gloo_net::http::RequestBuilder {
    let request = match session::environment() {
        Some(env) => request.header("X-Environment", &env),
        None => request,
    };
    match session::token() {
        Some(token) => request.header("Authorization", &format!("Bearer {token}")),
        None => request,
    }
}

/// Sends a request outside GraphQL (an export, an upload): its status and body, or the
/// refusal in words (`otherwise` when the body says none).
async fn answer(
    request: Result<gloo_net::http::Request, gloo_net::Error>,
    otherwise: &str,
) -> Result<(u16, String), ApiError> {
    let response = request
        .map_err(|e| ApiError::Message(e.to_string()))?
        .send()
        .await
        .map_err(|_| ApiError::Message("Cannot reach the server. Check your connection.".into()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|_| ApiError::Message(format!("The server answered with status {status}.")))?;
    if !response.ok() {
        return Err(refused(&text, otherwise));
    }
    Ok((status, text))
}

/// The error of a refused request outside GraphQL (an export, an upload), from its body.
fn refused(text: &str, otherwise: &str) -> ApiError {
    let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let first = &body["errors"][0];
    let code = first["extensions"]["code"].as_str().unwrap_or("");
    if code == "UNAUTHENTICATED" && session::token().is_some() {
        session::clear();
        return ApiError::SessionExpired;
    }
    ApiError::refusal(
        code,
        first["message"].as_str().unwrap_or(otherwise),
        first["extensions"]["field"].as_str(),
    )
}

/// POSTs `file` to `path` as the signed-in user (the browser streams it) and returns the
/// answer's JSON.
pub async fn upload(
    path: &str,
    file: web_sys::File,
    content_type: &str,
) -> Result<serde_json::Value, ApiError> {
    let request = signed(Request::post(path).header("Content-Type", content_type)).body(file);
    let (status, text) = answer(request, "the upload was refused").await?;
    serde_json::from_str(&text)
        .map_err(|_| ApiError::Message(format!("The server answered with status {status}.")))
}

/// An enum value of an answer as the API spells it (`SYSTEM_ADMINISTRATOR`).
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An enum value as the generated operation types take it, from its API spelling (`LAB`).
pub fn enum_of<T: serde::de::DeserializeOwned>(raw: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::from(raw)).ok()
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
    let request = signed(Request::post("/graphql").header("Content-Type", "application/json"));
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
        return Err(ApiError::refusal(code, &first.message, ext("field")));
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
