//! `GET /audit/export`: the audit events a filter finds, all of them, as CSV or NDJSON, for
//! administrators (the same filters as the `auditEvents` query). The export is itself audited.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use entity::audit_event;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::error_answer;
use crate::access::Access;
use crate::access::admin::AuditSearch;
use crate::domain::csv::field as csv_field;
use crate::domain::validate::ExternalPatientId;
use crate::error::AppError;
use crate::store::audit::{AuditFilter, RecordIds};

/// Events in one export at most: beyond it, narrow the filter (the answer says so).
const MAX_EXPORTED: usize = 100_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    record_type: Option<String>,
    record_id: Option<Uuid>,
    external_patient_id: Option<String>,
    occurred_from: Option<DateTime<Utc>>,
    occurred_to: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Ndjson,
}

const COLUMNS: [&str; 14] = [
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

fn refuse(err: AppError) -> HttpResponse {
    let (status, body) = error_answer(err);
    HttpResponse::build(status).json(body)
}

fn search(q: &ExportQuery) -> Result<(Format, AuditSearch), AppError> {
    let format = match q.format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(_) => return Err(AppError::invalid("format", "must be csv or ndjson")),
    };
    if let (Some(from), Some(to)) = (q.occurred_from, q.occurred_to)
        && from >= to
    {
        return Err(AppError::invalid(
            "occurredTo",
            "must be after occurredFrom",
        ));
    }
    let short = |field: &str, v: &Option<String>| -> Result<Option<String>, AppError> {
        match v {
            Some(v) if v.chars().count() > 64 => {
                Err(AppError::invalid(field, "at most 64 characters"))
            }
            other => Ok(other.clone()),
        }
    };
    let external_patient_id = q
        .external_patient_id
        .as_deref()
        .map(|v| ExternalPatientId::parse("externalPatientId", v).map(|e| e.into_inner()))
        .transpose()?;
    Ok((
        format,
        AuditSearch {
            filter: AuditFilter {
                actor_id: short("actorId", &q.actor_id)?,
                record_type: short("recordType", &q.record_type)?,
                action: short("action", &q.action)?,
                record_ids: q.record_id.map(|id| vec![id.to_string()]),
                occurred_from: q.occurred_from,
                occurred_to: q.occurred_to,
            },
            external_patient_id,
        },
    ))
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

fn line(format: Format, e: &audit_event::Model, out: &mut String) {
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

pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    query: Result<web::Query<ExportQuery>, actix_web::Error>,
) -> HttpResponse {
    let ip = caller.ip.map(|ip| ip.to_string());
    let access = Access::new(caller.principal, state.services.clone(), ip);
    if let Err(err) = access.principal().require_settings_admin() {
        return refuse(err);
    }
    let query = match query {
        Ok(q) => q.into_inner(),
        Err(err) => return refuse(AppError::invalid("query", err.to_string())),
    };
    let (format, search) = match search(&query) {
        Ok(parsed) => parsed,
        Err(err) => return refuse(err),
    };
    let mut body = String::new();
    if format == Format::Csv {
        body.push_str(&COLUMNS.join(","));
        body.push_str("\r\n");
    }
    let visit = |event: &audit_event::Model| line(format, event, &mut body);
    if let Err(err) = access
        .admin()
        .each_audit_event(&search, MAX_EXPORTED, visit)
        .await
    {
        return refuse(err);
    }
    // What was exported, and how it was narrowed, is itself a record.
    let used: Vec<String> = [
        ("actorId", query.actor_id.is_some()),
        ("action", query.action.is_some()),
        ("recordType", query.record_type.is_some()),
        ("recordId", query.record_id.is_some()),
        ("externalPatientId", query.external_patient_id.is_some()),
        ("occurredFrom", query.occurred_from.is_some()),
        ("occurredTo", query.occurred_to.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name.to_owned())
    .collect();
    let event = access.event(
        "EXPORT",
        "audit export",
        "audit_event",
        RecordIds::from(Vec::<Uuid>::new()),
        used,
    );
    if let Err(err) = state.services.store.insert_audit_events(&[event]).await {
        return refuse(err);
    }
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-events.{extension}\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}
