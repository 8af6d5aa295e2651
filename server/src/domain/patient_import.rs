//! Batch imports of patients (and, optionally, tests ordered for them), apart from storage:
//! the formats, a job's statuses, what a row may hold and why one is refused. Each row is
//! validated by the same rules as `createPatient` (`patient_input`), its tests by those of
//! `createTest`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::csv;
use super::lab_test;
use super::patient::{PatientWrite, Sex};
use super::patient_input::{PatientFields, text};
use super::scope::{Category, Scope, ScopeSet};
use super::stored_enum::stored_enum;
use super::validate::Invalid;

/// Rows per batch: one chunk of the upload, one transaction, one audit event. Under both
/// backends' bound-parameter limits (a patient is 19 values).
pub const BATCH_ROWS: usize = 1_000;
/// The longest record accepted; a longer one refuses the upload (it cannot be a patient, and
/// holding it would make memory grow with the file).
pub const RECORD_MAX_BYTES: usize = 64 * 1024;
/// Rows one GraphQL `importPatients` may carry; larger imports are uploaded as files.
pub const LIST_MAX_ROWS: usize = 1_000;
/// Separates the entries of a list (diagnoses, medications) in a CSV cell.
pub const CSV_LIST_SEPARATOR: char = ';';
/// Tests one row may order at most.
pub const TESTS_PER_ROW_MAX: usize = 50;

stored_enum! {
    /// How an import's rows were sent.
    pub enum ImportFormat {
        /// One JSON object per line (`application/x-ndjson`).
        Ndjson = "NDJSON",
        /// A header line naming the columns, then one patient per record (`text/csv`).
        Csv = "CSV",
        /// A list in the `importPatients` mutation.
        List = "LIST",
    }
}

stored_enum! {
    /// Where an import job is.
    pub enum ImportStatus {
        /// The upload is still arriving.
        Receiving = "RECEIVING",
        /// Uploaded, waiting for a worker.
        Queued = "QUEUED",
        /// Being imported.
        Running = "RUNNING",
        /// Every row was processed (some may have been refused: see `failed`).
        Completed = "COMPLETED",
        /// Stopped at the caller's request; the rows imported until then stay.
        Cancelled = "CANCELLED",
        /// Stopped by a problem with the job as a whole (see `error`), not with a row.
        Failed = "FAILED",
    }
}

impl ImportStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ImportStatus::Completed | ImportStatus::Cancelled | ImportStatus::Failed
        )
    }
}

impl ImportFormat {
    /// Whether records are cut as CSV (line breaks inside quotes do not end one).
    pub fn quoted(self) -> bool {
        self == ImportFormat::Csv
    }
}

stored_enum! {
    /// Why a row of an import created no patient.
    pub enum RefusalCode {
        /// The row could not be read (not JSON, wrong number of CSV fields, wrong types).
        Unreadable = "UNREADABLE",
        /// A value broke a rule (`field` names it), as `createPatient` would refuse it.
        InvalidInput = "INVALID_INPUT",
        /// A field needs a write scope the credential that started the import lacks.
        Forbidden = "FORBIDDEN",
        /// The client already has a patient with this `externalPatientId` (or an earlier row
        /// of the upload made one).
        DuplicatePatient = "DUPLICATE_PATIENT",
        /// The client already has a test with this accession number (or an earlier row of the
        /// upload made one): nothing of the row is imported.
        DuplicateTest = "DUPLICATE_TEST",
    }
}

/// A refused row: its line in the upload (the row's number for a list) and why. Never the
/// row's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub line: u32,
    pub code: RefusalCode,
    pub field: Option<String>,
    pub message: String,
}

impl Refusal {
    fn invalid(line: u32, invalid: Invalid) -> Self {
        Refusal {
            line,
            code: RefusalCode::InvalidInput,
            field: Some(invalid.field),
            message: invalid.message,
        }
    }

    fn unreadable(line: u32, message: impl Into<String>) -> Self {
        Refusal {
            line,
            code: RefusalCode::Unreadable,
            field: None,
            message: message.into(),
        }
    }
}

