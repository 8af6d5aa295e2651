//! The audit trail as exported: CSV or NDJSON, one event a line, the same columns in both
//! (`GET /audit/export`, the `auditExport` query and `switchboard audit export`).

use entity::audit_event;

use crate::domain::csv::field as csv_field;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Csv,
    Ndjson,
}

pub const COLUMNS: [&str; 14] = [
    "id",
    "occurredAt",
    "actorKind",
    "actorRole",
    "actorId",
    "actorLabel",
    "onBehalfOf",
    "action",
    "operation",
    "operationName",
    "recordType",
    "recordIds",
    "fields",
    "ip",
];

/// What an export starts with: CSV's header row; nothing for NDJSON.
pub fn header(format: Format) -> String {
    match format {
        Format::Csv => format!("{}\r\n", COLUMNS.join(",")),
        Format::Ndjson => String::new(),
    }
}

fn list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

fn values(e: &audit_event::Model) -> [String; 14] {
    [
        e.id.to_string(),
        e.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        e.actor_kind.clone(),
        e.actor_role.clone().unwrap_or_default(),
        e.actor_id.clone(),
        e.actor_label.clone(),
        e.actor_on_behalf_of.clone().unwrap_or_default(),
        e.action.clone(),
        e.operation.clone(),
        e.operation_name.clone().unwrap_or_default(),
        e.record_type.clone(),
        list(&e.record_ids).join(" "),
        list(&e.fields).join(" "),
        e.ip.clone().unwrap_or_default(),
    ]
}

pub fn line(format: Format, e: &audit_event::Model, out: &mut String) {
    match format {
        Format::Csv => {
            let fields: Vec<String> = values(e).iter().map(|v| csv_field(v)).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        Format::Ndjson => {
            let mut object = serde_json::Map::new();
            for (key, value) in COLUMNS.iter().zip(values(e)) {
                let json = match *key {
                    "recordIds" => serde_json::json!(list(&e.record_ids)),
                    "fields" => serde_json::json!(list(&e.fields)),
                    "actorRole" | "onBehalfOf" | "operationName" | "ip" if value.is_empty() => {
                        serde_json::Value::Null
                    }
                    _ => serde_json::Value::String(value),
                };
                object.insert((*key).to_owned(), json);
            }
            out.push_str(&serde_json::Value::Object(object).to_string());
            out.push('\n');
        }
    }
}
