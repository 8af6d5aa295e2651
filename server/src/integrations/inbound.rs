//! Messages services send Switchboard at a connection's inbound address
//! (`POST /services/{id}/inbound`). Nothing is read before the signature is checked against
//! the connection's inbound secret (constant-time; stale timestamps refused); then the
//! connection's service type reads the message. Every message is one integration log entry,
//! a refused one included.

use chrono::Utc;
use entity::{integration_log, service_connection};
use uuid::Uuid;

use super::exchanges;
use super::services::{self, Inbound};
use crate::domain::actor::{ActorKind, Who};
use crate::domain::integration::{IntegrationErrorCode as Code, Operation, Outcome};
use crate::domain::records_exchange::{
    AnswerStatus, RecordsRequestStatus, SignatureRefusal, verify,
};
use crate::error::AppResult;
use crate::store::audit::{NewAuditEvent, RecordIds};
use crate::store::{Effects, Store, outside_records, service_connections};

/// The signature headers as they came, and where the message came from.
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// Why a message was not taken: the HTTP status to answer, a stable code and what is wrong.
#[derive(Debug)]
pub struct NotTaken {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl NotTaken {
    fn new(status: u16, code: Code, message: impl Into<String>) -> NotTaken {
        NotTaken {
            status,
            code: code.as_str(),
            message: message.into(),
        }
    }
}

/// Takes a message for `connection_id`: `Ok` with what became of it ("accepted", or
/// "already received" for a resend of a message already taken).
pub async fn receive(
    store: &Store,
    connection_id: Uuid,
    signed: Signed<'_>,
    body: &[u8],
) -> AppResult<Result<&'static str, NotTaken>> {
    let started = std::time::Instant::now();
    let Some(connection) = service_connections::find(store.conn(), connection_id).await? else {
        return Ok(Err(NotTaken {
            status: 404,
            code: "NOT_FOUND",
            message: "no such connection".into(),
        }));
    };
    let Ok(service_type) = connection.service_type.parse() else {
        return Ok(Err(NotTaken {
            status: 404,
            code: "NOT_FOUND",
            message: "no such connection".into(),
        }));
    };
    let secret =
        outside_records::inbound_secret(store.conn(), store.keyring(), connection.id).await?;
    let checked = match &secret {
        None => Err(SignatureRefusal::Invalid),
        Some(secret) => verify(
            secret,
            signed.id,
            signed.timestamp,
            signed.signature,
            body,
            Utc::now().timestamp(),
        ),
    };
    if let Err(refusal) = checked {
        let code = match refusal {
            SignatureRefusal::Stale => Code::TimestampStale,
            SignatureRefusal::Missing | SignatureRefusal::Invalid => Code::SignatureInvalid,
        };
        let refused = NotTaken::new(401, code, refusal.message());
        // The sender is told only that the signature does not match; the log says why.
        let logged = match secret {
            None => NotTaken::new(
                401,
                code,
                "the connection has no inbound secret yet (rotate one in its settings)",
            ),
            Some(_) => NotTaken::new(401, code, refusal.message()),
        };
        log(store, &connection, Outcome::Refused, Some(&logged), started).await?;
        return Ok(Err(refused));
    }
    let msg_id = signed.id.unwrap_or_default();
    let taken = match services::of(service_type).receive(body) {
        Err(why) => Err(NotTaken::new(400, Code::InvalidMessage, why)),
        Ok(Inbound::RecordsAnswer(answer)) => {
            let request = outside_records::find(store.conn(), answer.request_id)
                .await?
                .filter(|r| r.connection_id == connection.id && !r.validation);
            match request {
                None => Err(NotTaken::new(
                    404,
                    Code::InvalidMessage,
                    "no request with this requestId was sent over this connection",
                )),
                Some(r) if r.answer_id.as_deref() == Some(msg_id) => Ok("already received"),
                Some(r) if r.status != RecordsRequestStatus::Sent.as_str() => Err(NotTaken::new(
                    409,
                    Code::InvalidMessage,
                    "this request was answered already (or never reached the service)",
                )),
                Some(r) => {
                    let status = match answer.status {
                        AnswerStatus::Found => RecordsRequestStatus::Answered,
                        AnswerStatus::NotFound => RecordsRequestStatus::NotFound,
                    };
                    let records =
                        serde_json::to_string(&answer.records).unwrap_or_else(|_| "[]".into());
                    let logged = entry(&connection, Outcome::Ok, None, started);
                    let health = exchanges::health_after(store, &connection, &logged).await?;
                    let txn = store.begin_write().await?;
                    let done = outside_records::answer(
                        &txn.txn,
                        r.id,
                        status,
                        msg_id,
                        &records,
                        Utc::now(),
                    )
                    .await?;
                    if !done {
                        // Another message answered it meanwhile.
                        txn.commit(Effects::none()).await?;
                        return Ok(Err(NotTaken::new(
                            409,
                            Code::InvalidMessage,
                            "this request was answered already",
                        )));
                    }
                    // The service wrote to a patient's record: audited as done by it.
                    let audit = NewAuditEvent {
                        occurred_at: Utc::now(),
                        who: Who::new(
                            ActorKind::ServiceConnection,
                            Some(connection.id),
                            &connection.name,
                        ),
                        action: "UPDATE".into(),
                        operation: "receiveOutsideRecords".into(),
                        operation_name: None,
                        record_type: "outside_records_request".into(),
                        record_ids: RecordIds::Ids(vec![r.id, r.patient_id]),
                        fields: vec!["status".into(), "records".into()],
                        ip: signed.ip.map(str::to_owned),
                    };
                    let (_, effects) = exchanges::record(
                        &txn.txn,
                        &connection,
                        logged,
                        health,
                        Effects::audited(audit),
                    )
                    .await?;
                    txn.commit(effects).await?;
                    return Ok(Ok("accepted"));
                }
            }
        }
    };
    match &taken {
        Ok(_) => log(store, &connection, Outcome::Ok, None, started).await?,
        Err(not) => log(store, &connection, Outcome::Failed, Some(not), started).await?,
    }
    Ok(taken)
}

fn entry(
    connection: &service_connection::Model,
    outcome: Outcome,
    not: Option<&NotTaken>,
    started: std::time::Instant,
) -> integration_log::Model {
    exchanges::inbound_entry(
        connection,
        Operation::ReceiveRecords,
        outcome,
        not.map(|n| n.code),
        match not {
            Some(n) => n.message.clone(),
            None => "the service's answer was taken".into(),
        },
        started,
    )
}

/// Logs a message not taken (or a resend), with the health it means.
async fn log(
    store: &Store,
    connection: &service_connection::Model,
    outcome: Outcome,
    not: Option<&NotTaken>,
    started: std::time::Instant,
) -> AppResult<()> {
    let entry = entry(connection, outcome, not, started);
    let status = exchanges::health_after(store, connection, &entry).await?;
    let txn = store.begin_write().await?;
    let (_, effects) =
        exchanges::record(&txn.txn, connection, entry, status, Effects::none()).await?;
    txn.commit(effects).await
}
