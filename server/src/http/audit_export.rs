//! `GET /audit/export`: the audit events a filter finds, all of them, as CSV or NDJSON, for
//! administrators (the same filters as the `auditEvents` query). The export is itself audited.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::error_answer;
use crate::access::Access;
use crate::access::audit_trail::AuditSearch;
use crate::audit::export::Format;
use crate::domain::validate::ExternalPatientId;
use crate::error::AppError;
use crate::store::audit::AuditFilter;

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
                hidden_actors: Vec::new(),
            },
            external_patient_id,
        },
    ))
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
    let body = match access.audit_trail().export(&search, format).await {
        Ok(body) => body,
        Err(err) => return refuse(err),
    };
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