/// A row as read, before the client's locations are known.
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub line: u32,
    /// Another location of the job's client than the job's own.
    pub location_id: Option<Uuid>,
    pub write: PatientWrite,
    /// Tests ordered for the patient, with accession numbers distinct within the row.
    pub tests: Vec<RowTest>,
}

/// A test a row orders for its patient (`ORDERED`, at the import's time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowTest {
    pub test_code: String,
    pub test_name: String,
    pub accession_number: String,
}

/// What the credential that started an import may do, kept with the job so that each batch
/// runs with it (after a restart too): its scopes, and the locations of the job's client it
/// reaches (`None`: all of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportAuthority {
    pub scopes: ScopeSet,
    pub locations: Option<Vec<Uuid>>,
}

impl ImportAuthority {
    pub fn to_stored(&self) -> String {
        serde_json::json!({ "scopes": self.scopes.names(), "locations": self.locations })
            .to_string()
    }

    /// As stored; anything unreadable reads as no right at all.
    pub fn from_stored(raw: &str) -> Self {
        #[derive(Deserialize)]
        struct Stored {
            scopes: Vec<String>,
            locations: Option<Vec<Uuid>>,
        }
        match serde_json::from_str::<Stored>(raw) {
            Ok(s) => ImportAuthority {
                scopes: s.scopes.iter().filter_map(|n| n.parse().ok()).collect(),
                locations: s.locations,
            },
            Err(_) => ImportAuthority {
                scopes: ScopeSet::default(),
                locations: Some(vec![]),
            },
        }
    }

    /// The first category `write` touches that needs a scope this authority lacks.
    pub fn missing(&self, write: &PatientWrite) -> Option<Category> {
        write
            .categories()
            .into_iter()
            .find(|c| !self.scopes.contains(c.write_scope()))
    }

    fn refuse(&self, row: &ImportRow) -> Option<Refusal> {
        if !row.tests.is_empty() && !self.scopes.contains(Scope::TestsCreate) {
            return Some(Refusal {
                line: row.line,
                code: RefusalCode::Forbidden,
                field: Some("tests".into()),
                message: format!(
                    "importing tests needs the {} scope",
                    Scope::TestsCreate.as_str()
                ),
            });
        }
        let category = self.missing(&row.write)?;
        let scope = category.write_scope();
        Some(Refusal {
            line: row.line,
            code: RefusalCode::Forbidden,
            field: None,
            message: format!("writing these fields needs the {} scope", scope.as_str()),
        })
    }
}

/// One NDJSON line (or one `importPatients` row, written as one): the fields of
/// `createPatientInput` but the client, with `locationId` optional.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_patient_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnoses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medications: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<Vec<JsonTest>>,
}

/// A test of a row: the fields of `createTestInput` but the patient (the row's) and the
/// order time (the import's).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonTest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accession_number: Option<String>,
}

/// The columns a CSV upload may name (the JSON field names), in the order of `JsonRow`; the
/// last three are one test ordered for the row's patient.
pub const CSV_COLUMNS: [&str; 16] = [
    "locationId",
    "externalPatientId",
    "firstName",
    "lastName",
    "dateOfBirth",
    "sex",
    "email",
    "phone",
    "address",
    "diagnoses",
    "medications",
    "insurance",
    "billingAccount",
    "testCode",
    "testName",
    "accessionNumber",
];

/// Where the test columns start in `CSV_COLUMNS`.
const CSV_TEST_COLUMNS: usize = 13;

/// A CSV upload's header: which known column each field is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvHeader(Vec<usize>);

