//! Debug capture: while a connection's capture is on, its exchanges keep what was sent and
//! received, for troubleshooting, with secrets and patient data redacted: the credentials'
//! header and any header that carries a secret, and in JSON bodies the values of fields that
//! hold patient data or secrets.

/// Header names whose values are never kept.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Parts of JSON field names whose values are never kept (compared in lower case).
const SECRET_FIELDS: [&str; 25] = [
    "token",
    "secret",
    "password",
    "key",
    "firstname",
    "lastname",
    "name",
    "birth",
    "dob",
    "email",
    "phone",
    "address",
    "street",
    "postal",
    "ssn",
    "mrn",
    "insurance",
    "diagnos",
    "medication",
    "note",
    "externalpatient",
    "sex",
    "gender",
    "records",
    "text",
];

pub const REDACTED: &str = "<redacted>";

/// A header as kept: its value redacted if it may carry a secret (`extra`: the name of the
/// connection's own credentials header).
pub fn header(name: &str, value: &str, extra: Option<&str>) -> String {
    let lower = name.to_ascii_lowercase();
    let secret = SECRET_HEADERS.contains(&lower.as_str())
        || extra.is_some_and(|e| e.eq_ignore_ascii_case(name));
    if secret {
        format!("{name}: {REDACTED}")
    } else {
        format!("{name}: {value}")
    }
}

/// A body as kept: JSON with sensitive values redacted; anything else only as its size (it
/// could hold anything).
pub fn body(bytes: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(mut value) => {
            redact(&mut value);
            value.to_string()
        }
        Err(_) if bytes.is_empty() => String::new(),
        Err(_) => format!("({} bytes, not JSON: not kept)", bytes.len()),
    }
}

fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if SECRET_FIELDS.iter().any(|f| lower.contains(f)) {
                    *v = serde_json::Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_patient_data_are_redacted() {
        assert_eq!(
            header("X-Lab-Key", "k1", Some("x-lab-key")),
            "X-Lab-Key: <redacted>"
        );
        assert_eq!(
            header("Authorization", "Bearer t", None),
            "Authorization: <redacted>"
        );
        assert_eq!(
            header("Accept", "application/json", None),
            "Accept: application/json"
        );
        let kept =
            body(br#"{"status":"up","patient":{"firstName":"Ada","id":"p1"},"access_token":"t"}"#);
        assert!(!kept.contains("Ada") && !kept.contains("\"t\""), "{kept}");
        assert!(kept.contains("\"status\":\"up\"") && kept.contains("p1"));
        assert!(!body(b"PID|1||123^^^MRN||DOE^JOHN").contains("DOE"));
    }
}
