//! Requests for outside records and what came back, and the secrets records services sign
//! their answers with (sealed).

use chrono::{DateTime, Utc};
use entity::{outside_records_request as request, service_inbound_secret as secret};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::records_exchange::RecordsRequestStatus as Status;
use crate::error::AppResult;
use crate::keyring::Keyring;
use crate::store::sealed;

pub async fn insert(db: &impl ConnectionTrait, row: request::Model) -> AppResult<request::Model> {
    let row: request::ActiveModel = row.into();
    Ok(row.insert(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<request::Model>> {
    Ok(request::Entity::find_by_id(id).one(db).await?)
}

/// A patient's requests, newest first.
pub async fn for_patient(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    first: u64,
) -> AppResult<Vec<request::Model>> {
    Ok(request::Entity::find()
        .filter(request::Column::PatientId.eq(patient_id))
        .order_by_desc(request::Column::Id)
        .limit(first)
        .all(db)
        .await?)
}

/// Records an answer to a request still waiting for one; false if it was answered already
/// (by this message or another).
pub async fn answer(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: Status,
    answer_id: &str,
    records: &str,
    at: DateTime<Utc>,
) -> AppResult<bool> {
    let done = request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(status.as_str()))
        .col_expr(request::Column::AnswerId, Expr::value(answer_id))
        .col_expr(request::Column::Records, Expr::value(records))
        .col_expr(request::Column::AnsweredAt, Expr::value(at))
        .filter(request::Column::Id.eq(id))
        .filter(request::Column::Status.eq(Status::Sent.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// How many validation requests to `connection` the service accepted, and how many failed.
pub async fn validation_counts(
    db: &impl ConnectionTrait,
    connection: Uuid,
) -> AppResult<(u64, u64)> {
    let count = |status: Status| {
        request::Entity::find()
            .filter(request::Column::ConnectionId.eq(connection))
            .filter(request::Column::Validation.eq(true))
            .filter(request::Column::Status.eq(status.as_str()))
            .count(db)
    };
    Ok((
        count(Status::Validated).await?,
        count(Status::Failed).await?,
    ))
}

/// Sets (or replaces) the secret `connection`'s service signs with.
pub async fn set_inbound_secret(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    connection: Uuid,
    plain: &str,
) -> AppResult<DateTime<Utc>> {
    let sealed = sealed::seal(keyring, sealed::SERVICE_INBOUND_SECRET, connection, plain)?;
    secret::Entity::delete_by_id(connection).exec(db).await?;
    let now = Utc::now();
    secret::ActiveModel {
        id: Set(connection),
        secret: Set(sealed.text),
        key_id: Set(Some(sealed.key_id)),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(now)
}

/// When `connection`'s inbound secret was set, if it is.
pub async fn inbound_secret_set_at(
    db: &impl ConnectionTrait,
    connection: Uuid,
) -> AppResult<Option<DateTime<Utc>>> {
    Ok(secret::Entity::find_by_id(connection)
        .one(db)
        .await?
        .map(|s| s.created_at))
}

/// `connection`'s inbound secret, opened.
pub async fn inbound_secret(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    connection: Uuid,
) -> AppResult<Option<String>> {
    let Some(row) = secret::Entity::find_by_id(connection).one(db).await? else {
        return Ok(None);
    };
    sealed::open(
        keyring,
        sealed::SERVICE_INBOUND_SECRET,
        connection,
        &row.secret,
        row.key_id.as_deref(),
    )
    .map(Some)
}

pub async fn delete_inbound_secret(db: &impl ConnectionTrait, connection: Uuid) -> AppResult<()> {
    secret::Entity::delete_by_id(connection).exec(db).await?;
    Ok(())
}
