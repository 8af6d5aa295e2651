use async_graphql::{ComplexObject, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::lab_test::{Entity, Model};

use super::page::PageInfo;
use super::patient::Patient;
use super::plain::Plain;
use super::record::{plain_enums, record_object};
use crate::access::Disclosure;
use crate::access::rules::{TEST_ID, s};
use crate::domain::lab_result::{AbnormalFlag, ResultLine};
use crate::domain::lab_test::TestStatus;
use crate::domain::scope::Scope::{PatientsRead, TestsRead};
use crate::graphql::ids::{cursor, to_id};
use crate::graphql::loaders::Loaders;
use crate::store::columns::Projected;
use crate::store::page::Page;

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
            abnormal_flag: r.abnormal_flag,
        }
    }
}

/// A test (see the declaration below), as read: whole, or projected to the columns a list's
/// query reads.
pub struct Test(pub Projected<Entity>);

impl Test {
    pub fn whole(model: Model) -> Self {
        Test(Projected::whole(model))
    }
}

plain_enums!(TestStatus);

record_object! {
    /// A lab test (a sample/order in the lab's order index).
    Test for lab_test, keys [id, patient_id, client_id, location_id] {
        "id" id: Option<ID>, TEST_ID, Disclosure::None, [id] plain => Some(to_id(*id));
        "patientId" patient_id: Option<ID>, s(TestsRead), Disclosure::None,
            [patient_id] plain => Some(to_id(*patient_id));
        "clientId" client_id: Option<ID>, s(TestsRead), Disclosure::None,
            [client_id] plain => Some(to_id(*client_id));
        "locationId" location_id: Option<ID>, s(TestsRead), Disclosure::None,
            [location_id] plain => Some(to_id(*location_id));
        /// The ordered test's code in the lab's catalogue.
        "testCode" test_code: Option<&str>, s(TestsRead), Disclosure::None,
            [test_code] plain => Some(test_code.as_str());
        "testName" test_name: Option<&str>, s(TestsRead), Disclosure::None,
            [test_name] plain => Some(test_name.as_str());
        /// The sample's accession number, unique within the client.
        "accessionNumber" accession_number: Option<&str>, s(TestsRead), Disclosure::None,
            [accession_number] plain => Some(accession_number.as_str());
        "status" status: Option<TestStatus>, s(TestsRead), Disclosure::None,
            [status] plain => status.parse::<TestStatus>().ok();
        "results" results: Option<Vec<TestResult>>, s(TestsRead), Disclosure::None,
            [results] resolve => {
                let lines: Vec<ResultLine> = serde_json::from_str(results).unwrap_or_default();
                Ok(Some(lines.into_iter().map(TestResult::from).collect()))
            };
        "orderedAt" ordered_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [ordered_at] plain => Some(*ordered_at);
        "collectedAt" collected_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [collected_at] plain => *collected_at;
        "resultedAt" resulted_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [resulted_at] plain => *resulted_at;
        "cancelledAt" cancelled_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [cancelled_at] plain => *cancelled_at;
        "createdAt" created_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [created_at] plain => Some(*created_at);
        "updatedAt" updated_at: Option<DateTime<Utc>>, s(TestsRead), Disclosure::None,
            [updated_at] plain => Some(*updated_at);
        /// The patient the test belongs to.
        "patient" patient(ctx): Option<Patient>, s(PatientsRead), Disclosure::None,
            [patient_id] resolve => {
                let loaders = ctx.data::<Loaders>()?;
                let columns = Patient::columns(ctx.field().selection_set());
                Ok(loaders
                    .patients
                    .load_one((*patient_id, columns))
                    .await?
                    .map(Patient))
            };
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
    pub fn new(page: Page<Projected<Entity>>, total: Option<u64>) -> Self {
        let end_cursor = page.items.last().map(|t| cursor(t.id()));
        TestConnection {
            edges: page
                .items
                .into_iter()
                .map(|t| TestEdge {
                    cursor: cursor(t.id()),
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
