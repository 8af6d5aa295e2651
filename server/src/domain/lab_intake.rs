//! Results intake's own terms: how a lab message came, what became of it, and a connection's
//! code mapping as intake applies it.

use std::collections::HashMap;

use super::hl7::{Problem, ProblemCode};
use super::stored_enum::stored_enum;

stored_enum! {
    /// How a lab message came.
    pub enum Transport {
        /// Over the MLLP listener (`intake.mllp`).
        Mllp = "MLLP",
        /// POSTed to the connection's intake address.
        Https = "HTTPS",
        /// JSON results POSTed to an HTTPS_JSON connection's results address (kept as the
        /// ORU^R01 they stand for).
        Json = "HTTPS_JSON",
        /// Fetched from the lab's feed by a poll (`domain::poll`).
        Poll = "POLL",
    }
}

stored_enum! {
    /// What became of a lab message.
    pub enum LabMessageStatus {
        /// Taken: its results are stored.
        Accepted = "ACCEPTED",
        /// A test message (MSH-11 `T`): checked and acknowledged, not applied.
        Checked = "CHECKED",
        /// Not taken: in the dead-letter queue, with the reason.
        Dead = "DEAD",
        /// Taken when an administrator reprocessed it from the dead-letter queue.
        Reprocessed = "REPROCESSED",
        /// Removed from the dead-letter queue by an administrator, with a reason.
        Discarded = "DISCARDED",
    }
}

stored_enum! {
    /// What a code-mapping entry maps.
    pub enum MappingKind {
        /// A test (order) code: OBR-4.
        Test = "TEST",
        /// An observation (analyte) code: OBX-3.
        Observation = "OBSERVATION",
    }
}

/// The longest local code, code and LOINC code of a mapping entry.
pub const MAPPED_CODE_MAX: usize = 64;

/// A connection's code mapping. A kind with no entry passes its codes through as the lab
/// sent them; once a kind has entries, every code of that kind must be listed (an unlisted
/// one is `UNMAPPED_CODE`, never passed through silently).
#[derive(Clone, Debug, Default)]
pub struct CodeMap {
    tests: HashMap<String, String>,
    observations: HashMap<String, String>,
}

impl CodeMap {
    pub fn new(entries: impl IntoIterator<Item = (MappingKind, String, String)>) -> CodeMap {
        let mut map = CodeMap::default();
        for (kind, local, code) in entries {
            match kind {
                MappingKind::Test => map.tests.insert(local, code),
                MappingKind::Observation => map.observations.insert(local, code),
            };
        }
        map
    }

    /// The test code for a lab's OBR-4 code (`None`: tests are not mapped).
    pub fn test(&self, local: &str, order: usize) -> Result<Option<String>, Problem> {
        if self.tests.is_empty() {
            return Ok(None);
        }
        self.tests.get(local).cloned().map(Some).ok_or_else(|| {
            Problem::new(
                ProblemCode::UnmappedCode,
                format!(
                    "test code `{}` is not in the connection's code mapping",
                    shown(local)
                ),
            )
            .at("OBR", order, 4)
        })
    }

    /// The observation code to store for a lab's OBX-3 code.
    pub fn observation(&self, local: &str, obx: usize) -> Result<String, Problem> {
        if self.observations.is_empty() {
            return Ok(local.to_owned());
        }
        self.observations.get(local).cloned().ok_or_else(|| {
            Problem::new(
                ProblemCode::UnmappedCode,
                format!(
                    "observation code `{}` is not in the connection's code mapping",
                    shown(local)
                ),
            )
            .at("OBX", obx, 3)
        })
    }
}

/// A code as quoted in a problem's message (codes are not patient data; bounded all the same).
fn shown(code: &str) -> String {
    code.chars().take(MAPPED_CODE_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmapped_kind_passes_through_and_a_mapped_kind_must_list_every_code() {
        let none = CodeMap::default();
        assert_eq!(none.test("CBC", 1).unwrap(), None);
        assert_eq!(none.observation("HGB", 1).unwrap(), "HGB");
        let map = CodeMap::new([
            (MappingKind::Test, "CBC-L".to_owned(), "CBC".to_owned()),
            (
                MappingKind::Observation,
                "HGB-L".to_owned(),
                "718-7".to_owned(),
            ),
        ]);
        assert_eq!(map.test("CBC-L", 1).unwrap().as_deref(), Some("CBC"));
        assert_eq!(map.observation("HGB-L", 2).unwrap(), "718-7");
        let p = map.observation("WBC-L", 2).unwrap_err();
        assert_eq!(p.code, ProblemCode::UnmappedCode);
        assert_eq!(p.location.unwrap().field, 3);
        assert_eq!(
            map.test("XYZ", 1).unwrap_err().code,
            ProblemCode::UnmappedCode
        );
    }
}