impl CsvHeader {
    /// Reads the header line. Names are matched without regard to case; an unknown or
    /// repeated name refuses the upload (a misspelt column would otherwise be dropped
    /// silently from every row).
    pub fn parse(line: &str) -> Result<Self, Invalid> {
        let names = csv::fields(line).map_err(|e| Invalid::new("header", e))?;
        let mut seen = BTreeSet::new();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let Some(at) = CSV_COLUMNS
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
            else {
                return Err(Invalid::new(
                    "header",
                    format!(
                        "unknown column `{}`; the columns are {}",
                        name.chars().take(40).collect::<String>(),
                        CSV_COLUMNS.join(", ")
                    ),
                ));
            };
            if !seen.insert(at) {
                return Err(Invalid::new(
                    "header",
                    format!("the column {} is named twice", CSV_COLUMNS[at]),
                ));
            }
            columns.push(at);
        }
        Ok(CsvHeader(columns))
    }

    /// The categories of patient data the columns write (each needs its `:write` scope): those
    /// of a write that sets every column named, as `PatientWrite` declares them.
    pub fn categories(&self) -> BTreeSet<Category> {
        let mut row = JsonRow::default();
        for at in &self.0 {
            set_column(&mut row, *at, String::new());
        }
        fn named<T, U>(v: Option<T>) -> Option<Option<U>> {
            v.map(|_| None)
        }
        PatientWrite {
            external_patient_id: named(row.external_patient_id),
            first_name: named(row.first_name),
            last_name: named(row.last_name),
            date_of_birth: named(row.date_of_birth),
            sex: named(row.sex),
            email: named(row.email),
            phone: named(row.phone),
            address: named(row.address),
            diagnoses: row.diagnoses,
            medications: row.medications,
            insurance: named(row.insurance),
            billing_account: named(row.billing_account),
        }
        .categories()
    }

    /// Whether the columns order tests (which needs `tests:create`).
    pub fn has_tests(&self) -> bool {
        self.0.iter().any(|at| *at >= CSV_TEST_COLUMNS)
    }

    fn row(&self, record: &str) -> Result<JsonRow, String> {
        let values = csv::fields(record).map_err(str::to_owned)?;
        if values.len() != self.0.len() {
            return Err(format!(
                "{} fields where the header names {}",
                values.len(),
                self.0.len()
            ));
        }
        let mut row = JsonRow::default();
        for (at, value) in self.0.iter().zip(values) {
            // An empty cell is a field not given, as an absent JSON field.
            if !value.trim().is_empty() {
                set_column(&mut row, *at, value);
            }
        }
        Ok(row)
    }
}

fn set_column(row: &mut JsonRow, at: usize, value: String) {
    let list = |v: &str| -> Vec<String> {
        v.split(CSV_LIST_SEPARATOR)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match at {
        0 => row.location_id = Some(value),
        1 => row.external_patient_id = Some(value),
        2 => row.first_name = Some(value),
        3 => row.last_name = Some(value),
        4 => row.date_of_birth = Some(value),
        5 => row.sex = Some(value),
        6 => row.email = Some(value),
        7 => row.phone = Some(value),
        8 => row.address = Some(value),
        9 => row.diagnoses = Some(list(&value)),
        10 => row.medications = Some(list(&value)),
        11 => row.insurance = Some(value),
        12 => row.billing_account = Some(value),
        _ => {
            let tests = row.tests.get_or_insert_with(|| vec![JsonTest::default()]);
            let test = &mut tests[0];
            match at {
                13 => test.test_code = Some(value),
                14 => test.test_name = Some(value),
                _ => test.accession_number = Some(value),
            }
        }
    }
}

/// Reads one record of an upload into a row, or says why it is refused. `header` is the CSV
/// header (none: NDJSON).
pub fn read_row(
    line: u32,
    record: &str,
    header: Option<&CsvHeader>,
    authority: &ImportAuthority,
) -> Result<ImportRow, Refusal> {
    let raw = match header {
        Some(header) => header
            .row(record)
            .map_err(|m| Refusal::unreadable(line, m))?,
        None => serde_json::from_str::<JsonRow>(record).map_err(|e| {
            // serde's message may quote the value; only where it went wrong is kept.
            let what = match e.classify() {
                serde_json::error::Category::Data if e.to_string().starts_with("unknown field") => {
                    let name = e.to_string();
                    let name = name.split('`').nth(1).unwrap_or("?").chars().take(40);
                    format!("unknown field `{}`", name.collect::<String>())
                }
                serde_json::error::Category::Data => {
                    "a field has the wrong type (text; a list of text for diagnoses and medications; a list of objects for tests)".into()
                }
                _ => "not a JSON object".into(),
            };
            Refusal::unreadable(line, format!("{what} (column {})", e.column()))
        })?,
    };
    let row = validate(line, raw)?;
    match authority.refuse(&row) {
        Some(refusal) => Err(refusal),
        None => Ok(row),
    }
}

fn validate(line: u32, raw: JsonRow) -> Result<ImportRow, Refusal> {
    let refuse = |field: &str, message: &str| Refusal::invalid(line, Invalid::new(field, message));
    let location_id = raw
        .location_id
        .map(|v| Uuid::parse_str(v.trim()).map_err(|_| refuse("locationId", "is not an id")))
        .transpose()?;
    let date_of_birth = raw
        .date_of_birth
        .map(|v| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| refuse("dateOfBirth", "must be a date as YYYY-MM-DD"))
        })
        .transpose()?;
    let sex = raw
        .sex
        .map(|v| {
            v.trim()
                .to_ascii_uppercase()
                .parse::<Sex>()
                .map_err(|_| refuse("sex", "must be one of FEMALE, MALE, OTHER, UNKNOWN"))
        })
        .transpose()?;
    let write = PatientFields {
        external_patient_id: raw.external_patient_id,
        first_name: raw.first_name,
        last_name: raw.last_name,
        date_of_birth,
        sex,
        email: raw.email,
        phone: raw.phone,
        address: raw.address,
        diagnoses: raw.diagnoses,
        medications: raw.medications,
        insurance: raw.insurance,
        billing_account: raw.billing_account,
    }
    .validate("")
    .map_err(|e| Refusal::invalid(line, e))?;
    let tests = tests(raw.tests.unwrap_or_default()).map_err(|e| Refusal::invalid(line, e))?;
    Ok(ImportRow {
        line,
        location_id,
        write,
        tests,
    })
}

