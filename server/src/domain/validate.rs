//! Parsing of untrusted input into values that are valid by construction.

use std::fmt;

/// Input that failed a rule. `field` is the input path as the caller wrote it
/// (`input.email`), so clients can point at the right form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Trimmed, non-empty text of bounded length without control characters.
pub fn bounded_text(field: &str, raw: &str, max_chars: usize) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(Invalid::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// An email address we are willing to send a patient invitation to. Deliberately strict:
/// one `@`, a dotted domain of letters, digits and hyphens, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Option<Email> {
        let value = raw.trim();
        if value.len() > 254 {
            return None;
        }
        let (local, domain) = value.split_once('@')?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        (local_ok && domain_ok).then(|| Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An identifier given by an integrated party. Printable ASCII, at most
/// `EXTERNAL_ID_MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPatientId(String);

pub const EXTERNAL_ID_MAX: usize = 64;

impl ExternalPatientId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if value.is_empty() || value.len() > EXTERNAL_ID_MAX {
            return Err(Invalid::new(
                field,
                format!("must be 1 to {EXTERNAL_ID_MAX} characters"),
            ));
        }
        if !value.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Invalid::new(
                field,
                "may contain only printable ASCII without spaces",
            ));
        }
        Ok(ExternalPatientId(value.to_owned()))
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("ada@example.org").is_some());
        assert_eq!(
            Email::parse(" Ada.L@Example.ORG ").unwrap().as_str(),
            "Ada.L@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "ada@@example.org",
            "a da@example.org",
            "ada@exa_mple.org",
            "ada@example.c0m",
            ".ada@example.org",
            "ada@-example.org",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad} should be invalid");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_none());
    }

    #[test]
    fn external_ids() {
        assert!(ExternalPatientId::parse("f", "MRN-00012").is_ok());
        assert!(ExternalPatientId::parse("f", "").is_err());
        assert!(ExternalPatientId::parse("f", "has space").is_err());
        assert!(ExternalPatientId::parse("f", &"x".repeat(65)).is_err());
    }

    #[test]
    fn text_bounds() {
        assert_eq!(bounded_text("f", "  Ada ", 10).unwrap(), "Ada");
        assert!(bounded_text("f", "   ", 10).is_err());
        assert!(bounded_text("f", &"x".repeat(11), 10).is_err());
        assert!(bounded_text("f", "a\u{0}b", 10).is_err());
    }
}
