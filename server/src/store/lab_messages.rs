//! The lab messages received (`lab_messages`): each HL7 v2 message with its acknowledgement
//! and what became of it, the raw message sealed (`sealed::LAB_MESSAGE`).

use chrono::{DateTime, Utc};
use entity::lab_message::{self, Column, Entity, Model};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::environment::Environment;
use crate::error::AppResult;
use crate::keyring::Keyring;
use crate::store::sealed;

/// Which messages a list shows.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub connection_id: Option<Uuid>,
    pub status: Option<String>,
    /// Messages older than this one (the id of the last one of the previous page).
    pub before: Option<Uuid>,
}

/// The message a resend repeats: the same control id from the same facility over the same
/// connection.
pub async fn find_resend(
    db: &impl ConnectionTrait,
    connection_id: Uuid,
    sending_facility: &str,
    control_id: &str,
) -> AppResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::SendingFacility.eq(sending_facility))
        .filter(Column::ControlId.eq(control_id))
        .one(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &MessageFilter,
    environment: Option<Environment>,
    first: u64,
) -> AppResult<Vec<Model>> {
    let mut query = Entity::find();
    if let Some(env) = environment {
        query = query.filter(Column::ConnectionId.in_subquery(connections_in(env)));
    }
    if let Some(id) = filter.connection_id {
        query = query.filter(Column::ConnectionId.eq(id));
    }
    if let Some(status) = &filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(before) = filter.before {
        query = query.filter(Column::Id.lt(before));
    }
    Ok(query.order_by_desc(Column::Id).limit(first).all(db).await?)
}

/// The ids of the service connections of one environment.
pub fn connections_in(env: Environment) -> SelectStatement {
    use entity::service_connection::Column as C;
    Query::select()
        .column(C::Id)
        .from(entity::service_connection::Entity)
        .and_where(C::Environment.eq(env.as_str()))
        .to_owned()
}

/// How many messages of a connection have `status`.
pub async fn count(db: &impl ConnectionTrait, connection_id: Uuid, status: &str) -> AppResult<u64> {
    Ok(Entity::find()
        .filter(Column::ConnectionId.eq(connection_id))
        .filter(Column::Status.eq(status))
        .count(db)
        .await?)
}

/// A new message row, `raw` sealed under the row's id.
pub fn sealed_row(
    keyring: &Keyring,
    mut row: Model,
    raw: &str,
) -> AppResult<lab_message::ActiveModel> {
    let sealed = sealed::seal(keyring, sealed::LAB_MESSAGE, row.id, raw)?;
    row.raw = sealed.text;
    row.key_id = Some(sealed.key_id);
    // Every column is written (`into()` alone leaves them all Unchanged).
    Ok(lab_message::ActiveModel::from(row).reset_all())
}

pub async fn insert(db: &impl ConnectionTrait, row: lab_message::ActiveModel) -> AppResult<Model> {
    Ok(row.insert(db).await?)
}

/// The raw message, opened.
pub fn raw(keyring: &Keyring, row: &Model) -> AppResult<String> {
    sealed::open(
        keyring,
        sealed::LAB_MESSAGE,
        row.id,
        &row.raw,
        row.key_id.as_deref(),
    )
}

/// What a new processing of a stored message decided.
pub struct Outcome<'a> {
    pub status: &'a str,
    pub ack_code: &'a str,
    pub ack: &'a str,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub test_ids: &'a str,
    pub resolved: Option<(DateTime<Utc>, &'a str, &'a str)>,
    /// The connection it now belongs to (a message no connection took, routed since).
    pub connection_id: Option<Uuid>,
}

/// Records a reprocess or a discard of `row` — only if it is still `expected` (another
/// administrator's action meanwhile wins, and this one changes nothing).
pub async fn settle(
    db: &impl ConnectionTrait,
    row: &Model,
    expected: &str,
    outcome: Outcome<'_>,
    attempted: bool,
) -> AppResult<bool> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, outcome.status.into())
        .col_expr(Column::AckCode, outcome.ack_code.into())
        .col_expr(Column::Ack, outcome.ack.into())
        .col_expr(
            Column::ErrorCode,
            outcome.error_code.map(str::to_owned).into(),
        )
        .col_expr(
            Column::ErrorMessage,
            outcome.error_message.map(str::to_owned).into(),
        )
        .col_expr(Column::TestIds, outcome.test_ids.into());
    if attempted {
        update = update.col_expr(Column::Attempts, (row.attempts + 1).into());
    }
    if let Some(id) = outcome.connection_id {
        update = update.col_expr(Column::ConnectionId, Some(id).into());
    }
    if let Some((at, by, resolution)) = outcome.resolved {
        update = update
            .col_expr(Column::ResolvedAt, Some(at).into())
            .col_expr(Column::ResolvedBy, Some(by.to_owned()).into())
            .col_expr(Column::Resolution, Some(resolution.to_owned()).into());
    }
    let done = update
        .filter(Column::Id.eq(row.id))
        .filter(Column::Status.eq(expected))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
