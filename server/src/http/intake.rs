//! `POST /services/{id}/hl7`: a lab's HL7 v2 result message over HTTPS, for the LAB
//! connection `{id}`, authenticated with an API key (or token) that has `tests:update` and
//! reaches the connection's client. The answer is the HL7 acknowledgement (200 whatever it
//! says: AA, AE or AR), as over MLLP.

use actix_web::{HttpResponse, web};
use uuid::Uuid;

use super::auth::Caller;
use super::{AppState, error_answer};
use crate::domain::environment::Environment;
use crate::domain::hl7::MAX_MESSAGE_BYTES;
use crate::domain::lab_intake::Transport;
use crate::domain::scope::Scope;
use crate::domain::service_connection::ServiceType;
use crate::error::AppError;
use crate::integrations::intake::{self, Arrival};
use crate::store::service_connections;

/// The media type of HL7 v2 in its usual (ER7, pipe-delimited) encoding.
const HL7_V2: &str = "x-application/hl7-v2+er7; charset=utf-8";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services/{id}/hl7")
            .app_data(web::PayloadConfig::new(MAX_MESSAGE_BYTES))
            .route(web::post().to(receive)),
    );
}

async fn receive(
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    match take(&caller, &path, &body, &state).await {
        Ok(ack) => HttpResponse::Ok().content_type(HL7_V2).body(ack),
        Err(err) => {
            let (status, body) = error_answer(err);
            HttpResponse::build(status).json(body)
        }
    }
}

async fn take(
    caller: &Caller,
    id: &str,
    body: &[u8],
    state: &AppState,
) -> Result<String, AppError> {
    let p = &caller.principal;
    p.authenticated()?;
    p.require(Scope::TestsUpdate)?;
    let store = &state.services.store;
    // A connection the caller may not use reads as one that does not exist.
    let not_found = || AppError::NotFound("service connection");
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let connection = service_connections::find(store.conn(), id)
        .await?
        .filter(|c| c.service_type == ServiceType::Lab.as_str())
        .ok_or_else(not_found)?;
    let env = Environment::from_stored(&connection.environment);
    let rows = &p.grant.rows;
    let reachable = match connection.client_id {
        Some(client) => rows.allows_client(client, env),
        None => rows.clients.is_none() && rows.environment.is_none_or(|e| e == env),
    };
    if !reachable {
        return Err(not_found());
    }
    if !connection.enabled {
        return Err(AppError::Conflict(
            "the connection is disabled: enable it to take results".into(),
        ));
    }
    let ack = intake::take(
        store,
        &connection,
        body,
        Arrival {
            transport: Transport::Https,
            ip: caller.ip.map(|ip| ip.to_string()),
        },
    )
    .await?;
    Ok(ack.text)
}
