//! Results intake: an HL7 v2 ORU^R01 from a LAB connection, over MLLP (`mllp_listener`) or
//! HTTPS, matched to the patient (PID-3, in the connection's client) and the orders
//! (ORC/OBR order numbers against accession numbers), its results stored and the tests'
//! status moved on, in one transaction with the audit event (done by the connection), the
//! webhook events and the integration log entry. Every message is kept (sealed): a message
//! not taken is in the dead-letter queue with its reason, to be reprocessed or discarded by
//! an administrator (`reprocess`). A resend (same MSH-10 from the same MSH-4 over the same
//! connection) changes nothing and gets the acknowledgement the first one got.

pub mod mllp_listener;

use std::time::Instant;

use chrono::Utc;
use entity::{integration_log, lab_message, lab_test, service_connection};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::exchanges;
use crate::domain::actor::{ActorKind, Who};
use crate::domain::hl7::{self, Ack, AckCode, Header, Oru, Problem, ProblemCode, ResultStatus};
use crate::domain::integration::{IntegrationErrorCode, Operation, Outcome};
use crate::domain::lab_intake::{CodeMap, LabMessageStatus, MappingKind, Transport};
use crate::domain::lab_test::TestStatus;
use crate::domain::service_connection::{Identifiers, Protocol, ServiceType};
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::{AppResult, parse_stored};
use crate::store::audit::{NewAuditEvent, RecordIds};
use crate::store::lab_tests::{self, TestPatch};
use crate::store::{
    Effect, Effects, Store, lab_code_mappings, lab_messages, patients, service_connections,
};

/// Where a message came from.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub transport: Transport,
    pub ip: Option<String>,
}

/// Takes one message from `connection` and answers its acknowledgement.
pub async fn take(
    store: &Store,
    connection: &service_connection::Model,
    raw: &[u8],
    arrival: Arrival,
) -> AppResult<Ack> {
    let started = Instant::now();
    let text = hl7::read_text(raw);
    let read = Oru::read(&text);
    let header = match &read {
        Ok(oru) => Some(oru.header.clone()),
        Err(e) => e.0.clone(),
    };
    if let Some(first) = resend_of(store, connection, header.as_ref()).await? {
        return answered_before(store, connection, first, &arrival, started).await;
    }
    let oru = match read {
        Err(e) => {
            let (header, problem) = *e;
            return dead(store, connection, header, problem, &text, &arrival, started).await;
        }
        Ok(oru) => oru,
    };
    let map = code_map(store, connection.id).await?;
    if oru.header.is_test() {
        // Checked against the data as it is, then answered; nothing is applied.
        return match plan(store.conn(), connection, &oru, &map).await? {
            Err(problem) => {
                dead(
                    store,
                    connection,
                    Some(oru.header),
                    problem,
                    &text,
                    &arrival,
                    started,
                )
                .await
            }
            Ok(_) => {
                let ack = acknowledge(
                    Some(&oru.header),
                    None,
                    Some("test message: checked, not applied"),
                );
                let row = message_row(Some(connection), Some(&oru.header), &text, &arrival, &ack);
                let row = lab_message::Model {
                    status: LabMessageStatus::Checked.as_str().into(),
                    ..row
                };
                let entry = entry(connection, Outcome::Ok, None, started);
                keep(store, connection, row, &text, entry, &arrival).await
            }
        };
    }
    let entry_ok = entry(connection, Outcome::Ok, None, started);
    let health = health_after(store, connection, &entry_ok, &arrival).await?;
    let txn = store.begin_write().await?;
    let planned = match plan(&txn.txn, connection, &oru, &map).await? {
        Ok(planned) => planned,
        Err(problem) => {
            drop(txn);
            return dead(
                store,
                connection,
                Some(oru.header),
                problem,
                &text,
                &arrival,
                started,
            )
            .await;
        }
    };
    let ack = acknowledge(Some(&oru.header), None, None);
    let mut row = message_row(Some(connection), Some(&oru.header), &text, &arrival, &ack);
    let (test_ids, effects) = apply(&txn.txn, planned).await?;
    row.test_ids = ids_json(&test_ids);
    let audit = NewAuditEvent {
        occurred_at: Utc::now(),
        who: Who::new(
            ActorKind::ServiceConnection,
            Some(connection.id),
            &connection.name,
        ),
        action: "UPDATE".into(),
        operation: "receiveLabResults".into(),
        operation_name: None,
        record_type: "test".into(),
        record_ids: RecordIds::Ids(test_ids),
        fields: vec!["status".into(), "results".into()],
        ip: arrival.ip.clone(),
    };
    let mut all = Effects::audited(audit);
    for effect in effects {
        all = all.and(effect);
    }
    let sealed = lab_messages::sealed_row(store.keyring(), row, &text)?;
    if let Err(err) = lab_messages::insert(&txn.txn, sealed).await {
        // The same message, taken meanwhile by another connection to the listener.
        drop(txn);
        return match resend_of(store, connection, Some(&oru.header)).await? {
            Some(first) => answered_before(store, connection, first, &arrival, started).await,
            None => Err(err),
        };
    }
    let all = record(&txn.txn, connection, entry_ok, health, all, &arrival).await?;
    txn.commit(all).await?;
    Ok(ack)
}

