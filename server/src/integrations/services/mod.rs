//! One implementation of `Service` per service type: what each kind of system does beyond
//! the connection they all share (`Connector`: address, TLS, credentials). A new type is one
//! module here and one arm in `of`.

mod clearinghouse;
mod data_storage;
mod lab;
mod pharmacy;
pub mod records_exchange;

use async_trait::async_trait;

use super::{Connector, Failure, Report, by_protocol};
use crate::domain::integration::IntegrationErrorCode;
use crate::domain::records_exchange::{OutgoingRequest, RecordsAnswer};
use crate::domain::service_connection::ServiceType;

/// A message Switchboard sends a service.
#[derive(Debug)]
pub enum Outgoing {
    /// A patient's request for outside records (records exchange).
    RecordsRequest(OutgoingRequest),
}

/// A message a service sent Switchboard, read (its signature already checked).
#[derive(Debug)]
pub enum Inbound {
    RecordsAnswer(RecordsAnswer),
}

/// What every kind of external service does. Authentication is the connection's
/// (`Connector`), and health comes from the integration log, so both are shared; the
/// defaults below are what a type without the capability answers.
#[async_trait]
pub trait Service: Send + Sync {
    /// Test Connection: really connect and make one harmless call of the protocol.
    async fn test(&self, c: &Connector<'_>, report: &mut Report) -> Result<(), Failure> {
        by_protocol(c, report).await
    }

    /// Sends one message (once: retries are the caller's, `retry`).
    async fn send(
        &self,
        _c: &Connector<'_>,
        _message: &Outgoing,
        _report: &mut Report,
    ) -> Result<(), Failure> {
        Err(Failure::new(
            IntegrationErrorCode::Rejected,
            "this kind of service takes no messages from Switchboard yet",
            "Use a connection of the type the message is for.",
        ))
    }

    /// Reads a message the service sent (after its signature was checked); the error says
    /// what is wrong with it.
    fn receive(&self, _body: &[u8]) -> Result<Inbound, String> {
        Err("this kind of service sends Switchboard no messages".into())
    }
}

/// The implementation for `service_type`.
pub fn of(service_type: ServiceType) -> &'static dyn Service {
    match service_type {
        ServiceType::Lab => &lab::Lab,
        ServiceType::Pharmacy => &pharmacy::Pharmacy,
        ServiceType::Clearinghouse => &clearinghouse::Clearinghouse,
        ServiceType::DataStorage => &data_storage::DataStorage,
        ServiceType::RecordsExchange => &records_exchange::RecordsExchange,
    }
}