/// A row's tests, each validated as `createTest` validates one.
fn tests(raw: Vec<JsonTest>) -> Result<Vec<RowTest>, Invalid> {
    if raw.len() > TESTS_PER_ROW_MAX {
        return Err(Invalid::new(
            "tests",
            format!("at most {TESTS_PER_ROW_MAX} tests per row"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let field = |name: &str, value: Option<String>, max: usize| {
            let path = format!("tests[{i}].{name}");
            match value {
                Some(v) => text(&path, &v, max),
                None => Err(Invalid::new(path, "is required")),
            }
        };
        let test = RowTest {
            test_code: field("testCode", t.test_code, lab_test::CODE_MAX)?,
            test_name: field("testName", t.test_name, lab_test::NAME_MAX)?,
            accession_number: field(
                "accessionNumber",
                t.accession_number,
                lab_test::ACCESSION_MAX,
            )?,
        };
        if !seen.insert(test.accession_number.clone()) {
            return Err(Invalid::new(
                format!("tests[{i}].accessionNumber"),
                "is given twice in this row",
            ));
        }
        out.push(test);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scope::Scope;

    fn everything() -> ImportAuthority {
        ImportAuthority {
            scopes: ScopeSet::all(),
            locations: None,
        }
    }

    #[test]
    fn a_json_row_is_validated_as_create_patient_is() {
        let row = read_row(
            3,
            r#"{"externalPatientId":"P-1","firstName":" Ada ","dateOfBirth":"1990-02-03","sex":"female","diagnoses":["x"]}"#,
            None,
            &everything(),
        )
        .unwrap();
        assert_eq!(row.write.first_name, Some(Some("Ada".into())));
        assert_eq!(row.write.sex, Some(Some(Sex::Female)));
        let refused = |record: &str| read_row(7, record, None, &everything()).unwrap_err();
        let r = refused(r#"{"externalPatientId":"has space"}"#);
        assert_eq!(
            (r.line, r.code, r.field.as_deref()),
            (7, RefusalCode::InvalidInput, Some("externalPatientId"))
        );
        assert_eq!(
            refused(r#"{"dateOfBirth":"2990-01-01"}"#).field.as_deref(),
            Some("dateOfBirth")
        );
        assert_eq!(
            refused(r#"{"dateOfBirth":"03/02/1990"}"#).field.as_deref(),
            Some("dateOfBirth")
        );
        let r = refused(r#"{"firstName":"Ada","shoeSize":44}"#);
        assert_eq!(r.code, RefusalCode::Unreadable);
        assert!(r.message.contains("shoeSize"), "{}", r.message);
        // The value never appears in the reason.
        let r = refused(r#"{"firstName":["Secret Name"]}"#);
        assert!(!r.message.contains("Secret"), "{}", r.message);
        assert_eq!(refused("not json").code, RefusalCode::Unreadable);
    }

    #[test]
    fn a_field_outside_the_scopes_refuses_the_row() {
        let authority = ImportAuthority {
            scopes: [Scope::PatientsCreate, Scope::DemographicsWrite]
                .into_iter()
                .collect(),
            locations: None,
        };
        assert!(read_row(1, r#"{"firstName":"A"}"#, None, &authority).is_ok());
        let r = read_row(1, r#"{"firstName":"A","email":"a@b.co"}"#, None, &authority).unwrap_err();
        assert_eq!(r.code, RefusalCode::Forbidden);
        assert!(r.message.contains("patients.contact:write"));
        let back = ImportAuthority::from_stored(&authority.to_stored());
        assert_eq!(back, authority);
        assert!(ImportAuthority::from_stored("nonsense").scopes.is_empty());
    }

    #[test]
    fn a_rows_tests_are_checked_as_create_test_checks_them_and_need_their_scope() {
        let row = read_row(
            1,
            r#"{"externalPatientId":"P-1","tests":[{"testCode":"CBC","testName":" Blood ","accessionNumber":"A-1"}]}"#,
            None,
            &everything(),
        )
        .unwrap();
        assert_eq!(
            row.tests,
            vec![RowTest {
                test_code: "CBC".into(),
                test_name: "Blood".into(),
                accession_number: "A-1".into()
            }]
        );
        let refused = |record: &str| read_row(1, record, None, &everything()).unwrap_err();
        let r = refused(r#"{"tests":[{"testCode":"CBC","accessionNumber":"A-1"}]}"#);
        assert_eq!(r.field.as_deref(), Some("tests[0].testName"));
        let twice = r#"{"tests":[{"testCode":"A","testName":"A","accessionNumber":"A-1"},{"testCode":"B","testName":"B","accessionNumber":"A-1"}]}"#;
        assert_eq!(
            refused(twice).field.as_deref(),
            Some("tests[1].accessionNumber")
        );
        assert_eq!(
            refused(r#"{"tests":[{"testCode":"A","shoe":1}]}"#).code,
            RefusalCode::Unreadable
        );
        let no_tests = ImportAuthority {
            scopes: [Scope::PatientsCreate].into_iter().collect(),
            locations: None,
        };
        let r = read_row(
            1,
            r#"{"tests":[{"testCode":"A","testName":"A","accessionNumber":"A-1"}]}"#,
            None,
            &no_tests,
        )
        .unwrap_err();
        assert_eq!(
            (r.code, r.field.as_deref()),
            (RefusalCode::Forbidden, Some("tests"))
        );
        let header =
            CsvHeader::parse("externalPatientId,testCode,testName,accessionNumber").unwrap();
        assert!(header.has_tests());
        let row = read_row(2, "P-2,CBC,Blood,A-2", Some(&header), &everything()).unwrap();
        assert_eq!(row.tests[0].accession_number, "A-2");
        let row = read_row(3, "P-3,,,", Some(&header), &everything()).unwrap();
        assert!(row.tests.is_empty());
    }

    #[test]
    fn a_csv_row_is_read_by_its_header() {
        let header =
            CsvHeader::parse("ExternalPatientId,firstName,lastName,diagnoses,email").unwrap();
        assert_eq!(
            header.categories().into_iter().collect::<Vec<_>>(),
            vec![
                Category::Demographics,
                Category::Contact,
                Category::Clinical
            ]
        );
        let row = read_row(
            2,
            "P-9,\"Lovelace, Ada\",,a; b ;,",
            Some(&header),
            &everything(),
        )
        .unwrap();
        assert_eq!(row.write.first_name, Some(Some("Lovelace, Ada".into())));
        assert_eq!(row.write.last_name, None);
        assert_eq!(row.write.diagnoses, Some(vec!["a".into(), "b".into()]));
        let r = read_row(2, "P-9,Ada", Some(&header), &everything()).unwrap_err();
        assert_eq!(r.code, RefusalCode::Unreadable);
        assert!(CsvHeader::parse("firstName,shoeSize").is_err());
        assert!(CsvHeader::parse("firstName,FIRSTNAME").is_err());
    }
}