/// Takes JSON results (`hl7::JsonResults`) from an HTTPS_JSON connection: written as the
/// ORU^R01 they stand for (MSH-4 the connection's `receivingFacility`, PID-3 in its assigning
/// authority) and taken as one, so matching, idempotency on `messageId`, the dead-letter queue
/// and reprocessing are the same. A payload that cannot be read is kept as sent, dead.
pub async fn take_json(
    store: &Store,
    connection: &service_connection::Model,
    raw: &[u8],
    arrival: Arrival,
) -> AppResult<Ack> {
    let identifiers: Identifiers =
        serde_json::from_str(&connection.identifiers).unwrap_or_default();
    match hl7::JsonResults::read(raw) {
        Ok(results) => {
            let facility = identifiers.receiving_facility.as_deref().unwrap_or("JSON");
            let text = results.to_hl7(
                facility,
                identifiers.assigning_authority.as_deref(),
                Utc::now(),
            );
            take(store, connection, text.as_bytes(), arrival).await
        }
        Err(problem) => {
            let text = String::from_utf8_lossy(raw);
            dead(
                store,
                connection,
                None,
                problem,
                &text,
                &arrival,
                Instant::now(),
            )
            .await
        }
    }
}

/// Keeps a message no connection takes (an unknown sender; a message without a readable
/// header on a listener session that named no connection yet) and answers its rejection:
/// nothing a lab sends is dropped, and an administrator sees it in the dead-letter queue.
pub async fn unassigned(
    store: &Store,
    raw: &[u8],
    header: Option<Header>,
    problem: Problem,
    arrival: Arrival,
) -> AppResult<Ack> {
    let text = hl7::read_text(raw);
    let (row, ack) = dead_row(None, header.as_ref(), &problem, &text, &arrival);
    let txn = store.begin_write().await?;
    lab_messages::insert(
        &txn.txn,
        lab_messages::sealed_row(store.keyring(), row, &text)?,
    )
    .await?;
    txn.commit(Effects::none()).await?;
    Ok(ack)
}

/// The enabled LAB connection over MLLP whose lab sent a message: MSH-4 is its receiving
/// facility and, where it names one, MSH-3 its receiving application (the lab as Switchboard
/// addresses it).
pub async fn route(store: &Store, header: &Header) -> AppResult<Option<service_connection::Model>> {
    let connections = service_connections::list(store.conn()).await?;
    Ok(connections.into_iter().find(|c| {
        if !c.enabled
            || c.service_type != ServiceType::Lab.as_str()
            || c.protocol != Protocol::Hl7v2Mllp.as_str()
        {
            return false;
        }
        let ids: Identifiers = serde_json::from_str(&c.identifiers).unwrap_or_default();
        ids.receiving_facility.as_deref() == Some(header.sending_facility.as_str())
            && ids
                .receiving_application
                .as_deref()
                .is_none_or(|app| app == header.sending_application)
    }))
}

/// What an administrator's reprocess of a dead message did.
pub struct Reprocessed {
    pub message: lab_message::Model,
    /// The problem that keeps it in the queue, if one still does.
    pub problem: Option<Problem>,
}

