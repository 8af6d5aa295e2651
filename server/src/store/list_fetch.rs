//! Lists fetched as one JSON document per query instead of one driver row per record.
//!
//! Why: sqlx's SQLite driver copies every value of every row on the connection's own thread
//! and hands each row to the request's task through a channel, and sea-orm then looks every
//! column up by name. For a page of 50 patients with their 250 tests that per-row cost was most
//! of the request (see docs/benchmarks-history.md). Aggregating in SQL (`json_group_array`) returns the
//! same rows as one text value, which serde turns into the models in one pass. On SQLite
//! only; on PostgreSQL each row is decoded by position instead (`pg_decode`): see `all`.

use sea_orm::sea_query::ColumnType;
use sea_orm::sqlx::Row;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, QueryTrait, Select, Statement,
};
use serde::de::DeserializeOwned;

use super::columns::{Columns, Listed, Projected};
use super::{json_array_decode, pg_decode};
use crate::error::{AppError, AppResult};

/// Runs `query` and returns its models in ascending id order; on SQLite as one row.
///
/// The order is applied here, by sorting the decoded models, not in SQL. Why: the rows arrive
/// in runs already ordered by id (a page in id order, a patient's tests in index order),
/// which a merge sort of a few hundred models joins in microseconds, while an ORDER BY sorts
/// them all again in the database: on SQLite (inside the aggregate, as SQL does not promise
/// that an aggregate sees a subquery's rows in order) through a temporary B-tree, on
/// PostgreSQL through a quicksort, each a large part of the tests query of Q1
/// (docs/benchmarks-history.md). Callers sort in SQL only where a LIMIT needs it.
///
/// Only `columns` are fetched: the rows are `Projected` to them.
pub async fn all<E>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    columns: Columns<E>,
) -> AppResult<Vec<Projected<E>>>
where
    E: Listed,
    E::Model: DeserializeOwned,
{
    let backend = db.get_database_backend();
    if backend != DbBackend::Sqlite {
        // PostgreSQL's driver streams rows on the request's own task, so there is no per-row
        // hand-over to save, and building JSON on the server measured slower: plain rows
        // there, decoded by position (`pg_decode`).
        let (query, selected) = pg_decode::select(query, columns)?;
        let statement = backend.build(query.as_query());
        let table = E::default().table_name();
        let mut models: Vec<E::Model> = pg_decode::all(db, statement, &selected, table).await?;
        models.sort_by_key(E::id_of);
        return Ok(projected(models, columns));
    }
    let names: Vec<&'static str> = columns.iter().map(|col| col.as_str()).collect();
    let inner = backend.build(query.as_query());
    let sql = format!(
        "SELECT json_group_array(json_array({})) FROM ({}) AS t",
        sqlite_values(columns),
        inner.sql
    );
    let statement = match inner.values {
        Some(values) => Statement::from_sql_and_values(backend, sql, values),
        None => Statement::from_string(backend, sql),
    };
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(Vec::new());
    };
    // Borrowed from the driver's row: the document (tens of KB for Q1's tests) is not copied
    // again.
    let text: &str = row
        .try_as_sqlite_row()
        .ok_or_else(|| anyhow::anyhow!("a SQLite query returned no SQLite row"))
        .and_then(|row| Ok(row.try_get(0)?))
        .map_err(|err| AppError::Internal(err.context("reading a list")))?;
    let mut models: Vec<E::Model> = json_array_decode::from_str(text, &names).map_err(|err| {
        AppError::Internal(anyhow::anyhow!(
            "decoding the aggregated rows of {}: {err}",
            E::default().table_name()
        ))
    })?;
    models.sort_by_key(E::id_of);
    Ok(projected(models, columns))
}

fn projected<E: EntityTrait>(models: Vec<E::Model>, columns: Columns<E>) -> Vec<Projected<E>> {
    models
        .into_iter()
        .map(|m| Projected::new(m, columns))
        .collect()
}

/// The values of the columns in `columns`, in declaration order, for `json_array`. SQLite
/// stores uuids as 16-byte blobs, which JSON cannot hold: they go out as 32 hex digits, a
/// form `Uuid` parses. Other stored values (text, numbers, NULL) are JSON as they are.
fn sqlite_values<E: EntityTrait>(columns: Columns<E>) -> String {
    columns
        .iter()
        .map(|col| {
            let name = quoted(col.as_str());
            match col.def().get_column_type() {
                ColumnType::Uuid => format!("hex({name})"),
                _ => name,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Column names come from the entity definitions, never from input; quoting keeps them
/// valid identifiers on both backends.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}
