//! A stored message as an administrator first sees it: the segments that identify the
//! patient (and their next of kin, guarantor and insurance) show their segment name and set
//! id only; revealing the rest is a separate, audited request.

/// Segments whose fields identify a person.
const PERSONAL: [&str; 7] = ["PID", "PD1", "NK1", "GT1", "IN1", "IN2", "PV1"];

/// `raw` with the personal segments' fields (after the set id) replaced by `***`. The field
/// separator is the message's (MSH-1); text that is not HL7 is masked whole.
pub fn mask(raw: &str) -> String {
    let Some(rest) = raw.trim_start().strip_prefix("MSH") else {
        return format!(
            "*** ({} characters, not an HL7 message)",
            raw.chars().count()
        );
    };
    let Some(sep) = rest.chars().next() else {
        return "***".into();
    };
    raw.split(['\r', '\n'])
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.split(sep);
            let name = fields.next().unwrap_or_default();
            if !PERSONAL.contains(&name) {
                return line.to_owned();
            }
            let mut out = vec![name.to_owned()];
            for (i, field) in fields.enumerate() {
                out.push(if i == 0 || field.is_empty() {
                    field.to_owned()
                } else {
                    "***".to_owned()
                });
            }
            out.join(&sep.to_string())
        })
        .collect::<Vec<_>>()
        .join("\r")
}
