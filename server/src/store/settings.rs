use chrono::Utc;
use entity::setting;
use sea_orm::{ConnectionTrait, EntityTrait, Set, sea_query::OnConflict};

use crate::error::AppResult;

pub async fn get(db: &impl ConnectionTrait, key: &str) -> AppResult<Option<String>> {
    Ok(setting::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|s| s.value))
}

pub async fn put(db: &impl ConnectionTrait, key: &str, value: &str) -> AppResult<()> {
    setting::Entity::insert(setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Key)
            .update_columns([setting::Column::Value, setting::Column::UpdatedAt])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// The key of the developer-portal toggle. Absent means enabled.
pub const DEVELOPER_PORTAL: &str = "developer_portal_enabled";

pub async fn developer_portal_enabled(db: &impl ConnectionTrait) -> AppResult<bool> {
    Ok(get(db, DEVELOPER_PORTAL).await?.as_deref() != Some("false"))
}
