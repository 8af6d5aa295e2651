use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::AppError;
use crate::store::page::PageRequest;

pub fn parse_id(field: &str, id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::invalid(field, "is not a valid id"))
}

pub fn parse_ids(field: &str, ids: &[ID]) -> Result<Vec<Uuid>, AppError> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| parse_id(&format!("{field}[{i}]"), id))
        .collect()
}

pub fn to_id(id: Uuid) -> ID {
    ID(id.to_string())
}

/// Cursors are opaque to clients: base64 of the row id.
pub fn cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(raw: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// A page request, with `first` at most `max_page` (`limits.max_page_size`).
pub fn page(first: i32, after: Option<&str>, max_page: u32) -> Result<PageRequest, AppError> {
    if u32::try_from(first).map_or(true, |n| n > max_page) {
        return Err(AppError::invalid(
            "first",
            format!("must be between 0 and {max_page}"),
        ));
    }
    let after = after
        .map(|raw| {
            decode_cursor(raw).ok_or_else(|| AppError::invalid("after", "is not a valid cursor"))
        })
        .transpose()?;
    Ok(PageRequest {
        first: first as u64,
        after,
    })
}
