//! Webhook endpoints and their delivery logs.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::access::webhooks::{DeliveryView, EndpointView};
use crate::domain::environment::Environment;
use crate::domain::webhook_delivery::{DeliveryError, DisabledReason, MessageStatus};
use crate::domain::webhook_event::EventType;
use crate::graphql::ids::to_id;

/// An address subscribed to system events.
pub struct WebhookEndpoint(pub EndpointView);

/// An address subscribed to system events.
#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        to_id(self.0.endpoint.id)
    }
    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.0.endpoint.url
    }
    async fn description(&self) -> &str {
        &self.0.endpoint.description
    }
    /// The event types it receives; null: every type.
    async fn event_types(&self) -> Option<Vec<EventType>> {
        self.0.endpoint.event_types.as_deref().map(|raw| {
            serde_json::from_str::<Vec<String>>(raw)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
    }
    /// Only events of this environment are sent.
    async fn environment(&self) -> Environment {
        Environment::from_stored(&self.0.endpoint.environment)
    }
    async fn enabled(&self) -> bool {
        self.0.endpoint.enabled
    }
    /// Why it is disabled; null while enabled.
    async fn disabled_reason(&self) -> Option<DisabledReason> {
        self.0
            .endpoint
            .disabled_reason
            .as_deref()
            .and_then(|r| r.parse().ok())
    }
    /// Since when every attempt has failed; null while it succeeds.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.endpoint.failing_since
    }
    /// The partner app that owns it; null for an administrator's.
    async fn partner_app_id(&self) -> Option<ID> {
        self.0.endpoint.app_id.map(to_id)
    }
    /// Its signing secrets, newest first: prefixes only. Every one not expired signs each
    /// attempt.
    async fn secrets(&self) -> Vec<WebhookSecret> {
        self.0
            .secrets
            .iter()
            .map(|s| WebhookSecret {
                prefix: s.prefix.clone(),
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.endpoint.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.endpoint.updated_at
    }
}

/// A signing secret, by its prefix.
#[derive(SimpleObject)]
pub struct WebhookSecret {
    /// The secret's first characters (`whsec_…`); the whole secret was shown once.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// When it stops signing (the end of a rotation's overlap); null: it does not.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new endpoint or secret, with the signing secret: shown in this answer only.
#[derive(SimpleObject)]
pub struct WebhookEndpointSecretPayload {
    pub webhook_endpoint: WebhookEndpoint,
    /// The signing secret (`whsec_…`). Keep it: it is never shown again.
    pub signing_secret: String,
}

/// One event for one endpoint, with every attempt to send it.
pub struct WebhookDelivery(pub DeliveryView);

/// One event for one endpoint, with every attempt to send it.
#[Object]
impl WebhookDelivery {
    /// The `webhook-id` header of every attempt (`msg_…`): receivers dedupe on it.
    async fn id(&self) -> String {
        crate::domain::webhook_delivery::wire_id(self.0.message.id)
    }
    /// The event's id (`data.eventId` in the body).
    async fn event_id(&self) -> ID {
        to_id(self.0.message.event_id)
    }
    async fn event_type(&self) -> Option<EventType> {
        self.0.message.event_type.parse().ok()
    }
    async fn status(&self) -> Option<MessageStatus> {
        self.0.message.status.parse().ok()
    }
    /// The JSON body sent (the same on every attempt): ids and field names, no patient data.
    async fn payload(&self) -> &str {
        &self.0.message.payload
    }
    async fn attempt_count(&self) -> i32 {
        self.0.message.attempts
    }
    /// When the next attempt is due, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.message.status == MessageStatus::Pending.as_str())
            .then_some(self.0.message.next_attempt_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.message.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.message.delivered_at
    }
    /// Every attempt, oldest first.
    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.0
            .attempts
            .iter()
            .map(|a| WebhookAttempt {
                attempted_at: a.attempted_at,
                http_status: a.http_status,
                latency_ms: a.latency_ms,
                error: a.error.as_deref().and_then(|e| e.parse().ok()),
                detail: a.response_excerpt.clone(),
            })
            .collect()
    }
}

/// One attempt to send a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; null when there was no answer.
    pub http_status: Option<i32>,
    /// From sending the request to the end of the answer's first bytes.
    pub latency_ms: i32,
    /// Why it failed; null on success.
    pub error: Option<DeliveryError>,
    /// The first bytes (up to 512) of the receiver's answer, or why there was none.
    pub detail: String,
}
