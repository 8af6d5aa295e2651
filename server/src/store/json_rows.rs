//! Lists fetched as one JSON document per query instead of one driver row per record.
//!
//! Why: sqlx's SQLite driver copies every value of every row on the connection's own thread
//! and hands each row to the request's task through a channel, and sea-orm then looks every
//! column up by name. For a page of 50 patients with their 250 tests that per-row cost was most
//! of the request (see BENCHMARKS.md). Aggregating in SQL (`json_group_array`) returns the
//! same rows as one text value, which serde turns into the models in one pass. On SQLite
//! only: see `all`.

use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, QueryOrder, QueryTrait,
    Select, Statement,
};
use serde::de::DeserializeOwned;

use super::columns::Columns;
use crate::error::{AppError, AppResult};

/// Runs `query` and returns its models in ascending `order`; on SQLite as one row. The order is
/// applied here: on SQLite inside the aggregate (SQL does not promise that an aggregate sees a
/// subquery's rows in order), on PostgreSQL as ORDER BY. Callers sort only where a LIMIT needs
/// it (PostgreSQL drops the repeated sort key); a sort that is not needed costs SQLite a second
/// one (3–9% of Q1 when `for_patients` had it).
///
/// On SQLite only `columns` are fetched; the others keep their `Default` in the models.
pub async fn all<E>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    order: E::Column,
    columns: Columns<E>,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    let backend = db.get_database_backend();
    if backend != DbBackend::Sqlite {
        // PostgreSQL's driver streams rows on the request's own task, so there is no per-row
        // hand-over to save, and building JSON on the server measured slower (Q1 355 → 217
        // req/s): plain rows there, all columns, because sea-orm builds a model only from a
        // full row.
        return Ok(query.order_by_asc(order).all(db).await?);
    }
    let inner = backend.build(query.as_query());
    let sql = format!(
        "SELECT json_group_array(json_object({}) ORDER BY {}) FROM ({}) AS t",
        sqlite_members(columns),
        quoted(order.as_str()),
        inner.sql
    );
    let statement = match inner.values {
        Some(values) => Statement::from_sql_and_values(backend, sql, values),
        None => Statement::from_string(backend, sql),
    };
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(Vec::new());
    };
    let text: String = row.try_get_by_index(0)?;
    serde_json::from_str(&text).map_err(|err| {
        AppError::Internal(anyhow::anyhow!(
            "decoding the aggregated rows of {}: {err}",
            E::default().table_name()
        ))
    })
}

/// `'name', "name", …` for `json_object`, for the columns in `columns`. SQLite stores uuids
/// as 16-byte blobs, which JSON cannot hold: they go out as 32 hex digits, a form `Uuid`
/// parses. Other stored values (text, numbers, NULL) are JSON as they are.
fn sqlite_members<E: EntityTrait>(columns: Columns<E>) -> String {
    columns
        .iter()
        .map(|col| {
            let name = col.as_str();
            let value = match col.def().get_column_type() {
                ColumnType::Uuid => format!("hex({})", quoted(name)),
                _ => quoted(name),
            };
            format!("'{name}', {value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Column names come from the entity definitions, never from input; quoting keeps them
/// valid identifiers on both backends.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}
