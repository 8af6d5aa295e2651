use std::sync::LazyLock;

use async_graphql::resolver_utils::{EnumType, enum_value};
use async_graphql::{
    ComplexObject, Context, Enum, ID, Object, SelectionField, SimpleObject, Value,
};
use chrono::{DateTime, Utc};
use entity::lab_test::{Column, Entity, Model};

use super::page::PageInfo;
use super::patient::Patient;
use super::plain::{Plain, PlainFields};
use crate::domain::lab_result::ResultLine;
use crate::domain::test_status::TestStatus as Status;
use crate::graphql::ids::{cursor, to_id};
use crate::graphql::loaders::Loaders;
use crate::store::columns::Columns;
use crate::store::page::Page;

/// Lifecycle of a test: ORDERED → COLLECTED → IN_PROGRESS → RESULTED, or CANCELLED.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    Ordered,
    Collected,
    InProgress,
    Resulted,
    Cancelled,
}

impl From<TestStatus> for Status {
    fn from(s: TestStatus) -> Self {
        match s {
            TestStatus::Ordered => Status::Ordered,
            TestStatus::Collected => Status::Collected,
            TestStatus::InProgress => Status::InProgress,
            TestStatus::Resulted => Status::Resulted,
            TestStatus::Cancelled => Status::Cancelled,
        }
    }
}

impl From<Status> for TestStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Ordered => TestStatus::Ordered,
            Status::Collected => TestStatus::Collected,
            Status::InProgress => TestStatus::InProgress,
            Status::Resulted => TestStatus::Resulted,
            Status::Cancelled => TestStatus::Cancelled,
        }
    }
}

/// How a result compares with its reference range.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AbnormalFlag {
    Normal,
    Low,
    High,
    CriticalLow,
    CriticalHigh,
    Abnormal,
}

impl AbnormalFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            AbnormalFlag::Normal => "NORMAL",
            AbnormalFlag::Low => "LOW",
            AbnormalFlag::High => "HIGH",
            AbnormalFlag::CriticalLow => "CRITICAL_LOW",
            AbnormalFlag::CriticalHigh => "CRITICAL_HIGH",
            AbnormalFlag::Abnormal => "ABNORMAL",
        }
    }
    fn parse(raw: &str) -> Option<Self> {
        [
            AbnormalFlag::Normal,
            AbnormalFlag::Low,
            AbnormalFlag::High,
            AbnormalFlag::CriticalLow,
            AbnormalFlag::CriticalHigh,
            AbnormalFlag::Abnormal,
        ]
        .into_iter()
        .find(|f| f.as_str() == raw)
    }
}

/// One analyte of a test's result.
#[derive(SimpleObject)]
pub struct TestResult {
    /// Analyte code (e.g. a LOINC code).
    pub code: String,
    pub name: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    pub abnormal_flag: Option<AbnormalFlag>,
}

impl From<ResultLine> for TestResult {
    fn from(r: ResultLine) -> Self {
        TestResult {
            code: r.code,
            name: r.name,
            value: r.value,
            unit: r.unit,
            reference_range: r.reference_range,
            abnormal_flag: r.abnormal_flag.as_deref().and_then(AbnormalFlag::parse),
        }
    }
}

/// A lab test (a sample/order in the lab's order index).
pub struct Test(pub Model);

impl Test {
    /// The columns that resolving `fields` reads, plus the keys every row carries (the
    /// patient id groups nested lists and finds the test's patient). As for `Patient`, a field
    /// not named here reads every column.
    pub fn columns<'a>(fields: impl IntoIterator<Item = SelectionField<'a>>) -> Columns<Entity> {
        let mut set = Columns::of(&[
            Column::Id,
            Column::PatientId,
            Column::ClientId,
            Column::LocationId,
        ]);
        for field in fields {
            let col = match field.name() {
                "id" | "patientId" | "clientId" | "locationId" | "patient" | "__typename" => {
                    continue;
                }
                "testCode" => Column::TestCode,
                "testName" => Column::TestName,
                "accessionNumber" => Column::AccessionNumber,
                "status" => Column::Status,
                "results" => Column::Results,
                "orderedAt" => Column::OrderedAt,
                "collectedAt" => Column::CollectedAt,
                "resultedAt" => Column::ResultedAt,
                "cancelledAt" => Column::CancelledAt,
                "createdAt" => Column::CreatedAt,
                "updatedAt" => Column::UpdatedAt,
                _ => return Columns::all(),
            };
            set = set.with(col);
        }
        set
    }

    /// The stored status as the API's enum (the field and its plain copy share it).
    fn status_value(&self) -> Option<TestStatus> {
        self.0.status.parse::<Status>().ok().map(TestStatus::from)
    }
}

