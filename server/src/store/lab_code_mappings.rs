//! Each lab connection's code mapping: the lab's local test and observation codes and
//! Switchboard's codes they stand for.

use chrono::Utc;
use entity::lab_code_mapping::{self, Column, Entity, Model};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::error::AppResult;

/// A connection's whole mapping, by kind then local code.
pub async fn of_connection(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
) -> AppResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::ConnectionId.eq(connection_id))
        .order_by_asc(Column::Kind)
        .order_by_asc(Column::LocalCode)
        .all(db)
        .await?)
}

/// One entry to keep (replacing the one of the same kind and local code).
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: String,
    pub local_code: String,
    pub code: String,
    pub loinc: Option<String>,
    pub name: Option<String>,
}

/// Adds or replaces entries, in one statement per batch.
pub async fn upsert(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    entries: Vec<Entry>,
) -> AppResult<()> {
    let now = Utc::now();
    for chunk in entries.chunks(200) {
        let rows = chunk.iter().map(|e| lab_code_mapping::ActiveModel {
            id: Set(Uuid::now_v7()),
            connection_id: Set(connection_id),
            kind: Set(e.kind.clone()),
            local_code: Set(e.local_code.clone()),
            code: Set(e.code.clone()),
            loinc: Set(e.loinc.clone()),
            name: Set(e.name.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        });
        Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::ConnectionId, Column::Kind, Column::LocalCode])
                    .update_columns([Column::Code, Column::Loinc, Column::Name, Column::UpdatedAt])
                    .to_owned(),
            )
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Removes one entry; whether it was there.
pub async fn delete(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    kind: &str,
    local_code: &str,
) -> AppResult<bool> {
    let done = Entity::delete_many()
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::Kind.eq(kind))
        .filter(Column::LocalCode.eq(local_code))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}
