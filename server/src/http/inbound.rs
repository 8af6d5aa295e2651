//! `POST /services/{id}/inbound`: what a connection's service sends Switchboard (a records
//! service's answer), signed with the connection's inbound secret (`integrations::inbound`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::{AppState, error_answer};
use crate::domain::records_exchange::MAX_ANSWER_BYTES;
use crate::integrations::inbound::{self, Signed};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services/{id}/inbound")
            .app_data(web::PayloadConfig::new(MAX_ANSWER_BYTES))
            .route(web::post().to(receive)),
    );
}

async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Ok(id) = Uuid::parse_str(&path) else {
        return answer(404, "NOT_FOUND", "no such connection");
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let peer = super::auth::client_ip(&req).map(|ip| ip.to_string());
    let signed = Signed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        ip: peer.as_deref(),
    };
    match inbound::receive(&state.services.store, id, signed, &body).await {
        Ok(Ok(what)) => HttpResponse::Ok().json(serde_json::json!({ "status": what })),
        Ok(Err(not)) => answer(not.status, not.code, &not.message),
        Err(err) => {
            let (status, body) = error_answer(err);
            HttpResponse::build(status).json(body)
        }
    }
}

fn answer(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .json(serde_json::json!({ "code": code, "message": message }))
}
