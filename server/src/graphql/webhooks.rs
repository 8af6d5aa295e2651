//! Webhook endpoints' queries and mutations (settings administrators for every endpoint, a
//! partner app for its own; the handle checks).

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::ContextExt;
use super::ids::parse_id;
use super::types::webhook::{WebhookDelivery, WebhookEndpoint, WebhookEndpointSecretPayload};
use crate::access::webhooks::EndpointForm;
use crate::domain::environment::Environment;
use crate::domain::webhook_delivery::MessageStatus;
use crate::domain::webhook_event::EventType;
use crate::error::AppError;
use crate::store::webhook_delivery::MessageFilter;

type R<T> = async_graphql::Result<T>;

/// What an endpoint is registered with.
#[derive(InputObject)]
pub struct WebhookEndpointInput {
    /// Where to POST events: https (plain http only for sandbox endpoints). Loopback,
    /// private, link-local and metadata addresses are refused unless allowed in the server's
    /// configuration.
    pub url: String,
    /// What it is for (up to 500 characters).
    #[graphql(default)]
    pub description: String,
    /// The event types to receive; omit for every type.
    pub event_types: Option<Vec<EventType>>,
}

impl From<WebhookEndpointInput> for EndpointForm {
    fn from(i: WebhookEndpointInput) -> Self {
        EndpointForm {
            url: i.url,
            description: i.description,
            event_types: i.event_types,
        }
    }
}

/// Which deliveries of the log to show.
#[derive(InputObject, Default)]
pub struct WebhookDeliveryFilter {
    /// Pending, delivered or failed.
    pub status: Option<MessageStatus>,
    /// Of this event type.
    pub event_type: Option<EventType>,
    /// Made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Made before this time.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Webhook endpoints, oldest first (a partner app sees its own).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> R<Option<Vec<WebhookEndpoint>>> {
        let list = ctx.access()?.webhooks().list().await?;
        Ok(Some(list.into_iter().map(WebhookEndpoint).collect()))
    }

    /// One webhook endpoint.
    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> R<Option<WebhookEndpoint>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.webhooks().get(id).await?.map(WebhookEndpoint))
    }

    /// An endpoint's delivery log, newest first.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] endpoint_id: ID,
        #[graphql(desc = "Keep only these deliveries.")] filter: Option<WebhookDeliveryFilter>,
        #[graphql(default = 50, desc = "How many, at most 100.")] first: i32,
        #[graphql(desc = "Deliveries older than this one (its `id`, `msg_…`): the next page.")]
        before: Option<String>,
    ) -> R<Option<Vec<WebhookDelivery>>> {
        let endpoint_id = parse_id("endpointId", &endpoint_id)?;
        let before = before.as_deref().map(parse_message_id).transpose()?;
        let filter = filter.unwrap_or_default();
        let filter = MessageFilter {
            status: filter.status,
            event_type: filter.event_type.map(|t| t.as_str().to_owned()),
            since: filter.since,
            until: filter.until,
            before,
        };
        // Out of range (negative too) is refused by the handle.
        let first = u64::try_from(first).unwrap_or(0);
        let list = ctx
            .access()?
            .webhooks()
            .deliveries(endpoint_id, &filter, first)
            .await?;
        Ok(Some(list.into_iter().map(WebhookDelivery).collect()))
    }
}

/// A delivery's id as receivers see it (`msg_` and 32 hex digits).
fn parse_message_id(raw: &str) -> Result<uuid::Uuid, AppError> {
    raw.strip_prefix("msg_")
        .and_then(|hex| uuid::Uuid::try_parse(hex).ok())
        .ok_or_else(|| AppError::invalid("id", "not a delivery id (msg_…)"))
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Subscribes an endpoint to events. Its signing secret is in this answer only.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to register.")] input: WebhookEndpointInput,
        #[graphql(desc = "Which environment's events it receives.")] environment: Environment,
    ) -> R<Option<WebhookEndpointSecretPayload>> {
        let (view, secret) = ctx
            .access()?
            .webhooks()
            .create(input.into(), environment)
            .await?;
        Ok(Some(WebhookEndpointSecretPayload {
            webhook_endpoint: WebhookEndpoint(view),
            signing_secret: secret,
        }))
    }

    /// Changes an endpoint's address, description or event types.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
        #[graphql(desc = "Everything registered for it, replaced.")] input: WebhookEndpointInput,
    ) -> R<Option<WebhookEndpoint>> {
        let id = parse_id("id", &id)?;
        let view = ctx.access()?.webhooks().update(id, input.into()).await?;
        Ok(Some(WebhookEndpoint(view)))
    }

    /// Enables an endpoint: what is pending is sent at once.
    async fn enable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
    ) -> R<Option<WebhookEndpoint>> {
        let id = parse_id("id", &id)?;
        let view = ctx.access()?.webhooks().set_enabled(id, true).await?;
        Ok(Some(WebhookEndpoint(view)))
    }

    /// Disables an endpoint: nothing is sent to it, and new events are not kept for it, until
    /// it is enabled again.
    async fn disable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
    ) -> R<Option<WebhookEndpoint>> {
        let id = parse_id("id", &id)?;
        let view = ctx.access()?.webhooks().set_enabled(id, false).await?;
        Ok(Some(WebhookEndpoint(view)))
    }

    /// Removes an endpoint with its secrets and delivery log.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
    ) -> R<Option<bool>> {
        let id = parse_id("id", &id)?;
        ctx.access()?.webhooks().delete(id).await?;
        Ok(Some(true))
    }

    /// Issues a new signing secret. The old ones keep signing beside it for the overlap
    /// (default one day), so receivers can switch without missing a message.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
        #[graphql(
            default = 86400,
            desc = "How long the old secrets keep signing, in seconds (0 to the configured maximum, 7 days by default)."
        )]
        overlap_seconds: i64,
    ) -> R<Option<WebhookEndpointSecretPayload>> {
        let id = parse_id("id", &id)?;
        let overlap = chrono::Duration::try_seconds(overlap_seconds)
            .ok_or_else(|| AppError::invalid("overlapSeconds", "out of range"))?;
        let (view, secret) = ctx.access()?.webhooks().rotate_secret(id, overlap).await?;
        Ok(Some(WebhookEndpointSecretPayload {
            webhook_endpoint: WebhookEndpoint(view),
            signing_secret: secret,
        }))
    }

    /// Sends one delivery again, now, with the same `webhook-id`.
    async fn resend_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery (`msg_…`).")] id: String,
    ) -> R<Option<WebhookDelivery>> {
        let id = parse_message_id(&id)?;
        let view = ctx.access()?.webhooks().resend(id).await?;
        Ok(Some(WebhookDelivery(view)))
    }

    /// Sends every delivery made for the endpoint since a time again; answers how many.
    async fn replay_webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] endpoint_id: ID,
        #[graphql(desc = "Deliveries made at or after this time.")] since: DateTime<Utc>,
    ) -> R<Option<i64>> {
        let id = parse_id("endpointId", &endpoint_id)?;
        let count = ctx.access()?.webhooks().replay(id, since).await?;
        Ok(Some(i64::try_from(count).unwrap_or(i64::MAX)))
    }

    /// Sends a `webhook.test` ping to the endpoint.
    async fn send_test_webhook_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] endpoint_id: ID,
    ) -> R<Option<WebhookDelivery>> {
        let id = parse_id("endpointId", &endpoint_id)?;
        let view = ctx.access()?.webhooks().send_test(id).await?;
        Ok(Some(WebhookDelivery(view)))
    }
}
