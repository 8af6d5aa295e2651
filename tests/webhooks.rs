//! Webhook endpoints in the tests: settings that let endpoints reach the tests' loopback
//! receivers (and compress the retry schedule), and registering an endpoint.

use serde_json::{Value, json};
use switchboard::config::Settings;

use crate::{TestApp, data};

/// Endpoints may reach loopback receivers; retries come quickly; the worker looks often.
pub fn loopback_receivers(s: &mut Settings) {
    s.webhooks.allowed_hosts = vec!["127.0.0.0/8".into()];
    s.webhooks.retry_schedule_seconds = vec![1, 1, 2];
    s.webhooks.poll_interval_ms = 100;
    s.webhooks.timeout_ms = 2000;
    s.webhooks.lease_seconds = 3;
}

pub const CREATE_ENDPOINT: &str = "mutation($i: WebhookEndpointInput!, $e: Environment!) { createWebhookEndpoint(input: $i, environment: $e) { signingSecret webhookEndpoint { id enabled environment eventTypes } } }";

pub const DELIVERIES: &str = "query($e: ID!, $f: WebhookDeliveryFilter) { webhookDeliveries(endpointId: $e, filter: $f, first: 100) { id eventId eventType status attemptCount payload attempts { httpStatus error latencyMs detail } } }";

impl TestApp {
    /// Registers a sandbox endpoint at `url` as `token` (the administrator when `None`) for
    /// `types` (all when `None`): its id and signing secret.
    pub async fn webhook_endpoint(
        &self,
        token: Option<&str>,
        url: &str,
        types: Option<&[&str]>,
    ) -> (String, String) {
        let resp = self
            .gql(
                Some(token.unwrap_or(&self.admin_token)),
                CREATE_ENDPOINT,
                json!({ "i": { "url": url, "eventTypes": types }, "e": "SANDBOX" }),
            )
            .await;
        let out = &data(&resp)["createWebhookEndpoint"];
        (
            out["webhookEndpoint"]["id"].as_str().unwrap().to_owned(),
            out["signingSecret"].as_str().unwrap().to_owned(),
        )
    }

    /// An endpoint's delivery log, newest first.
    pub async fn deliveries(&self, endpoint: &str) -> Vec<Value> {
        let resp = self.admin(DELIVERIES, json!({ "e": endpoint })).await;
        data(&resp)["webhookDeliveries"].as_array().unwrap().clone()
    }

    /// Waits until the endpoint's log has `n` deliveries in `status` (panics after 20 s).
    pub async fn wait_for_deliveries(&self, endpoint: &str, status: &str, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let all = self.deliveries(endpoint).await;
            if all.iter().filter(|d| d["status"] == status).count() >= n {
                return all;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{n} {status} deliveries expected: {all:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// An endpoint as the administrator reads it.
    pub async fn endpoint_state(&self, endpoint: &str) -> Value {
        let resp = self
            .admin(
                "query($id: ID!) { webhookEndpoint(id: $id) { enabled disabledReason failingSince secrets { prefix expiresAt } } }",
                json!({ "id": endpoint }),
            )
            .await;
        data(&resp)["webhookEndpoint"].clone()
    }
}
