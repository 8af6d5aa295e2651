//! Rules about patients that do not depend on storage.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::scope::Category;
use super::stored_enum::stored_enum;
use super::validate::Email;

/// Longest first or last name, and longest name searched for.
pub const NAME_MAX: usize = 100;
/// Longest address or insurance text.
pub const TEXT_MAX: usize = 500;
pub const PHONE_MAX: usize = 40;
/// Longest email kept (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
pub const BILLING_ACCOUNT_MAX: usize = 64;
/// Most diagnoses or medications on one patient, and the longest of each.
pub const LIST_MAX: usize = 100;
pub const LIST_ITEM_MAX: usize = 200;
/// Earliest date of birth accepted.
pub const BORN_FROM: (i32, u32, u32) = (1880, 1, 1);

stored_enum! {
    /// Administrative sex.
    pub enum Sex {
        Female = "FEMALE",
        Male = "MALE",
        Other = "OTHER",
        Unknown = "UNKNOWN",
    }
}

stored_enum! {
    /// Whether the patient can log in to see results.
    pub enum AccountStatus {
        /// Invited by email; not yet activated.
        Invited = "INVITED",
        /// Active account.
        Active = "ACTIVE",
        /// No account (see `accountReason`).
        None = "NONE",
    }
}

stored_enum! {
    /// Why a patient has no account.
    pub enum NoAccountReason {
        NoEmail = "NO_EMAIL",
        InvalidEmail = "INVALID_EMAIL",
    }
}

impl AccountStatus {
    /// A stored status; one this build does not know reads as no account, which grants
    /// nothing.
    pub fn from_stored(raw: &str) -> Self {
        raw.parse().unwrap_or(AccountStatus::None)
    }

    pub fn has_account(self) -> bool {
        self != AccountStatus::None
    }
}

/// Validated values to write to a patient. For each field `None` leaves it alone and
/// `Some(None)` clears it; a create starts from an empty patient.
#[derive(Clone, Debug, Default)]
pub struct PatientWrite {
    pub external_patient_id: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub sex: Option<Option<Sex>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub diagnoses: Option<Vec<String>>,
    pub medications: Option<Vec<String>>,
    pub insurance: Option<Option<String>>,
    pub billing_account: Option<Option<String>>,
}

impl PatientWrite {
    /// The data categories this write touches; each needs its `:write` scope.
    pub fn categories(&self) -> BTreeSet<Category> {
        let mut set = BTreeSet::new();
        if self.first_name.is_some()
            || self.last_name.is_some()
            || self.date_of_birth.is_some()
            || self.sex.is_some()
        {
            set.insert(Category::Demographics);
        }
        if self.email.is_some() || self.phone.is_some() || self.address.is_some() {
            set.insert(Category::Contact);
        }
        if self.diagnoses.is_some() || self.medications.is_some() {
            set.insert(Category::Clinical);
        }
        if self.insurance.is_some() || self.billing_account.is_some() {
            set.insert(Category::Billing);
        }
        set
    }

    /// The GraphQL names of the fields written, for the audit trail.
    pub fn field_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut add = |present: bool, name: &str| {
            if present {
                names.push(name.to_owned());
            }
        };
        add(self.external_patient_id.is_some(), "externalPatientId");
        add(self.first_name.is_some(), "firstName");
        add(self.last_name.is_some(), "lastName");
        add(self.date_of_birth.is_some(), "dateOfBirth");
        add(self.sex.is_some(), "sex");
        add(self.email.is_some(), "email");
        add(self.phone.is_some(), "phone");
        add(self.address.is_some(), "address");
        add(self.diagnoses.is_some(), "diagnoses");
        add(self.medications.is_some(), "medications");
        add(self.insurance.is_some(), "insurance");
        add(self.billing_account.is_some(), "billingAccount");
        names
    }
}

/// Whether a patient gets a portal account, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountDecision {
    Invited,
    NoEmail,
    InvalidEmail,
}

impl AccountDecision {
    /// A valid email earns an invitation; anything else leaves the patient without an account
    /// but does not stop the patient from being recorded.
    pub fn for_email(email: Option<&str>) -> Self {
        match email.map(str::trim).filter(|e| !e.is_empty()) {
            None => AccountDecision::NoEmail,
            Some(raw) if Email::parse(raw).is_some() => AccountDecision::Invited,
            Some(_) => AccountDecision::InvalidEmail,
        }
    }
    pub fn status(self) -> AccountStatus {
        match self {
            AccountDecision::Invited => AccountStatus::Invited,
            _ => AccountStatus::None,
        }
    }
    pub fn reason(self) -> Option<NoAccountReason> {
        match self {
            AccountDecision::Invited => None,
            AccountDecision::NoEmail => Some(NoAccountReason::NoEmail),
            AccountDecision::InvalidEmail => Some(NoAccountReason::InvalidEmail),
        }
    }
}

/// A patient's account: its status, and why there is none.
pub type Account = (AccountStatus, Option<NoAccountReason>);

/// Once invited, a patient keeps the account status they reached even if the email is later
/// removed; only a patient without an account is re-evaluated.
pub fn next_account(current: AccountStatus, email: Option<&str>) -> Account {
    if current.has_account() {
        return (current, None);
    }
    let decision = AccountDecision::for_email(email);
    (decision.status(), decision.reason())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_name_their_categories() {
        let write = PatientWrite {
            first_name: Some(Some("Ada".into())),
            billing_account: Some(None),
            ..Default::default()
        };
        let cats: Vec<_> = write.categories().into_iter().collect();
        assert_eq!(cats, vec![Category::Demographics, Category::Billing]);
        assert!(PatientWrite::default().categories().is_empty());
    }

    #[test]
    fn account_follows_email() {
        assert_eq!(
            AccountDecision::for_email(Some("a@b.org")),
            AccountDecision::Invited
        );
        assert_eq!(AccountDecision::for_email(None), AccountDecision::NoEmail);
        assert_eq!(
            AccountDecision::for_email(Some("  ")),
            AccountDecision::NoEmail
        );
        assert_eq!(
            AccountDecision::for_email(Some("not-an-email")),
            AccountDecision::InvalidEmail
        );
        assert_eq!(
            next_account(AccountStatus::None, Some("a@b.org")),
            (AccountStatus::Invited, None)
        );
        assert_eq!(
            next_account(AccountStatus::Invited, None),
            (AccountStatus::Invited, None)
        );
        assert_eq!(
            next_account(AccountStatus::None, Some("nope")),
            (AccountStatus::None, Some(NoAccountReason::InvalidEmail))
        );
        assert_eq!(AccountStatus::from_stored(""), AccountStatus::None);
    }
}
