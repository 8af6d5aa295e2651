use actix_web::{HttpResponse, web};

use super::AppState;

/// Liveness: the process answers. No database work, so it is also the benchmark baseline.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers too.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.services.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable"),
    }
}
