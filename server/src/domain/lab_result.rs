use serde::{Deserialize, Serialize};

use super::validate::{Invalid, bounded_text};

/// One analyte of a test's result, as stored in `lab_tests.results`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultLine {
    pub code: String,
    pub name: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    /// One of NORMAL, LOW, HIGH, CRITICAL_LOW, CRITICAL_HIGH, ABNORMAL.
    pub abnormal_flag: Option<String>,
}

impl ResultLine {
    pub fn parse(
        path: &str,
        code: &str,
        name: Option<&str>,
        value: &str,
        unit: Option<&str>,
        reference_range: Option<&str>,
        abnormal_flag: Option<&str>,
    ) -> Result<Self, Invalid> {
        let opt = |field: &str, v: Option<&str>, max| {
            v.map(|v| bounded_text(&format!("{path}.{field}"), v, max))
                .transpose()
        };
        Ok(ResultLine {
            code: bounded_text(&format!("{path}.code"), code, 32)?,
            name: opt("name", name, 200)?,
            value: bounded_text(&format!("{path}.value"), value, 200)?,
            unit: opt("unit", unit, 32)?,
            reference_range: opt("referenceRange", reference_range, 64)?,
            abnormal_flag: abnormal_flag.map(str::to_owned),
        })
    }
}
