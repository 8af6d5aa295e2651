//! A new patient's values as a caller sends them, and their validation: one set of rules for
//! `createPatient` and for each row of an import, so that both accept and refuse the same.

use chrono::{NaiveDate, Utc};

use super::patient::{
    BILLING_ACCOUNT_MAX, BORN_FROM, EMAIL_MAX, LIST_ITEM_MAX, LIST_MAX, NAME_MAX, PHONE_MAX,
    PatientWrite, Sex, TEXT_MAX,
};
use super::validate::{ExternalPatientId, Invalid, bounded_text};

/// A new patient's values before validation; `None` is "not given".
#[derive(Clone, Debug, Default)]
pub struct PatientFields {
    pub external_patient_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub diagnoses: Option<Vec<String>>,
    pub medications: Option<Vec<String>>,
    pub insurance: Option<String>,
    pub billing_account: Option<String>,
}

impl PatientFields {
    /// The write these values make; `prefix` starts each refused field's path (`input.`).
    pub fn validate(self, prefix: &str) -> Result<PatientWrite, Invalid> {
        let p = |f: &str| format!("{prefix}{f}");
        let opt = |f: &str, raw: Option<String>, max: usize| {
            raw.map(|v| text(&p(f), &v, max).map(Some)).transpose()
        };
        Ok(PatientWrite {
            external_patient_id: self
                .external_patient_id
                .map(|v| {
                    ExternalPatientId::parse(&p("externalPatientId"), &v)
                        .map(|e| Some(e.into_inner()))
                })
                .transpose()?,
            first_name: opt("firstName", self.first_name, NAME_MAX)?,
            last_name: opt("lastName", self.last_name, NAME_MAX)?,
            date_of_birth: self
                .date_of_birth
                .map(|d| date_of_birth(&p("dateOfBirth"), d).map(Some))
                .transpose()?,
            sex: self.sex.map(Some),
            email: self.email.map(|e| email(&p("email"), &e)).transpose()?,
            phone: opt("phone", self.phone, PHONE_MAX)?,
            address: opt("address", self.address, TEXT_MAX)?,
            diagnoses: self
                .diagnoses
                .map(|l| list(&p("diagnoses"), &l))
                .transpose()?,
            medications: self
                .medications
                .map(|l| list(&p("medications"), &l))
                .transpose()?,
            insurance: opt("insurance", self.insurance, TEXT_MAX)?,
            billing_account: opt("billingAccount", self.billing_account, BILLING_ACCOUNT_MAX)?,
        })
    }
}

pub fn text(path: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    bounded_text(path, raw, max)
}

pub fn list(path: &str, raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > LIST_MAX {
        return Err(Invalid::new(path, format!("at most {LIST_MAX} entries")));
    }
    raw.iter()
        .enumerate()
        .map(|(i, v)| text(&format!("{path}[{i}]"), v, LIST_ITEM_MAX))
        .collect()
}

pub fn date_of_birth(path: &str, d: NaiveDate) -> Result<NaiveDate, Invalid> {
    let today = Utc::now().date_naive();
    let (y, m, day) = BORN_FROM;
    if d > today || d < NaiveDate::from_ymd_opt(y, m, day).unwrap_or(d) {
        return Err(Invalid::new(
            path,
            "must be a real date of birth, not in the future",
        ));
    }
    Ok(d)
}

/// Email is kept as given (bounded) even when it is not a valid address: the patient is
/// still recorded and simply gets no account (INVALID_EMAIL).
pub fn email(path: &str, raw: &str) -> Result<Option<String>, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    text(path, trimmed, EMAIL_MAX).map(Some)
}
