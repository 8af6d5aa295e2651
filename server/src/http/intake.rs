//! `POST /services/{id}/hl7`: a lab's HL7 v2 result message over HTTPS, for the LAB
//! connection `{id}`, authenticated with an API key (or token) that has `tests:update` and
//! reaches the connection's client. The answer is the HL7 acknowledgement (200 whatever it
//! says: AA, AE or AR), as over MLLP. `POST /services/{id}/results`: the same for results
//! sent as JSON to an HTTPS_JSON connection.

use actix_web::{HttpRequest, HttpResponse, web};
use entity::service_connection;
use uuid::Uuid;

use super::auth::Caller;
use super::{AppState, error_answer};
use crate::domain::environment::Environment;
use crate::domain::hl7::MAX_MESSAGE_BYTES;
use crate::domain::lab_intake::Transport;
use crate::domain::records_exchange::verify;
use crate::domain::scope::Scope;
use crate::domain::service_connection::{Protocol, ServiceType};
use crate::error::AppError;
use crate::integrations::intake::{self, Arrival};
use crate::store::{outside_records, service_connections};

/// The media type of HL7 v2 in its usual (ER7, pipe-delimited) encoding.
const HL7_V2: &str = "x-application/hl7-v2+er7; charset=utf-8";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services/{id}/hl7")
            .app_data(web::PayloadConfig::new(MAX_MESSAGE_BYTES))
            .route(web::post().to(receive)),
    )
    .service(
        web::resource("/services/{id}/results")
            .app_data(web::PayloadConfig::new(MAX_MESSAGE_BYTES))
            .route(web::post().to(receive_json)),
    );
}

async fn receive(
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let taken = async {
        let connection = lab_connection(&caller, &path, &state, Protocol::Hl7v2Http).await?;
        intake::take(
            &state.services.store,
            &connection,
            &body,
            arrival(&caller, Transport::Https),
        )
        .await
    }
    .await;
    match taken {
        Ok(ack) => HttpResponse::Ok().content_type(HL7_V2).body(ack.text),
        Err(err) => refuse(err),
    }
}

/// `POST /services/{id}/results`: results as JSON (`hl7::JsonResults`) for an HTTPS_JSON
/// connection; signed with the connection's inbound secret when it has one. The answer is
/// the acknowledgement's summary (`ackCode` AA, AE or AR, and why), with 200.
async fn receive_json(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let taken = async {
        let connection = lab_connection(&caller, &path, &state, Protocol::HttpsJson).await?;
        let store = &state.services.store;
        if let Some(secret) =
            outside_records::inbound_secret(store.conn(), store.keyring(), connection.id).await?
        {
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
            verify(
                &secret,
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
                &body,
                chrono::Utc::now().timestamp(),
            )
            .map_err(|refusal| AppError::Unauthenticated(refusal.message()))?;
        }
        intake::take_json(store, &connection, &body, arrival(&caller, Transport::Json)).await
    }
    .await;
    match taken {
        Ok(ack) => HttpResponse::Ok().json(ack.summary()),
        Err(err) => refuse(err),
    }
}

fn refuse(err: AppError) -> HttpResponse {
    let (status, body) = error_answer(err);
    HttpResponse::build(status).json(body)
}

fn arrival(caller: &Caller, transport: Transport) -> Arrival {
    Arrival {
        transport,
        ip: caller.ip.map(|ip| ip.to_string()),
    }
}

/// The enabled LAB connection `id` over `protocol`, if the caller may send it results: a key
/// (or token) with `tests:update` that reaches the connection's client. Anything else reads
/// as a connection that does not exist.
async fn lab_connection(
    caller: &Caller,
    id: &str,
    state: &AppState,
    protocol: Protocol,
) -> Result<service_connection::Model, AppError> {
    let p = &caller.principal;
    p.authenticated()?;
    p.require(Scope::TestsUpdate)?;
    let store = &state.services.store;
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
    // JSON goes to HTTPS_JSON connections; HL7 v2 to the others (over HTTPS or MLLP).
    let json = protocol == Protocol::HttpsJson;
    if (connection.protocol == Protocol::HttpsJson.as_str()) != json {
        return Err(AppError::Conflict(format!(
            "this connection's protocol is {}: send {} to {}",
            connection.protocol,
            if json {
                "JSON results"
            } else {
                "HL7 v2 messages"
            },
            if json {
                "an HTTPS_JSON connection"
            } else {
                "/services/{id}/results"
            },
        )));
    }
    if !connection.enabled {
        return Err(AppError::Conflict(
            "the connection is disabled: enable it to take results".into(),
        ));
    }
    Ok(connection)
}
