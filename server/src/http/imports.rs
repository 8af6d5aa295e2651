//! Batch imports of patients over HTTP: `POST /imports/patients` takes the file as the
//! request body (NDJSON or CSV, streamed: it is cut into batches as it arrives and never held
//! whole) and answers 202 with the job, which then runs in the background; `GET
//! /imports/{id}/refusals.csv` gives the rows it refused, with their lines and reasons.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Caller;
use super::{AppState, error_answer};
use crate::access::Access;
use crate::access::imports::StartImport;
use crate::domain::csv::{self, RecordEnds};
use crate::domain::patient_import::{ImportFormat, RECORD_MAX_BYTES};
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::imports::upload::Receiver;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/imports/patients", web::post().to(upload))
        .route("/imports/{id}/refusals.csv", web::get().to(refusals));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadQuery {
    client_id: String,
    location_id: String,
    format: Option<String>,
}

fn refuse(err: AppError) -> HttpResponse {
    let (status, body) = error_answer(err);
    HttpResponse::build(status).json(body)
}

/// The job as the upload's answer (the GraphQL `ImportJob`'s fields).
pub fn job_json(job: &entity::import_job::Model) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "status": job.status,
        "format": job.format,
        "clientId": job.client_id,
        "locationId": job.location_id,
        "totalRows": job.total_rows,
        "processed": job.processed,
        "created": job.created,
        "duplicates": job.duplicates,
        "failed": job.failed,
        "testsCreated": job.tests_created,
        "error": job.error,
    })
}

fn format_of(query: &UploadQuery, req: &HttpRequest) -> Result<ImportFormat, AppError> {
    let named = match &query.format {
        Some(f) => f.to_ascii_lowercase(),
        None => req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    };
    match named.as_str() {
        "ndjson"
        | "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/jsonlines" => Ok(ImportFormat::Ndjson),
        "csv" | "text/csv" => Ok(ImportFormat::Csv),
        _ => Err(AppError::invalid(
            "format",
            "send NDJSON (Content-Type: application/x-ndjson) or CSV (text/csv), or say ?format=ndjson|csv",
        )),
    }
}

fn id(field: &str, raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::invalid(field, "is not an id"))
}

async fn upload(
    caller: Caller,
    query: web::Query<UploadQuery>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match receive(caller, &query, &req, body, &state).await {
        Ok(job) => HttpResponse::Accepted().json(job_json(&job)),
        Err(err) => refuse(err),
    }
}

async fn receive(
    caller: Caller,
    query: &UploadQuery,
    req: &HttpRequest,
    mut body: web::Payload,
    state: &AppState,
) -> Result<entity::import_job::Model, AppError> {
    // Refused before a byte of the upload is read.
    caller.principal.require(Scope::PatientsCreate)?;
    let format = format_of(query, req)?;
    let client_id = id("clientId", &query.client_id)?;
    let location_id = id("locationId", &query.location_id)?;
    let ip = caller.ip.map(|ip| ip.to_string());
    let access = Access::new(caller.principal, state.services.clone(), ip);
    let settings = &state.settings.imports;
    let max = settings.max_upload_bytes();
    let too_large = || {
        AppError::invalid(
            "body",
            format!(
                "the upload is larger than {} MiB (imports.max_upload_mib)",
                max / 1024 / 1024
            ),
        )
    };
    let mut received: u64 = 0;
    // A CSV's header comes first: its columns decide which scopes the import needs.
    let (header, pending, first_line) = if format == ImportFormat::Csv {
        let (header, rest, lines) = read_header(&mut body, &mut received).await?;
        (Some(header), rest, 1 + lines)
    } else {
        (None, Vec::new(), 1)
    };
    let job = access
        .imports()
        .start(StartImport {
            client_id,
            location_id,
            format,
            header,
            lease: settings.lease(),
        })
        .await?;
    let store = access.imports().store().clone();
    let mut receiver = Receiver::new(store, &job, format.quoted(), first_line, settings.lease());
    let arrived = async {
        receiver.push(&pending).await?;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| AppError::invalid("body", e.to_string()))?;
            received += piece.len() as u64;
            if received > max {
                return Err(too_large());
            }
            receiver.push(&piece).await?;
        }
        Ok(())
    }
    .await;
    match arrived {
        Ok(()) => receiver.finish().await,
        Err(err) => {
            receiver.abandon(&err).await?;
            Err(err)
        }
    }
}

/// Reads a CSV upload up to the end of its header record: the header, the bytes read past
/// it, and the lines it took.
async fn read_header(
    body: &mut web::Payload,
    received: &mut u64,
) -> Result<(String, Vec<u8>, u32), AppError> {
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    let mut cut = RecordEnds::new(true);
    let end = loop {
        match body.next().await {
            Some(piece) => {
                let piece = piece.map_err(|e| AppError::invalid("body", e.to_string()))?;
                *received += piece.len() as u64;
                cut.feed(&piece, &mut ends);
                buf.extend_from_slice(&piece);
                if let Some(end) = ends.first() {
                    break *end;
                }
                if buf.len() > RECORD_MAX_BYTES {
                    return Err(AppError::invalid("header", "the header line is too long"));
                }
            }
            // A header and no row.
            None => break buf.len(),
        }
    };
    let rest = buf.split_off(end);
    let header =
        String::from_utf8(buf).map_err(|_| AppError::invalid("header", "is not UTF-8 text"))?;
    if header.trim().is_empty() {
        return Err(AppError::invalid(
            "body",
            "the upload is empty: a CSV starts with its header",
        ));
    }
    let lines = header.matches('\n').count() as u32;
    let header = header.trim_start_matches('\u{feff}').trim_end().to_owned();
    Ok((header, rest, lines.max(1)))
}

#[derive(Deserialize)]
pub struct JobPath {
    id: String,
}

/// The refused rows as CSV: `line,code,field,message`, in line order.
async fn refusals(
    caller: Caller,
    path: web::Path<JobPath>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ip = caller.ip.map(|ip| ip.to_string());
    let access = Access::new(caller.principal, state.services.clone(), ip);
    let answer = async {
        access.principal().authenticated()?;
        let id = Uuid::parse_str(&path.id).map_err(|_| AppError::NotFound("import job"))?;
        let imports = access.imports();
        let job = imports
            .get(id)
            .await?
            .ok_or(AppError::NotFound("import job"))?;
        let mut out = String::from("line,code,field,message\n");
        let mut after = 0;
        loop {
            let page = imports.refusals(&job, after, 1_000).await?;
            let Some(last) = page.last() else { break };
            after = last.line;
            for r in &page {
                out.push_str(&format!(
                    "{},{},{},{}\n",
                    r.line,
                    r.code,
                    csv::field(r.field.as_deref().unwrap_or_default()),
                    csv::field(&r.message)
                ));
            }
        }
        Ok::<_, AppError>((job.id, out))
    }
    .await;
    match answer {
        Ok((id, csv)) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"import-{id}-refused.csv\""),
            ))
            .body(csv),
        Err(err) => refuse(err),
    }
}
