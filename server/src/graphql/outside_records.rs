//! Outside records: asking a records-exchange service for a patient's records, what came
//! back, and the secret services sign their answers with.

use async_graphql::{Context, ID, Object};

use super::ContextExt;
use super::ids::parse_id;
use super::types::outside_records::{InboundSecret, OutsideRecordsRequest};

type R<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct OutsideRecordsQuery;

#[Object]
impl OutsideRecordsQuery {
    /// A patient's requests for outside records, newest first. Needs what reading the
    /// patient's demographics and clinical information needs.
    async fn outside_records_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(default = 20, desc = "How many, at most 100.")] first: i32,
    ) -> R<Option<Vec<OutsideRecordsRequest>>> {
        let patient_id = parse_id("patientId", &patient_id)?;
        let first = u64::try_from(first).unwrap_or(0);
        let list = ctx
            .access()?
            .outside_records()
            .for_patient(patient_id, first)
            .await?;
        Ok(Some(list.into_iter().map(OutsideRecordsRequest).collect()))
    }
}

#[derive(Default)]
pub struct OutsideRecordsMutation;

#[Object]
impl OutsideRecordsMutation {
    /// Sends the patient's demographics and clinical information (diagnoses, medications) to
    /// a RECORDS_EXCHANGE connection's service, which answers later at the connection's
    /// inbound address. Retryable failures are tried again with backoff. Refused with
    /// ENVIRONMENT_MISMATCH (and logged) when a production patient would go to a sandbox
    /// connection or the reverse. Needs what reading those fields needs.
    async fn request_outside_records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "A RECORDS_EXCHANGE connection.")] connection_id: ID,
    ) -> R<Option<OutsideRecordsRequest>> {
        let patient_id = parse_id("patientId", &patient_id)?;
        let connection_id = parse_id("connectionId", &connection_id)?;
        let row = ctx
            .access()?
            .outside_records()
            .request(patient_id, connection_id)
            .await?;
        Ok(Some(OutsideRecordsRequest(row)))
    }

    /// A new secret for a RECORDS_EXCHANGE connection's service to sign what it sends to
    /// the connection's inbound address; it replaces the old one at once. Shown this once.
    async fn rotate_service_inbound_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection.")] id: ID,
    ) -> R<Option<InboundSecret>> {
        let id = parse_id("id", &id)?;
        let done = ctx
            .access()?
            .outside_records()
            .rotate_inbound_secret(id)
            .await?;
        Ok(Some(InboundSecret {
            secret: done.secret,
            url: done.url,
        }))
    }
}
