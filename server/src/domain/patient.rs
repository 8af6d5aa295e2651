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

/// Declares `PatientWrite` from one line per writable field: its type, its GraphQL name (for
/// the audit trail) and the data category whose `:write` scope writing it needs.
macro_rules! patient_write {
    ($($field:ident: $ty:ty => $name:literal, $category:expr;)*) => {
        /// Validated values to write to a patient. For each field `None` leaves it alone and
        /// `Some(None)` clears it (a list is replaced); a create starts from an empty patient.
        #[derive(Clone, Debug, Default)]
        pub struct PatientWrite {
            $(pub $field: Option<$ty>,)*
        }

        impl PatientWrite {
            /// The data categories this write touches; each needs its `:write` scope.
            pub fn categories(&self) -> BTreeSet<Category> {
                let mut set = BTreeSet::new();
                $(
                    let category: Option<Category> = $category;
                    if let (Some(_), Some(c)) = (&self.$field, category) {
                        set.insert(c);
                    }
                )*
                set
            }

            /// The GraphQL names of the fields written, for the audit trail.
            pub fn field_names(&self) -> Vec<String> {
                let mut names = Vec::new();
                $(
                    if self.$field.is_some() {
                        names.push($name.to_owned());
                    }
                )*
                names
            }
        }
    };
}

patient_write! {
    external_patient_id: Option<String> => "externalPatientId", None;
    first_name: Option<String> => "firstName", Some(Category::Demographics);
    last_name: Option<String> => "lastName", Some(Category::Demographics);
    date_of_birth: Option<NaiveDate> => "dateOfBirth", Some(Category::Demographics);
    sex: Option<Sex> => "sex", Some(Category::Demographics);
    email: Option<String> => "email", Some(Category::Contact);
    phone: Option<String> => "phone", Some(Category::Contact);
    address: Option<String> => "address", Some(Category::Contact);
    diagnoses: Vec<String> => "diagnoses", Some(Category::Clinical);
    medications: Vec<String> => "medications", Some(Category::Clinical);
    insurance: Option<String> => "insurance", Some(Category::Billing);
    billing_account: Option<String> => "billingAccount", Some(Category::Billing);
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
        assert_eq!(write.field_names(), ["firstName", "billingAccount"]);
        assert!(PatientWrite::default().categories().is_empty());
        let external = PatientWrite {
            external_patient_id: Some(Some("X".into())),
            ..Default::default()
        };
        assert!(
            external.categories().is_empty(),
            "an external id needs no category"
        );
        assert_eq!(external.field_names(), ["externalPatientId"]);
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