/// Processes a dead message again (after a fix: the patient now exists, the mapping lists
/// the code). Taken: its results are stored, the message becomes REPROCESSED with an `AA`
/// acknowledgement (which a later resend gets), and `audit` (the administrator's) is written
/// with the tests it changed. Not taken: it stays in the queue with the new reason.
pub async fn reprocess(
    store: &Store,
    message: lab_message::Model,
    audit: impl FnOnce(Vec<Uuid>) -> NewAuditEvent,
    by: &str,
) -> AppResult<Reprocessed> {
    let text = lab_messages::raw(store.keyring(), &message)?;
    let header = hl7::header_of(text.as_bytes());
    // Its connection, or (a message no connection took) the one that takes it now.
    let connection = match message.connection_id {
        Some(id) => service_connections::find(store.conn(), id).await?,
        None => match &header {
            Some(h) => route(store, h).await?,
            None => None,
        },
    };
    let Some(connection) = connection else {
        let problem = match (&header, message.connection_id) {
            (_, Some(_)) => Problem::new(
                ProblemCode::NotConfigured,
                "the message's connection was deleted",
            ),
            (_, None) => unroutable(header.as_ref()),
        };
        return still_dead(store, message, header, problem, None).await;
    };
    let connection = &connection;
    let map = code_map(store, connection.id).await?;
    let oru = match Oru::read(&text) {
        Ok(oru) if !oru.header.is_test() => oru,
        Ok(oru) => {
            let problem = Problem::new(
                ProblemCode::BadField,
                "a test message (MSH-11 T) is never applied",
            )
            .at("MSH", 1, 11);
            return still_dead(
                store,
                message,
                Some(oru.header),
                problem,
                Some(connection.id),
            )
            .await;
        }
        Err(e) => {
            let (header, problem) = *e;
            return still_dead(store, message, header, problem, Some(connection.id)).await;
        }
    };
    let txn = store.begin_write().await?;
    let planned = match plan(&txn.txn, connection, &oru, &map).await? {
        Ok(planned) => planned,
        Err(problem) => {
            drop(txn);
            return still_dead(
                store,
                message,
                Some(oru.header),
                problem,
                Some(connection.id),
            )
            .await;
        }
    };
    let (test_ids, effects) = apply(&txn.txn, planned).await?;
    let ack = acknowledge(Some(&oru.header), None, None);
    let now = Utc::now();
    let settled = lab_messages::settle(
        &txn.txn,
        &message,
        LabMessageStatus::Dead.as_str(),
        lab_messages::Outcome {
            status: LabMessageStatus::Reprocessed.as_str(),
            ack_code: AckCode::Accept.as_str(),
            ack: &ack.text,
            error_code: None,
            error_message: None,
            test_ids: &ids_json(&test_ids),
            resolved: Some((now, by, "reprocessed: its results are stored")),
            connection_id: Some(connection.id),
        },
        true,
    )
    .await?;
    if !settled {
        // Another administrator reprocessed or discarded it meanwhile: nothing is applied.
        drop(txn);
        let current = lab_messages::find(store.conn(), message.id).await?;
        return Ok(Reprocessed {
            message: current.unwrap_or(message),
            problem: None,
        });
    }
    let mut all = Effects::audited(audit(test_ids));
    for effect in effects {
        all = all.and(effect);
    }
    txn.commit(all).await?;
    let message = lab_messages::find(store.conn(), message.id)
        .await?
        .unwrap_or(message);
    Ok(Reprocessed {
        message,
        problem: None,
    })
}

/// A reprocess that found a problem again: the message stays DEAD with the new reason (and,
/// if it had none, the connection that takes it now).
async fn still_dead(
    store: &Store,
    message: lab_message::Model,
    header: Option<Header>,
    problem: Problem,
    connection_id: Option<Uuid>,
) -> AppResult<Reprocessed> {
    let ack = acknowledge(header.as_ref(), Some(&problem), None);
    let txn = store.begin_write().await?;
    lab_messages::settle(
        &txn.txn,
        &message,
        LabMessageStatus::Dead.as_str(),
        lab_messages::Outcome {
            status: LabMessageStatus::Dead.as_str(),
            ack_code: ack.code.as_str(),
            ack: &ack.text,
            error_code: Some(problem.code.as_str()),
            error_message: Some(&problem.message),
            test_ids: "[]",
            resolved: None,
            connection_id,
        },
        true,
    )
    .await?;
    txn.commit(Effects::none()).await?;
    let message = lab_messages::find(store.conn(), message.id)
        .await?
        .unwrap_or(message);
    Ok(Reprocessed {
        message,
        problem: Some(problem),
    })
}

