//! The rule (and read-audit disclosure) of every object field: the record objects' own
//! declarations joined with `access::rules::FIELD_RULES` for everything else.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::types::patient::Patient;
use super::types::record::FieldSpec;
use super::types::test::Test;
use crate::access::Disclosure;
use crate::access::rules::{FIELD_RULES, Rule};

type Index = HashMap<(&'static str, &'static str), (Rule, Disclosure)>;

/// Each record object with its declared fields.
const RECORDS: [(&str, &[FieldSpec]); 2] = [("Patient", Patient::FIELDS), ("Test", Test::FIELDS)];

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let others = FIELD_RULES.iter().flat_map(|(ty, fields)| {
        fields
            .iter()
            .map(move |(f, rule)| ((*ty, *f), (*rule, Disclosure::None)))
    });
    let records = RECORDS.iter().flat_map(|(ty, fields)| {
        fields
            .iter()
            .map(move |f| ((*ty, f.name), (f.rule, f.disclosure)))
    });
    others.chain(records).collect()
});

pub fn rule_for(type_name: &str, field: &str) -> Option<Rule> {
    field_rule(type_name, field).map(|(rule, _)| rule)
}

/// The field's rule and what serving it discloses of a patient, in one lookup.
pub fn field_rule(type_name: &str, field: &str) -> Option<(Rule, Disclosure)> {
    INDEX.get(&(type_name, field)).copied()
}

/// Every (type, field) with a rule.
#[cfg(test)]
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    INDEX.keys().copied()
}
