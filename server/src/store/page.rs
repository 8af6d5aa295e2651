use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::columns::{Columns, Listed, Projected};
use super::list_fetch;
use crate::error::AppResult;

/// Keyset pagination over time-ordered (v7) ids: `id > after ORDER BY id LIMIT first + 1`.
/// The extra row tells whether there is a next page without a second query.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Uuid>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    pub fn from_overfetch(mut items: Vec<T>, first: u64) -> Self {
        let has_next_page = items.len() as u64 > first;
        items.truncate(first as usize);
        Page {
            items,
            has_next_page,
        }
    }
}

/// One page of `filtered` in `id` order, with the `columns` the caller reads (all list
/// queries page this way).
pub async fn fetch_page<E>(
    db: &impl ConnectionTrait,
    filtered: Select<E>,
    page: PageRequest,
    columns: Columns<E>,
) -> AppResult<Page<Projected<E>>>
where
    E: Listed,
    E::Model: DeserializeOwned,
{
    let query = rows_of_page(db.get_database_backend(), filtered, E::ID, page);
    let rows = list_fetch::all(db, query, columns).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The rows of one page of `filtered`, unordered (`list_fetch::all` applies the order).
///
/// On SQLite the page's ids are chosen first, then only those rows are read. Why: a credential
/// limited to several locations matches rows in several ranges of the scope index, so SQLite
/// sorts them by id to find the page, and sorting rows made it read every matching row of the
/// client; sorting ids reads the index alone (covering index), then only the page's rows by
/// key: by rowid, which the index holds, rather than by id, which would cost each row a
/// second lookup through the primary key index. PostgreSQL instead walks the primary key in
/// order and stops after the page, where the two-step form was slower
/// (`EXPLAIN ANALYZE`; docs/benchmarks-history.md).
fn rows_of_page<E>(
    backend: DbBackend,
    filtered: Select<E>,
    id: E::Column,
    page: PageRequest,
) -> Select<E>
where
    E: EntityTrait,
{
    let mut query = filtered;
    if let Some(after) = page.after {
        query = query.filter(id.gt(after));
    }
    let query = query.order_by_asc(id).limit(page.first + 1);
    if backend != DbBackend::Sqlite {
        return query;
    }
    // Every table here is a rowid table (none is declared WITHOUT ROWID).
    let rowid = || Expr::cust(format!("\"{}\".rowid", E::default().table_name()));
    let rowids = query.select_only().expr(rowid()).into_query();
    E::find().filter(rowid().in_subquery(rowids))
}
