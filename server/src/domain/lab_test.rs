//! Rules about lab tests (orders) that do not depend on storage.

use super::stored_enum::stored_enum;

/// Longest test code, test name and accession number of an order.
pub const CODE_MAX: usize = 32;
pub const NAME_MAX: usize = 200;
pub const ACCESSION_MAX: usize = 64;

stored_enum! {
    /// Lifecycle of a test: ORDERED → COLLECTED → IN_PROGRESS → (PRELIMINARY →) RESULTED, or
    /// CANCELLED.
    pub enum TestStatus {
        Ordered = "ORDERED",
        Collected = "COLLECTED",
        InProgress = "IN_PROGRESS",
        /// Preliminary results are in (they may still change); final ones follow.
        Preliminary = "PRELIMINARY",
        Resulted = "RESULTED",
        Cancelled = "CANCELLED",
    }
}

impl TestStatus {
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
            (Ordered, Collected | InProgress | Preliminary | Resulted) => true,
            (Collected, InProgress | Preliminary | Resulted) => true,
            (InProgress, Preliminary | Resulted) => true,
            (Preliminary, Resulted) => true,
            _ => false,
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
        assert!(InProgress.can_become(Preliminary));
        assert!(Preliminary.can_become(Resulted));
        assert!(Preliminary.can_become(Preliminary));
        assert!(!Preliminary.can_become(InProgress));
        assert!(!Resulted.can_become(Preliminary));
    }
}
