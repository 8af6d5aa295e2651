//! The scope vocabulary partners code against. Adding a scope here is a contract change.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    PatientsCreate,
    PatientsRead,
    PatientsUpdate,
    TestsCreate,
    TestsRead,
    TestsUpdate,
    DemographicsRead,
    DemographicsWrite,
    ContactRead,
    ContactWrite,
    ClinicalRead,
    ClinicalWrite,
    BillingRead,
    BillingWrite,
}

impl Scope {
    pub const ALL: [Scope; 14] = [
        Scope::PatientsCreate,
        Scope::PatientsRead,
        Scope::PatientsUpdate,
        Scope::TestsCreate,
        Scope::TestsRead,
        Scope::TestsUpdate,
        Scope::DemographicsRead,
        Scope::DemographicsWrite,
        Scope::ContactRead,
        Scope::ContactWrite,
        Scope::ClinicalRead,
        Scope::ClinicalWrite,
        Scope::BillingRead,
        Scope::BillingWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::PatientsCreate => "patients:create",
            Scope::PatientsRead => "patients:read",
            Scope::PatientsUpdate => "patients:update",
            Scope::TestsCreate => "tests:create",
            Scope::TestsRead => "tests:read",
            Scope::TestsUpdate => "tests:update",
            Scope::DemographicsRead => "patients.demographics:read",
            Scope::DemographicsWrite => "patients.demographics:write",
            Scope::ContactRead => "patients.contact:read",
            Scope::ContactWrite => "patients.contact:write",
            Scope::ClinicalRead => "patients.clinical:read",
            Scope::ClinicalWrite => "patients.clinical:write",
            Scope::BillingRead => "patients.billing:read",
            Scope::BillingWrite => "patients.billing:write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.chars().take(64).collect()))
    }
}

/// A patient data category. Each has a `:read` and a `:write` scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Demographics,
    Contact,
    Clinical,
    Billing,
}

impl Category {
    pub fn read_scope(self) -> Scope {
        match self {
            Category::Demographics => Scope::DemographicsRead,
            Category::Contact => Scope::ContactRead,
            Category::Clinical => Scope::ClinicalRead,
            Category::Billing => Scope::BillingRead,
        }
    }
    pub fn write_scope(self) -> Scope {
        match self {
            Category::Demographics => Scope::DemographicsWrite,
            Category::Contact => Scope::ContactWrite,
            Category::Clinical => Scope::ClinicalWrite,
            Category::Billing => Scope::BillingWrite,
        }
    }
}

/// The scopes a credential holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    pub fn all() -> Self {
        ScopeSet(Scope::ALL.into_iter().collect())
    }
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Parses scope names, refusing unknown ones instead of silently dropping them: a typo in a
    /// grant must not quietly produce a weaker (or, later, a different) key.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownScope> {
        names
            .into_iter()
            .map(str::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(ScopeSet)
    }
    /// Scopes as stored (a JSON array of names). Grants were validated when they were made;
    /// a name this build does not know (after a downgrade, say) is skipped, which can only
    /// take access away.
    pub fn from_stored(raw: &str) -> Self {
        let names: Vec<String> = serde_json::from_str(raw).unwrap_or_default();
        names.iter().filter_map(|s| s.parse().ok()).collect()
    }
    /// The scopes held by both.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).copied().collect())
    }
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_name() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn unknown_scope_names_are_refused() {
        assert!(ScopeSet::parse(["patients:read", "patients:delete"]).is_err());
        assert!(ScopeSet::parse(["PATIENTS:READ"]).is_err());
        assert!(ScopeSet::parse(["patients:read"]).is_ok());
    }
}