/// One test's change.
struct Change {
    current: lab_test::Model,
    patch: TestPatch,
}

/// Matches the message to the patient and orders and works out each test's change, reading
/// in `db` (the write transaction, when it is applied). Nothing is written.
async fn plan(
    db: &impl sea_orm::ConnectionTrait,
    connection: &service_connection::Model,
    oru: &Oru,
    map: &CodeMap,
) -> AppResult<Result<Vec<Change>, Problem>> {
    let Some(client_id) = connection.client_id else {
        return Ok(Err(Problem::new(
            ProblemCode::NotConfigured,
            "the connection names no client: set its client to take results",
        )));
    };
    let identifiers: crate::domain::service_connection::Identifiers =
        serde_json::from_str(&connection.identifiers).unwrap_or_default();
    let external_id = match oru.patient_id(identifiers.assigning_authority.as_deref()) {
        Ok(id) => id,
        Err(problem) => return Ok(Err(problem)),
    };
    let Some(patient) = patients::find_by_external_id(db, client_id, external_id).await? else {
        return Ok(Err(Problem::new(
            ProblemCode::UnknownPatient,
            "no patient with the PID-3 identifier in the connection's client",
        )
        .at("PID", 1, 3)));
    };
    let now = Utc::now();
    let mut changes: Vec<Change> = vec![];
    for order in &oru.orders {
        let mapped_test = match map.test(&order.service_code, order.occurrence) {
            Ok(code) => code,
            Err(problem) => return Ok(Err(problem)),
        };
        let found = lab_tests::of_patient_by_accession(db, patient.id, &order.numbers).await?;
        // The most specific number that matches (filler before placer).
        let Some(test) = order
            .numbers
            .iter()
            .find_map(|n| found.iter().find(|t| &t.accession_number == n))
        else {
            return Ok(Err(Problem::new(
                ProblemCode::UnknownOrder,
                "no order of the patient has the message's order number as its accession number",
            )
            .at("OBR", order.occurrence, 3)));
        };
        if changes.iter().any(|c| c.current.id == test.id) {
            return Ok(Err(Problem::new(
                ProblemCode::BadField,
                "two OBR segments name the same order",
            )
            .at("OBR", order.occurrence, 3)));
        }
        if let Some(code) = mapped_test
            && code != test.test_code
        {
            return Ok(Err(Problem::new(
                ProblemCode::BadField,
                format!(
                    "OBR-4 maps to test code `{code}` but the order is for `{}`",
                    test.test_code
                ),
            )
            .at("OBR", order.occurrence, 4)));
        }
        let from: TestStatus = parse_stored(&test.status)?;
        if from.is_final() {
            return Ok(Err(Problem::new(
                ProblemCode::TestFinal,
                format!(
                    "the order is {}: its results are not changed",
                    from.as_str()
                ),
            )
            .at("OBR", order.occurrence, 25)));
        }
        let mut lines = vec![];
        for o in &order.observations {
            let code = match map.observation(&o.code, o.occurrence) {
                Ok(code) => code,
                Err(problem) => return Ok(Err(problem)),
            };
            match o.line(&code) {
                Ok(line) => lines.push(line),
                Err(problem) => return Ok(Err(problem)),
            }
        }
        let to = match order.status() {
            ResultStatus::Final => TestStatus::Resulted,
            ResultStatus::Preliminary => TestStatus::Preliminary,
        };
        let mut patch = TestPatch {
            status: (to != from).then_some(to),
            results: Some(serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into())),
            ..TestPatch::default()
        };
        if to == TestStatus::Resulted {
            patch.resulted_at = Some(now);
        }
        changes.push(Change {
            current: test.clone(),
            patch,
        });
    }
    Ok(Ok(changes))
}

