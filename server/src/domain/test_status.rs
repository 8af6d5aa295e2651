use std::str::FromStr;

/// The lifecycle of a lab test. `RESULTED` and `CANCELLED` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestStatus {
    Ordered,
    Collected,
    InProgress,
    Resulted,
    Cancelled,
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Ordered => "ORDERED",
            TestStatus::Collected => "COLLECTED",
            TestStatus::InProgress => "IN_PROGRESS",
            TestStatus::Resulted => "RESULTED",
            TestStatus::Cancelled => "CANCELLED",
        }
    }

    /// A final test's status, timestamps and results are never changed again.
    pub fn is_final(self) -> bool {
        matches!(self, TestStatus::Resulted | TestStatus::Cancelled)
    }

    /// Whether a test may move from `self` to `next`. Staying in place is allowed so that a
    /// retried update is idempotent. Steps may not be skipped backwards; forward skips are
    /// allowed because many LIS report COLLECTED and RESULTED without IN_PROGRESS.
    pub fn can_become(self, next: TestStatus) -> bool {
        use TestStatus::*;
        if self == next {
            return true;
        }
        match (self, next) {
            (Resulted | Cancelled, _) => false,
            (_, Cancelled) => true,
            (Ordered, Collected | InProgress | Resulted) => true,
            (Collected, InProgress | Resulted) => true,
            (InProgress, Resulted) => true,
            _ => false,
        }
    }
}

impl FromStr for TestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ORDERED" => Ok(TestStatus::Ordered),
            "COLLECTED" => Ok(TestStatus::Collected),
            "IN_PROGRESS" => Ok(TestStatus::InProgress),
            "RESULTED" => Ok(TestStatus::Resulted),
            "CANCELLED" => Ok(TestStatus::Cancelled),
            other => Err(format!("unknown test status `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TestStatus::*;

    #[test]
    fn lifecycle_moves_forward_only() {
        assert!(Ordered.can_become(Collected));
        assert!(Collected.can_become(InProgress));
        assert!(InProgress.can_become(Resulted));
        assert!(Ordered.can_become(Cancelled));
        assert!(InProgress.can_become(Cancelled));
        assert!(!Resulted.can_become(InProgress));
        assert!(!Resulted.can_become(Cancelled));
        assert!(!Cancelled.can_become(Ordered));
        assert!(!Collected.can_become(Ordered));
        assert!(!InProgress.can_become(Collected));
        assert!(Resulted.can_become(Resulted));
    }
}
