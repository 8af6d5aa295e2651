//! "Who read patient X?" without a time range: an index of which records each actor touched
//! in each hour (`audit_record_touches`), so that a record's events are found by walking its
//! hours newest first and reading only that actor's events of that hour (by the actor index),
//! instead of scanning the JSON lists of every event. One row per record, hour and actor, not
//! per event: a key that pages through the same patients all day adds a row per patient per
//! hour, and the writer skips rows it wrote this hour (`store::audit_touches`).
//!
//! Existing events are indexed here, in pages, so that no event written before is missed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Events read per page of the backfill.
const PAGE: u64 = 2_000;
/// Touches per INSERT (three parameters each, under SQLite's limit).
const ROWS_PER_INSERT: usize = 300;

/// Hours since 1970 of a UUIDv7: its first 48 bits are milliseconds.
pub fn hour_of(id: &uuid::Uuid) -> i64 {
    let b = id.as_bytes();
    let ms = b[..6]
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    (ms / 3_600_000) as i64
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("audit_record_touches")
            .col(ColumnDef::new("record_id").text().not_null())
            .col(ColumnDef::new("hour").big_integer().not_null())
            .col(ColumnDef::new("actor_id").text().not_null())
            .primary_key(Index::create().col("record_id").col("hour").col("actor_id"))
            .to_owned();
        if manager.get_database_backend() == DbBackend::Sqlite {
            // The key is the whole row: stored once, in the key's B-tree, instead of a rowid
            // table and an index beside it (one B-tree insert per row, not two; every audited
            // create pays for it).
            let sql = table.to_string(SqliteQueryBuilder);
            manager
                .get_connection()
                .execute_unprepared(&format!("{sql} WITHOUT ROWID"))
                .await?;
        } else {
            manager.create_table(table).await?;
        }
        backfill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_record_touches").to_owned())
            .await
    }
}

async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let mut select = Query::select();
        select
            .columns(["id", "actor_id", "record_ids"])
            .from("audit_events")
            .order_by("id", Order::Asc)
            .limit(PAGE);
        if let Some(after) = after {
            select.and_where(Expr::col("id").gt(after));
        }
        let rows = db.query_all(&select).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.try_get::<uuid::Uuid>("", "id")?);
        let mut touches = std::collections::BTreeSet::new();
        for row in &rows {
            let id: uuid::Uuid = row.try_get("", "id")?;
            let actor: String = row.try_get("", "actor_id")?;
            let records: String = row.try_get("", "record_ids")?;
            let records: Vec<String> = serde_json::from_str(&records).unwrap_or_default();
            for record in records {
                touches.insert((record, hour_of(&id), actor.clone()));
            }
        }
        let touches: Vec<_> = touches.into_iter().collect();
        for chunk in touches.chunks(ROWS_PER_INSERT) {
            let mut insert = Query::insert();
            insert
                .into_table("audit_record_touches")
                .columns(["record_id", "hour", "actor_id"])
                .on_conflict(
                    OnConflict::columns(["record_id", "hour", "actor_id"])
                        .do_nothing()
                        .to_owned(),
                );
            for (record, hour, actor) in chunk {
                insert.values_panic([record.clone().into(), (*hour).into(), actor.clone().into()]);
            }
            let (sql, values) = match backend {
                DbBackend::Postgres => insert.build(PostgresQueryBuilder),
                _ => insert.build(SqliteQueryBuilder),
            };
            db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hour_is_read_from_the_id() {
        let at = uuid::Timestamp::from_unix(uuid::NoContext, 3_600 * 500_000 + 59, 0);
        assert_eq!(super::hour_of(&uuid::Uuid::new_v7(at)), 500_000);
    }
}
