use actix_web::{HttpResponse, web};

use super::AppState;

/// Liveness: the process answers. No database work, so it is also the benchmark baseline.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers, and has every migration this build knows (a replica of a
/// newer build is not sent traffic before its migrations are in); with Redis, whether it does.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = &state.services.store;
    let unready = |why: String| {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(why)
    };
    if store.ping().await.is_err() {
        return unready("database unavailable".into());
    }
    match store.pending_migrations().await {
        Ok(0) => {
            // Without Redis the server still serves, counting rates alone: ready, and saying so.
            let body = match state.services.protection.shared() {
                Some(shared) if !shared.is_up() => {
                    "ready; redis unavailable: rate limits are counted by this replica alone"
                }
                Some(_) => "ready; redis: rate limits shared",
                None => "ready",
            };
            HttpResponse::Ok().content_type("text/plain").body(body)
        }
        Ok(n) => unready(format!(
            "{n} database migration(s) pending: run `switchboard migrate` (or start a server of this build)"
        )),
        Err(_) => unready("database unavailable".into()),
    }
}
