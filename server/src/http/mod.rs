//! The HTTP surface: the only module that imports actix-web.

mod audit_export;
mod auth;
mod consent_page;
mod graphiql;
mod graphql;
mod health;
mod imports;
mod inbound;
mod intake;
pub mod metrics;
mod oauth;
mod portal;
mod static_files;

use std::net::TcpListener;
use std::sync::Arc;

use tracing::Instrument;

use actix_web::HttpMessage;
use actix_web::dev::{Server, Service};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpServer, web};

use crate::access::Services;
use crate::config::Settings;
use crate::error::AppError;
use crate::graphql::Executor;

/// An error answered outside GraphQL execution (a refused credential, an export): its HTTP
/// status and a body in GraphQL's error shape. Internal errors are logged with their cause and
/// a correlation id that the body carries.
pub(crate) fn error_answer(err: AppError) -> (StatusCode, serde_json::Value) {
    let status = match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden { .. } | AppError::IpNotAllowed => StatusCode::FORBIDDEN,
        AppError::Validation(_) => StatusCode::BAD_REQUEST,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) | AppError::Duplicate(_) => StatusCode::CONFLICT,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = match err {
        AppError::Internal(_) => {
            serde_json::json!({ "errors": [crate::graphql::to_server_error(err)] })
        }
        AppError::Validation(ref invalid) => {
            let mut body = graphql::error_json(err.code(), &err.message());
            body["errors"][0]["extensions"]["field"] = invalid.field.as_str().into();
            body
        }
        AppError::RateLimited {
            retry_after_secs, ..
        } => {
            let mut body = graphql::error_json(err.code(), &err.message());
            body["errors"][0]["extensions"]["retryAfterSeconds"] = retry_after_secs.into();
            body
        }
        other => graphql::error_json(other.code(), &other.message()),
    };
    (status, body)
}

/// What every request handler shares. Built once; cheap to clone.
pub struct AppState {
    pub graphql: Executor,
    pub services: Services,
    pub settings: Arc<Settings>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub scrapers: metrics::Scrapers,
}

pub fn server(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let workers = state
        .settings
        .server
        .workers
        .unwrap_or_else(default_workers);
    let portal_dir = state.settings.server.portal_dir.clone();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // A request counted against a rate says where it stands on every answer; every
            // answer is counted and timed for `/metrics`.
            .wrap_fn(|req, service| {
                let started = std::time::Instant::now();
                // Every line logged while the request is served carries its id, which the
                // answer's `X-Request-Id` gives the caller to quote.
                let id = uuid::Uuid::now_v7();
                let span = tracing::info_span!("request", request_id = %id);
                let answer = span.in_scope(|| service.call(req));
                async move {
                    let mut answer = answer.instrument(span).await?;
                    count(&answer, started);
                    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
                        answer
                            .headers_mut()
                            .insert(HeaderName::from_static("x-request-id"), value);
                    }
                    let verdict = answer
                        .request()
                        .extensions()
                        .get::<crate::access::rate_limit::Verdict>()
                        .copied();
                    if let Some(verdict) = verdict {
                        auth::rate_headers(answer.headers_mut(), &verdict);
                    }
                    Ok(answer)
                }
            })
            .route("/graphql", web::post().to(graphql::post))
            .route("/audit/export", web::get().to(audit_export::export))
            .route("/healthz", web::get().to(health::live))
            .route("/readyz", web::get().to(health::ready))
            .route("/metrics", web::get().to(metrics::scrape))
            .route("/graphiql", web::get().to(graphiql::page))
            .route("/graphiql/assets/{name}", web::get().to(graphiql::asset))
            .configure(oauth::configure)
            .configure(inbound::configure)
            .configure(intake::configure)
            .configure(imports::configure)
            // Last: everything else is the portal, whose client-side routes fall back to
            // index.html.
            .configure(|cfg| portal::configure(cfg, &portal_dir))
    })
    // Graceful stop: in-flight requests get this long to finish.
    .shutdown_timeout(10)
    .workers(workers)
    .listen(listener)?;
    Ok(server.disable_signals().run())
}

/// Counts an answer for `/metrics`, under its route's pattern (not its path, which holds ids)
/// and a method from a fixed list (a client may send any word there).
fn count<B>(answer: &actix_web::dev::ServiceResponse<B>, started: std::time::Instant) {
    let req = answer.request();
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return;
    };
    let route = req.match_pattern();
    let method = req.method().as_str();
    let method = match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
        _ => "other",
    };
    state.metrics.http_request(
        route.as_deref().unwrap_or("other"),
        method,
        answer.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
}

/// One request worker more than the machine has cores, unless configured. Why: the database
/// shares the cores with the workers (SQLite's connection threads in this process, or a
/// PostgreSQL on the same machine), and a worker whose core the database has taken holds up
/// every request it owns. A third worker on this 2-core machine raised every scenario
/// measured, and a fourth lowered M1 and Q2 again (docs/benchmarks-history.md, eighth pass).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}