/// Writes the planned changes in `txn`: the tests' ids and their webhook events.
async fn apply(
    txn: &DatabaseTransaction,
    changes: Vec<Change>,
) -> AppResult<(Vec<Uuid>, Vec<Effect>)> {
    let mut ids = vec![];
    let mut effects = vec![];
    for change in changes {
        let resulted = change.patch.status == Some(TestStatus::Resulted);
        let mut fields = vec!["results".to_owned()];
        if change.patch.status.is_some() {
            fields.push("status".into());
        }
        let updated = lab_tests::update(txn, change.current, change.patch).await?;
        let about = |event_type| {
            Effect::Webhook(NewEvent::about(
                event_type,
                "test",
                updated.id,
                updated.client_id,
                updated.location_id,
                fields.clone(),
            ))
        };
        effects.push(about(EventType::TestUpdated));
        if resulted {
            effects.push(about(EventType::TestResulted));
        }
        ids.push(updated.id);
    }
    Ok((ids, effects))
}

/// Keeps a message not taken in the dead-letter queue and answers its (AE or AR) ack.
async fn dead(
    store: &Store,
    connection: &service_connection::Model,
    header: Option<Header>,
    problem: Problem,
    text: &str,
    arrival: &Arrival,
    started: Instant,
) -> AppResult<Ack> {
    let (row, ack) = dead_row(Some(connection), header.as_ref(), &problem, text, arrival);
    // A message that cannot be processed at all is the sender's failure; one that names what
    // Switchboard does not have (yet) is refused, and not held against the service's health.
    let outcome = match ack.code {
        AckCode::Reject => Outcome::Failed,
        _ => Outcome::Refused,
    };
    let entry = entry(connection, outcome, Some(&problem), started);
    keep(store, connection, row, text, entry, arrival).await
}

/// Stores a message row and its log entry; answers the row's ack (or, when a concurrent
/// resend was stored first, that one's).
async fn keep(
    store: &Store,
    connection: &service_connection::Model,
    row: lab_message::Model,
    text: &str,
    entry: integration_log::Model,
    arrival: &Arrival,
) -> AppResult<Ack> {
    let ack = Ack {
        code: parse_stored(&row.ack_code)?,
        text: row.ack.clone(),
    };
    let facility = row.sending_facility.clone();
    let control_id = row.control_id.clone();
    let health = health_after(store, connection, &entry, arrival).await?;
    let txn = store.begin_write().await?;
    let sealed = lab_messages::sealed_row(store.keyring(), row, text)?;
    if let Err(err) = lab_messages::insert(&txn.txn, sealed).await {
        drop(txn);
        if let Some(control_id) = control_id
            && let Some(first) =
                lab_messages::find_resend(store.conn(), connection.id, &facility, &control_id)
                    .await?
        {
            return Ok(Ack {
                code: parse_stored(&first.ack_code)?,
                text: first.ack,
            });
        }
        return Err(err);
    }
    let effects = record(
        &txn.txn,
        connection,
        entry,
        health,
        Effects::none(),
        arrival,
    )
    .await?;
    txn.commit(effects).await?;
    Ok(ack)
}

/// The message a resend repeats, if `header` names one already received.
async fn resend_of(
    store: &Store,
    connection: &service_connection::Model,
    header: Option<&Header>,
) -> AppResult<Option<lab_message::Model>> {
    let Some(h) = header.filter(|h| !h.control_id.is_empty()) else {
        return Ok(None);
    };
    lab_messages::find_resend(
        store.conn(),
        connection.id,
        &h.sending_facility,
        &h.control_id,
    )
    .await
}

