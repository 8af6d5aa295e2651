//! `api_key.expiring`: raised once per key, the configured lead time before it expires. The
//! mark and the event are written together, and a mark already made (by another replica)
//! raises nothing.

use chrono::Utc;
use entity::api_key;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use crate::domain::environment::Environment;
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::AppResult;
use crate::store::{Effect, Effects, Store};

#[derive(FromQueryResult)]
struct Expiring {
    id: Uuid,
    environment: String,
}

/// Marks the keys expiring within `lead` that have not been announced, and raises their events.
pub async fn raise(store: &Store, lead: chrono::Duration) -> AppResult<usize> {
    use api_key::Column;
    let now = Utc::now();
    let txn = store.begin_write().await?;
    let backend = txn.txn.get_database_backend();
    let mut mark = Query::update();
    mark.table(api_key::Entity)
        .value(Column::ExpiryNotifiedAt, now)
        .and_where(Column::ExpiryNotifiedAt.is_null())
        .and_where(Column::RevokedAt.is_null())
        // A key replaced by rotation expires by design; its successor is what matters.
        .and_where(Column::RotatedTo.is_null())
        .and_where(Column::ExpiresAt.gt(now))
        .and_where(Column::ExpiresAt.lte(now + lead))
        .returning(Query::returning().columns([Column::Id, Column::Environment]));
    let rows = txn.txn.query_all_raw(backend.build(&mark)).await?;
    let keys = rows
        .iter()
        .map(|r| Expiring::from_query_result(r, ""))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Ok(0);
    }
    let mut effects = Effects::none();
    for key in &keys {
        effects = effects.and(Effect::Webhook(NewEvent::about_setting(
            EventType::ApiKeyExpiring,
            "api_key",
            key.id,
            Environment::from_stored(&key.environment),
            vec!["expiresAt".into()],
        )));
    }
    txn.commit(effects).await?;
    Ok(keys.len())
}
