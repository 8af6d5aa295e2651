use chrono::{DateTime, NaiveDate, Utc};
use entity::patient::{self, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::columns::{Columns, Listed, Projected};
use super::page::{Page, PageRequest, fetch_page};
use super::scope::condition;
use super::{bulk, list_fetch};
use crate::domain::patient::{Account, AccountStatus, NoAccountReason, PatientWrite, Sex};
use crate::domain::row_scope::RowScope;
use crate::error::AppResult;

impl Listed for Entity {
    const ID: Column = Column::Id;

    fn id_of(model: &patient::Model) -> Uuid {
        model.id
    }
}

#[derive(Clone, Debug, Default)]
pub struct PatientFilter {
    pub client_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub external_patient_id: Option<String>,
    /// Case-insensitive substring of the first or last name.
    pub name: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// A patient as it will be inserted; every value already validated.
#[derive(Clone, Debug)]
pub struct NewPatient {
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub external_patient_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub diagnoses: Vec<String>,
    pub medications: Vec<String>,
    pub insurance: Option<String>,
    pub billing_account: Option<String>,
    pub account_status: AccountStatus,
    pub account_reason: Option<NoAccountReason>,
}

fn filtered(scope: &RowScope, filter: &PatientFilter) -> Condition {
    let mut cond = condition(scope, Column::ClientId, Column::LocationId);
    if let Some(id) = filter.client_id {
        cond = cond.add(Column::ClientId.eq(id));
    }
    if let Some(id) = filter.location_id {
        cond = cond.add(Column::LocationId.eq(id));
    }
    if let Some(ext) = &filter.external_patient_id {
        cond = cond.add(Column::ExternalPatientId.eq(ext.as_str()));
    }
    if let Some(name) = &filter.name {
        let pattern = format!("%{}%", strip_like_wildcards(&name.to_lowercase()));
        cond = cond.add(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(Column::FirstName))).like(pattern.as_str()))
                .add(Expr::expr(Func::lower(Expr::col(Column::LastName))).like(pattern.as_str())),
        );
    }
    if let Some(from) = filter.created_from {
        cond = cond.add(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        cond = cond.add(Column::CreatedAt.lt(to));
    }
    cond
}

/// Wildcards and the escape character are dropped from user input, portably across both
/// backends: a search for `50%` must not mean "anything containing 50".
fn strip_like_wildcards(raw: &str) -> String {
    raw.replace(['\\', '%', '_'], "")
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn find(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    id: Uuid,
) -> AppResult<Option<patient::Model>> {
    Ok(Entity::find_by_id(id)
        .filter(condition(scope, Column::ClientId, Column::LocationId))
        .one(db)
        .await?)
}

#[tracing::instrument(skip_all, err(Debug), fields(n = ids.len()))]
pub async fn find_many(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    ids: &[Uuid],
    columns: Columns<Entity>,
) -> AppResult<Vec<Projected<Entity>>> {
    let query = Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(condition(scope, Column::ClientId, Column::LocationId));
    list_fetch::all(db, query, columns).await
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    filter: &PatientFilter,
    page: PageRequest,
    columns: Columns<Entity>,
) -> AppResult<Page<Projected<Entity>>> {
    let query = Entity::find().filter(filtered(scope, filter));
    fetch_page(db, query, page, columns).await
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn count(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    filter: &PatientFilter,
) -> AppResult<u64> {
    Ok(Entity::find()
        .filter(filtered(scope, filter))
        .count(db)
        .await?)
}

/// Unscoped on purpose: duplicate detection must see the patient even when the caller
/// may not. Callers decide what of the result to disclose.
pub async fn find_by_external_id(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    external_patient_id: &str,
) -> AppResult<Option<patient::Model>> {
    Ok(Entity::find()
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ExternalPatientId.eq(external_patient_id))
        .one(db)
        .await?)
}

/// Which of `externals` the client's patients already have (an import's duplicates);
/// unscoped like `find_by_external_id`.
pub async fn existing_external_ids(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    externals: &[&str],
) -> AppResult<Vec<String>> {
    use sea_orm::QuerySelect;
    let found: Vec<Option<String>> = Entity::find()
        .select_only()
        .column(Column::ExternalPatientId)
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ExternalPatientId.is_in(externals.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Every patient with this external id, in any client (for administrators' audit searches).
pub async fn ids_by_external_id(
    db: &impl ConnectionTrait,
    external_patient_id: &str,
) -> AppResult<Vec<Uuid>> {
    use sea_orm::QuerySelect;
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ExternalPatientId.eq(external_patient_id))
        .into_tuple()
        .all(db)
        .await?)
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub fn parse_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn insert(db: &impl ConnectionTrait, new: NewPatient) -> AppResult<patient::Model> {
    Ok(new_row(new).1.insert(db).await?)
}

/// A patient ready to insert, with its new id (for an audit event written with it; see
/// `Store::insert`).
pub fn new_row(new: NewPatient) -> (Uuid, patient::ActiveModel) {
    bulk::with_new_id(new, row)
}

/// Inserts many patients in one statement (bulk loads); see `bulk::insert_with_ids`.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    batch: Vec<NewPatient>,
) -> AppResult<Vec<Uuid>> {
    bulk::insert_with_ids(db, batch, row).await
}

fn row(id: Uuid, new: NewPatient, now: DateTime<Utc>) -> patient::ActiveModel {
    patient::ActiveModel {
        id: Set(id),
        client_id: Set(new.client_id),
        location_id: Set(new.location_id),
        external_patient_id: Set(new.external_patient_id),
        first_name: Set(new.first_name),
        last_name: Set(new.last_name),
        date_of_birth: Set(new.date_of_birth),
        sex: Set(new.sex.map(|s| s.as_str().to_owned())),
        email: Set(new.email),
        phone: Set(new.phone),
        address: Set(new.address),
        diagnoses: Set(json_list(&new.diagnoses)),
        medications: Set(json_list(&new.medications)),
        insurance: Set(new.insurance),
        billing_account: Set(new.billing_account),
        account_status: Set(new.account_status.as_str().to_owned()),
        account_reason: Set(new.account_reason.map(|r| r.as_str().to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn update(
    db: &impl ConnectionTrait,
    current: patient::Model,
    patch: PatientWrite,
    account: Account,
) -> AppResult<patient::Model> {
    let mut model: patient::ActiveModel = current.into();
    macro_rules! apply {
        ($($field:ident),*) => {$(
            if let Some(value) = patch.$field { model.$field = Set(value); }
        )*};
    }
    apply!(
        external_patient_id,
        first_name,
        last_name,
        date_of_birth,
        email,
        phone,
        address,
        insurance,
        billing_account
    );
    if let Some(sex) = patch.sex {
        model.sex = Set(sex.map(|s| s.as_str().to_owned()));
    }
    if let Some(list) = patch.diagnoses {
        model.diagnoses = Set(json_list(&list));
    }
    if let Some(list) = patch.medications {
        model.medications = Set(json_list(&list));
    }
    model.account_status = Set(account.0.as_str().to_owned());
    model.account_reason = Set(account.1.map(|r| r.as_str().to_owned()));
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}
