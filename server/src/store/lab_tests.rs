use chrono::{DateTime, Utc};
use entity::lab_test::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::columns::{Columns, Listed, Projected};
use super::page::{Page, PageRequest, fetch_page};
use super::scope::condition;
use super::{bulk, list_fetch};
use crate::domain::lab_test::TestStatus;
use crate::domain::row_scope::RowScope;
use crate::error::AppResult;

impl Listed for Entity {
    const ID: Column = Column::Id;

    fn id_of(model: &lab_test::Model) -> Uuid {
        model.id
    }
}

#[derive(Clone, Debug, Default)]
pub struct TestFilter {
    pub client_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub status: Option<TestStatus>,
    pub accession_number: Option<String>,
    pub ordered_from: Option<DateTime<Utc>>,
    pub ordered_to: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct NewTest {
    pub patient_id: Uuid,
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub test_code: String,
    pub test_name: String,
    pub accession_number: String,
    pub ordered_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct TestPatch {
    pub status: Option<TestStatus>,
    pub results: Option<String>,
    pub collected_at: Option<DateTime<Utc>>,
    pub resulted_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

fn filtered(scope: &RowScope, filter: &TestFilter) -> Condition {
    let mut cond = condition(scope, Column::ClientId, Column::LocationId);
    if let Some(id) = filter.client_id {
        cond = cond.add(Column::ClientId.eq(id));
    }
    if let Some(id) = filter.location_id {
        cond = cond.add(Column::LocationId.eq(id));
    }
    if let Some(id) = filter.patient_id {
        cond = cond.add(Column::PatientId.eq(id));
    }
    if let Some(status) = &filter.status {
        cond = cond.add(Column::Status.eq(status.as_str()));
    }
    if let Some(acc) = &filter.accession_number {
        cond = cond.add(Column::AccessionNumber.eq(acc.as_str()));
    }
    if let Some(from) = filter.ordered_from {
        cond = cond.add(Column::OrderedAt.gte(from));
    }
    if let Some(to) = filter.ordered_to {
        cond = cond.add(Column::OrderedAt.lt(to));
    }
    cond
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn find(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    id: Uuid,
) -> AppResult<Option<lab_test::Model>> {
    Ok(Entity::find_by_id(id)
        .filter(condition(scope, Column::ClientId, Column::LocationId))
        .one(db)
        .await?)
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    filter: &TestFilter,
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
    filter: &TestFilter,
) -> AppResult<u64> {
    Ok(Entity::find()
        .filter(filtered(scope, filter))
        .count(db)
        .await?)
}

/// All visible tests of several patients in one query, for the nested `Patient.tests`.
#[tracing::instrument(skip_all, err(Debug), fields(n = patient_ids.len()))]
pub async fn for_patients(
    db: &impl ConnectionTrait,
    scope: &RowScope,
    patient_ids: &[Uuid],
    columns: Columns<Entity>,
) -> AppResult<Vec<Projected<Entity>>> {
    let query = Entity::find()
        .filter(Column::PatientId.is_in(patient_ids.iter().copied()))
        .filter(condition(scope, Column::ClientId, Column::LocationId));
    list_fetch::all(db, query, columns).await
}

/// A patient's tests whose accession number is one of `numbers` (results intake: unscoped,
/// the connection's client is the scope).
#[tracing::instrument(skip_all, err(Debug))]
pub async fn of_patient_by_accession(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    numbers: &[String],
) -> AppResult<Vec<lab_test::Model>> {
    Ok(Entity::find()
        .filter(Column::PatientId.eq(patient_id))
        .filter(Column::AccessionNumber.is_in(numbers.iter().map(String::as_str)))
        .all(db)
        .await?)
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn insert(db: &impl ConnectionTrait, new: NewTest) -> AppResult<lab_test::Model> {
    Ok(new_row(new).1.insert(db).await?)
}

/// A test ready to insert, with its new id (for an audit event written with it; see
/// `Store::insert`).
pub fn new_row(new: NewTest) -> (Uuid, lab_test::ActiveModel) {
    bulk::with_new_id(new, row)
}

/// Which of `accessions` the client's tests already use.
pub async fn existing_accessions(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    accessions: &[&str],
) -> AppResult<Vec<String>> {
    use sea_orm::QuerySelect;
    Ok(lab_test::Entity::find()
        .select_only()
        .column(Column::AccessionNumber)
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::AccessionNumber.is_in(accessions.iter().copied()))
        .into_tuple()
        .all(db)
        .await?)
}

/// Inserts many tests in one statement (bulk loads); see `bulk::insert_with_ids`.
pub async fn insert_many(db: &impl ConnectionTrait, batch: Vec<NewTest>) -> AppResult<Vec<Uuid>> {
    bulk::insert_with_ids(db, batch, row).await
}

fn row(id: Uuid, new: NewTest, now: DateTime<Utc>) -> lab_test::ActiveModel {
    lab_test::ActiveModel {
        id: Set(id),
        patient_id: Set(new.patient_id),
        client_id: Set(new.client_id),
        location_id: Set(new.location_id),
        test_code: Set(new.test_code),
        test_name: Set(new.test_name),
        accession_number: Set(new.accession_number),
        status: Set(TestStatus::Ordered.as_str().to_owned()),
        results: Set("[]".into()),
        ordered_at: Set(new.ordered_at),
        collected_at: Set(None),
        resulted_at: Set(None),
        cancelled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

#[tracing::instrument(skip_all, err(Debug))]
pub async fn update(
    db: &impl ConnectionTrait,
    current: lab_test::Model,
    patch: TestPatch,
) -> AppResult<lab_test::Model> {
    let mut model: lab_test::ActiveModel = current.into();
    if let Some(status) = patch.status {
        model.status = Set(status.as_str().to_owned());
    }
    if let Some(results) = patch.results {
        model.results = Set(results);
    }
    if let Some(at) = patch.collected_at {
        model.collected_at = Set(Some(at));
    }
    if let Some(at) = patch.resulted_at {
        model.resulted_at = Set(Some(at));
    }
    if let Some(at) = patch.cancelled_at {
        model.cancelled_at = Set(Some(at));
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}
