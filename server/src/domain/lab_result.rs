use serde::{Deserialize, Deserializer, Serialize};

use super::stored_enum::stored_enum;
use super::validate::{Invalid, bounded_text};

/// Longest analyte code, unit, reference range, and name or value.
pub const CODE_MAX: usize = 32;
pub const UNIT_MAX: usize = 32;
pub const RANGE_MAX: usize = 64;
pub const NAME_MAX: usize = 200;
pub const VALUE_MAX: usize = 200;
/// Most result lines of one test.
pub const LINES_MAX: usize = 100;

stored_enum! {
    /// How a result compares with its reference range.
    pub enum AbnormalFlag {
        Normal = "NORMAL",
        Low = "LOW",
        High = "HIGH",
        CriticalLow = "CRITICAL_LOW",
        CriticalHigh = "CRITICAL_HIGH",
        Abnormal = "ABNORMAL",
    }
}

/// A stored flag this build does not know is no flag: the line's other values still read.
fn lenient_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AbnormalFlag>, D::Error> {
    let raw = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
    Ok(raw.and_then(|r| r.parse().ok()))
}

/// One analyte of a test's result, as stored in `lab_tests.results`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultLine {
    pub code: String,
    pub name: Option<String>,
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    #[serde(default, deserialize_with = "lenient_flag")]
    pub abnormal_flag: Option<AbnormalFlag>,
}

impl ResultLine {
    pub fn parse(
        path: &str,
        code: &str,
        name: Option<&str>,
        value: &str,
        unit: Option<&str>,
        reference_range: Option<&str>,
        abnormal_flag: Option<AbnormalFlag>,
    ) -> Result<Self, Invalid> {
        let opt = |field: &str, v: Option<&str>, max| {
            v.map(|v| bounded_text(&format!("{path}.{field}"), v, max))
                .transpose()
        };
        Ok(ResultLine {
            code: bounded_text(&format!("{path}.code"), code, CODE_MAX)?,
            name: opt("name", name, NAME_MAX)?,
            value: bounded_text(&format!("{path}.value"), value, VALUE_MAX)?,
            unit: opt("unit", unit, UNIT_MAX)?,
            reference_range: opt("referenceRange", reference_range, RANGE_MAX)?,
            abnormal_flag,
        })
    }
}