/// A resend: logged, answered with the first one's acknowledgement, nothing else.
async fn answered_before(
    store: &Store,
    connection: &service_connection::Model,
    first: lab_message::Model,
    arrival: &Arrival,
    started: Instant,
) -> AppResult<Ack> {
    let mut entry = entry(connection, Outcome::Ok, None, started);
    entry.message = format!(
        "a resend of a message received at {}: answered as before, nothing changed",
        first.received_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let txn = store.begin_write().await?;
    let effects = record(&txn.txn, connection, entry, None, Effects::none(), arrival).await?;
    txn.commit(effects).await?;
    Ok(Ack {
        code: parse_stored(&first.ack_code)?,
        text: first.ack,
    })
}

async fn code_map(store: &Store, connection_id: Uuid) -> AppResult<CodeMap> {
    let entries = lab_code_mappings::of_connection(store.conn(), connection_id).await?;
    Ok(CodeMap::new(entries.into_iter().filter_map(|e| {
        let kind: MappingKind = e.kind.parse().ok()?;
        Some((kind, e.local_code, e.code))
    })))
}

fn message_row(
    connection: Option<&service_connection::Model>,
    header: Option<&Header>,
    text: &str,
    arrival: &Arrival,
    ack: &Ack,
) -> lab_message::Model {
    let h = header.cloned().unwrap_or_default();
    lab_message::Model {
        id: Uuid::now_v7(),
        connection_id: connection.map(|c| c.id),
        transport: arrival.transport.as_str().into(),
        sending_facility: h.sending_facility,
        control_id: (!h.control_id.is_empty()).then_some(h.control_id),
        message_type: h.message_type.chars().take(40).collect(),
        status: LabMessageStatus::Accepted.as_str().into(),
        ack_code: ack.code.as_str().into(),
        ack: ack.text.clone(),
        error_code: None,
        error_message: None,
        raw: String::new(),
        key_id: None,
        size: i32::try_from(text.len()).unwrap_or(i32::MAX),
        test_ids: "[]".into(),
        attempts: 1,
        ip: arrival.ip.clone(),
        received_at: Utc::now(),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
    }
}

fn ids_json(ids: &[Uuid]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// The log entry of one message received.
/// A message fetched by a poll has no log entry of its own: the poll writes one for all it
/// fetched, with their counts (and health follows the poll).
fn polled(arrival: &Arrival) -> bool {
    arrival.transport == Transport::Poll
}

async fn health_after(
    store: &Store,
    connection: &service_connection::Model,
    entry: &integration_log::Model,
    arrival: &Arrival,
) -> AppResult<Option<crate::domain::integration::HealthStatus>> {
    if polled(arrival) {
        return Ok(None);
    }
    exchanges::health_after(store, connection, entry).await
}

/// Writes a message's log entry (`exchanges::record`), unless a poll fetched it.
async fn record(
    txn: &DatabaseTransaction,
    connection: &service_connection::Model,
    entry: integration_log::Model,
    health: Option<crate::domain::integration::HealthStatus>,
    effects: Effects,
    arrival: &Arrival,
) -> AppResult<Effects> {
    if polled(arrival) {
        return Ok(effects);
    }
    Ok(exchanges::record(txn, connection, entry, health, effects)
        .await?
        .1)
}

fn entry(
    connection: &service_connection::Model,
    outcome: Outcome,
    problem: Option<&Problem>,
    started: Instant,
) -> integration_log::Model {
    exchanges::inbound_entry(
        connection,
        Operation::ReceiveResults,
        outcome,
        problem.map(|_| IntegrationErrorCode::InvalidMessage.as_str()),
        match problem {
            Some(p) => format!("{}: {}", p.code.as_str(), p.message),
            None => "results taken".into(),
        },
        started,
    )
}

/// The acknowledgement of a message with `header` (none when it could not be read): `AA`
/// (with `note` in MSA-3) without a problem, else the problem's `AE` or `AR`. Its own control
/// id is new.
pub fn acknowledge(header: Option<&Header>, problem: Option<&Problem>, note: Option<&str>) -> Ack {
    let id = Uuid::now_v7().simple().to_string();
    hl7::ack(
        header,
        problem,
        note,
        &format!("SBACK{}", &id[id.len() - 15..]),
        Utc::now(),
    )
}

/// A message kept in the dead-letter queue for `problem`, and the acknowledgement it gets.
fn dead_row(
    connection: Option<&service_connection::Model>,
    header: Option<&Header>,
    problem: &Problem,
    text: &str,
    arrival: &Arrival,
) -> (lab_message::Model, Ack) {
    let ack = acknowledge(header, Some(problem), None);
    let row = lab_message::Model {
        status: LabMessageStatus::Dead.as_str().into(),
        error_code: Some(problem.code.as_str().into()),
        error_message: Some(problem.message.clone()),
        ..message_row(connection, header, text, arrival, &ack)
    };
    (row, ack)
}

/// Why no connection takes a message: its header cannot be read, or no connection takes its
/// sender.
pub fn unroutable(header: Option<&Header>) -> Problem {
    match header {
        None => Problem::new(
            ProblemCode::Malformed,
            "not an HL7 v2 message with a readable MSH segment",
        ),
        Some(_) => Problem::new(
            ProblemCode::UnknownSender,
            "no enabled LAB connection over MLLP takes messages from this sending application and facility",
        )
        .at("MSH", 1, 4),
    }
}
