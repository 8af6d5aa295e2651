//! Polling LAB connections whose systems cannot push results (settings administrators).

use async_graphql::{Context, ID, InputObject, Object};

use super::ContextExt;
use super::ids::parse_id;
use super::types::service_polls::{PollResult, ServicePolling};
use crate::access::service_polls::PollingForm;

type R<T> = async_graphql::Result<T>;

/// When and where a LAB connection is polled.
#[derive(InputObject)]
pub struct ServicePollingInput {
    /// Poll every so many seconds (1 to 604800). Give this or `cron`.
    pub every_seconds: Option<i32>,
    /// A cron expression in UTC (`minute hour day-of-month month day-of-week`, or with
    /// seconds first), e.g. `*/5 * * * *`. Give this or `everySeconds`.
    pub cron: Option<String>,
    /// The feed's path under the connection's address (default `results`).
    pub path: Option<String>,
    /// Whether scheduled polls run (default true).
    #[graphql(default = true)]
    pub enabled: bool,
}

#[derive(Default)]
pub struct ServicePollsMutation;

#[Object]
impl ServicePollsMutation {
    /// Sets a LAB connection's polling (HTTPS_JSON or HL7V2_HTTP): its schedule and its
    /// feed's path. The feed's cursor is kept. Audited.
    async fn set_service_polling(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The LAB connection.")] connection_id: ID,
        #[graphql(desc = "Its schedule and feed path.")] input: ServicePollingInput,
    ) -> R<Option<ServicePolling>> {
        let id = parse_id("connectionId", &connection_id)?;
        let form = PollingForm {
            every_seconds: input.every_seconds,
            cron: input.cron,
            path: input.path,
            enabled: input.enabled,
        };
        let row = ctx.access()?.service_polls().set(id, form).await?;
        Ok(Some(ServicePolling(row)))
    }

    /// Polls a LAB connection now, whatever its schedule, and answers what the poll did.
    /// Refused (CONFLICT) while another poll of it runs. Audited.
    async fn poll_service_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The LAB connection.")] connection_id: ID,
    ) -> R<Option<PollResult>> {
        let id = parse_id("connectionId", &connection_id)?;
        let polled = ctx.access()?.service_polls().poll_now(id).await?;
        Ok(Some(polled.into()))
    }
}