/// A status as a response value. The names are made once, from the enum's own list:
/// `enum_value` would allocate one for each of a page's hundreds of tests.
fn status_name(status: TestStatus) -> Value {
    static NAMES: LazyLock<Vec<(TestStatus, Value)>> = LazyLock::new(|| {
        TestStatus::items()
            .iter()
            .map(|item| (item.value, enum_value(item.value)))
            .collect()
    });
    NAMES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(Value::Null, |(_, name)| name.clone())
}

impl PlainFields for Test {
    fn plain(&self, name: &str) -> Option<Value> {
        let t = &self.0;
        Some(match name {
            "id" => Value::String(to_id(t.id).0),
            "patientId" => Value::String(to_id(t.patient_id).0),
            "clientId" => Value::String(to_id(t.client_id).0),
            "locationId" => Value::String(to_id(t.location_id).0),
            "testCode" => Value::String(t.test_code.clone()),
            "testName" => Value::String(t.test_name.clone()),
            "accessionNumber" => Value::String(t.accession_number.clone()),
            "status" => self.status_value().map_or(Value::Null, status_name),
            _ => return None,
        })
    }
}

/// A lab test (a sample/order in the lab's order index).
#[Object(serial)]
impl Test {
    async fn id(&self) -> Option<ID> {
        Some(to_id(self.0.id))
    }
    async fn patient_id(&self) -> Option<ID> {
        Some(to_id(self.0.patient_id))
    }
    async fn client_id(&self) -> Option<ID> {
        Some(to_id(self.0.client_id))
    }
    async fn location_id(&self) -> Option<ID> {
        Some(to_id(self.0.location_id))
    }
    /// The ordered test's code in the lab's catalogue.
    async fn test_code(&self) -> Option<&str> {
        Some(&self.0.test_code)
    }
    async fn test_name(&self) -> Option<&str> {
        Some(&self.0.test_name)
    }
    /// The sample's accession number, unique within the client.
    async fn accession_number(&self) -> Option<&str> {
        Some(&self.0.accession_number)
    }
    async fn status(&self) -> Option<TestStatus> {
        self.status_value()
    }
    async fn results(&self) -> Option<Vec<TestResult>> {
        let lines: Vec<ResultLine> = serde_json::from_str(&self.0.results).unwrap_or_default();
        Some(lines.into_iter().map(TestResult::from).collect())
    }
    async fn ordered_at(&self) -> Option<DateTime<Utc>> {
        Some(self.0.ordered_at)
    }
    async fn collected_at(&self) -> Option<DateTime<Utc>> {
        self.0.collected_at
    }
    async fn resulted_at(&self) -> Option<DateTime<Utc>> {
        self.0.resulted_at
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        Some(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        Some(self.0.updated_at)
    }
    /// The patient the test belongs to.
    async fn patient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Patient>> {
        let loaders = ctx.data::<Loaders>()?;
        let columns = Patient::columns(ctx.field().selection_set());
        Ok(loaders
            .patients
            .load_one((self.0.patient_id, columns))
            .await?
            .map(Patient))
    }
}

/// A test and its cursor.
#[derive(SimpleObject)]
pub struct TestEdge {
    pub cursor: String,
    pub node: Plain<Test>,
}

/// A page of tests.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TestConnection {
    pub edges: Vec<TestEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub total: Option<u64>,
}

#[ComplexObject]
impl TestConnection {
    /// The tests of this page (the edges' nodes).
    async fn nodes(&self) -> Vec<Plain<Test>> {
        self.edges
            .iter()
            .map(|e| Plain(Test(e.node.0.0.clone())))
            .collect()
    }
    /// All tests matching the filter, across pages.
    async fn total_count(&self) -> Option<u64> {
        self.total
    }
}

impl TestConnection {
    pub fn new(page: Page<Model>, total: Option<u64>) -> Self {
        let end_cursor = page.items.last().map(|t| cursor(t.id));
        TestConnection {
            edges: page
                .items
                .into_iter()
                .map(|t| TestEdge {
                    cursor: cursor(t.id),
                    node: Plain(Test(t)),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total,
        }
    }
}
