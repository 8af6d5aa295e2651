//! Webhook endpoints and their delivery logs: settings administrators manage every endpoint;
//! a partner app manages its own, which receive only what the app may see
//! (`webhooks::dispatch`). An endpoint another owner holds answers NOT_FOUND, as one that does
//! not exist does.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{webhook_attempt, webhook_endpoint, webhook_endpoint_secret, webhook_message};
use uuid::Uuid;

use super::Access;
use super::principal::Actor;
use crate::domain::environment::Environment;
use crate::domain::webhook_delivery::DisabledReason;
use crate::domain::webhook_endpoint::{new_signing_secret, parse_url};
use crate::domain::webhook_event::EventType;
use crate::error::{AppError, AppResult};
use crate::outbound::check_destination;
use crate::store::webhook_delivery::{self as delivery, MessageFilter, NewMessage};
use crate::store::webhook_endpoints::{self as endpoints, EndpointFields, NewEndpoint};
use crate::store::{Effects, partner_apps};

const MAX_DESCRIPTION: usize = 500;
/// Delivery log entries per page at most.
pub const MAX_PAGE: u64 = 100;

pub struct Webhooks<'a> {
    access: &'a Access,
}

/// What is registered for an endpoint (shapes already checked by `graphql`).
pub struct EndpointForm {
    pub url: String,
    pub description: String,
    /// `None`: every type.
    pub event_types: Option<Vec<EventType>>,
}

/// An endpoint with its secrets (newest first; prefixes only leave the server).
#[derive(Clone, Debug)]
pub struct EndpointView {
    pub endpoint: webhook_endpoint::Model,
    pub secrets: Vec<webhook_endpoint_secret::Model>,
}

/// A message with its attempts, oldest first.
#[derive(Clone, Debug)]
pub struct DeliveryView {
    pub message: webhook_message::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

/// Who is asking: an administrator (every endpoint) or a partner app (its own).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Admin,
    App(Uuid),
}

/// Events a partner app's endpoint may subscribe to: those about records.
const APP_EVENTS: [EventType; 5] = [
    EventType::PatientCreated,
    EventType::PatientUpdated,
    EventType::TestCreated,
    EventType::TestUpdated,
    EventType::TestResulted,
];

impl<'a> Webhooks<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        Webhooks { access }
    }

    fn owner(&self) -> AppResult<Owner> {
        match &self.access.principal().actor {
            Actor::PartnerApp { app_id, .. } => Ok(Owner::App(*app_id)),
            _ => {
                self.access.principal().require_settings_admin()?;
                Ok(Owner::Admin)
            }
        }
    }

    fn sees(owner: Owner, endpoint: &webhook_endpoint::Model) -> bool {
        match owner {
            Owner::Admin => true,
            Owner::App(app) => endpoint.app_id == Some(app),
        }
    }

    async fn views(&self, list: Vec<webhook_endpoint::Model>) -> AppResult<Vec<EndpointView>> {
        let ids: Vec<Uuid> = list.iter().map(|e| e.id).collect();
        let mut secrets: HashMap<Uuid, Vec<_>> = HashMap::new();
        for s in endpoints::secrets_of(self.access.store().conn(), &ids).await? {
            secrets.entry(s.endpoint_id).or_default().push(s);
        }
        Ok(list
            .into_iter()
            .map(|endpoint| EndpointView {
                secrets: secrets.remove(&endpoint.id).unwrap_or_default(),
                endpoint,
            })
            .collect())
    }

    async fn view(&self, endpoint: webhook_endpoint::Model) -> AppResult<EndpointView> {
        let mut v = self.views(vec![endpoint]).await?;
        v.pop().ok_or(AppError::NotFound("webhook endpoint"))
    }

    /// The endpoint, if the caller may see it.
    async fn find(&self, owner: Owner, id: Uuid) -> AppResult<webhook_endpoint::Model> {
        endpoints::find(self.access.store().conn(), id)
            .await?
            .filter(|e| Self::sees(owner, e) && self.access.sees_environment(&e.environment))
            .ok_or(AppError::NotFound("webhook endpoint"))
    }

    pub async fn list(&self) -> AppResult<Vec<EndpointView>> {
        let owner = self.owner()?;
        let app = match owner {
            Owner::App(id) => Some(id),
            Owner::Admin => None,
        };
        let mut list = endpoints::list(self.access.store().conn(), app).await?;
        list.retain(|e| self.access.sees_environment(&e.environment));
        self.views(list).await
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<EndpointView>> {
        let owner = self.owner()?;
        match self.find(owner, id).await {
            Ok(e) => Ok(Some(self.view(e).await?)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn fields(
        &self,
        owner: Owner,
        form: EndpointForm,
        env: Environment,
    ) -> AppResult<EndpointFields> {
        let url = parse_url(&form.url, env).map_err(|e| AppError::invalid("input.url", e))?;
        check_destination(&self.access.webhook_settings().policy, &url)
            .await
            .map_err(|e| AppError::invalid("input.url", e))?;
        if form.description.chars().count() > MAX_DESCRIPTION {
            return Err(AppError::invalid(
                "input.description",
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        // A partner app's endpoint hears only about records (`webhooks::dispatch`).
        let for_app = matches!(owner, Owner::App(_));
        if let Some(t) = form
            .event_types
            .iter()
            .flatten()
            .find(|t| for_app && !APP_EVENTS.contains(t))
        {
            return Err(AppError::invalid(
                "input.eventTypes",
                format!(
                    "a partner app's endpoint can receive only events about records, not `{}`",
                    t.as_str()
                ),
            ));
        }
        let event_types = form.event_types.map(|mut types| {
            types.sort_by_key(|t| t.as_str());
            types.dedup();
            types.iter().map(|t| t.as_str().to_owned()).collect()
        });
        if event_types.as_ref().is_some_and(Vec::is_empty) {
            return Err(AppError::invalid(
                "input.eventTypes",
                "name at least one event type, or leave it out for all",
            ));
        }
        Ok(EndpointFields {
            url: url.to_string(),
            description: form.description.trim().to_owned(),
            event_types,
        })
    }

    /// Registers an endpoint; its signing secret is in this answer and never again.
    pub async fn create(
        &self,
        form: EndpointForm,
        env: Environment,
    ) -> AppResult<(EndpointView, String)> {
        let owner = self.owner()?;
        if let Owner::App(app) = owner {
            let registered = partner_apps::find(self.access.store().conn(), app)
                .await?
                .ok_or(AppError::NotFound("partner app"))?;
            if registered.environment != env.as_str() {
                return Err(AppError::invalid(
                    "input.environment",
                    format!("the app is registered for {}", registered.environment),
                ));
            }
        }
        self.access.within_environment("input.environment", env)?;
        let fields = self.fields(owner, form, env).await?;
        let txn = self.access.store().begin_write().await?;
        let endpoint = endpoints::insert(
            &txn.txn,
            NewEndpoint {
                fields,
                environment: env.as_str().into(),
                app_id: match owner {
                    Owner::App(id) => Some(id),
                    Owner::Admin => None,
                },
                created_by: self.access.principal().portal_user_id(),
            },
        )
        .await?;
        let (secret, prefix) = new_signing_secret();
        endpoints::insert_secret(
            &txn.txn,
            self.access.store().keyring(),
            endpoint.id,
            &secret,
            prefix,
        )
        .await?;
        let event = self.access.event(
            "CREATE",
            "createWebhookEndpoint",
            "webhook_endpoint",
            vec![endpoint.id],
            vec!["url".into(), "eventTypes".into(), "description".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        Ok((self.view(endpoint).await?, secret))
    }

    pub async fn update(&self, id: Uuid, form: EndpointForm) -> AppResult<EndpointView> {
        let owner = self.owner()?;
        let endpoint = self.find(owner, id).await?;
        let env = Environment::from_stored(&endpoint.environment);
        let fields = self.fields(owner, form, env).await?;
        let txn = self.access.store().begin_write().await?;
        let endpoint = endpoints::update_fields(&txn.txn, endpoint, fields).await?;
        let event = self.access.event(
            "UPDATE",
            "updateWebhookEndpoint",
            "webhook_endpoint",
            vec![endpoint.id],
            vec!["url".into(), "eventTypes".into(), "description".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        self.view(endpoint).await
    }

    /// Enables an endpoint (what was pending is sent again at once) or disables it.
    pub async fn set_enabled(&self, id: Uuid, enabled: bool) -> AppResult<EndpointView> {
        let owner = self.owner()?;
        let endpoint = self.find(owner, id).await?;
        if enabled
            && endpoint.disabled_reason.as_deref() == Some(DisabledReason::AppRevoked.as_str())
        {
            return Err(AppError::Conflict(
                "the partner app that owns this endpoint was revoked".into(),
            ));
        }
        let txn = self.access.store().begin_write().await?;
        let reason = (!enabled).then_some(DisabledReason::Manual.as_str());
        let endpoint = endpoints::set_enabled(&txn.txn, endpoint, reason).await?;
        let (action, operation) = if enabled {
            ("ENABLE", "enableWebhookEndpoint")
        } else {
            ("DISABLE", "disableWebhookEndpoint")
        };
        let event = self.access.event(
            action,
            operation,
            "webhook_endpoint",
            vec![endpoint.id],
            vec!["enabled".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        self.view(endpoint).await
    }

    /// Removes an endpoint with its secrets and delivery log.
    pub async fn delete(&self, id: Uuid) -> AppResult<()> {
        let owner = self.owner()?;
        let endpoint = self.find(owner, id).await?;
        let txn = self.access.store().begin_write().await?;
        endpoints::delete(&txn.txn, endpoint.id).await?;
        let event = self.access.event(
            "DELETE",
            "deleteWebhookEndpoint",
            "webhook_endpoint",
            vec![endpoint.id],
            vec![],
        );
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        Ok(())
    }

    /// A new signing secret; the old ones keep signing (beside it) until `overlap` ends.
    pub async fn rotate_secret(
        &self,
        id: Uuid,
        overlap: Duration,
    ) -> AppResult<(EndpointView, String)> {
        let owner = self.owner()?;
        let max = self.access.webhook_settings().max_overlap;
        if overlap < Duration::zero() || overlap > max {
            return Err(AppError::invalid(
                "overlapSeconds",
                format!("must be between 0 and {}", max.num_seconds()),
            ));
        }
        let endpoint = self.find(owner, id).await?;
        let txn = self.access.store().begin_write().await?;
        endpoints::expire_secrets(&txn.txn, endpoint.id, Utc::now() + overlap).await?;
        let (secret, prefix) = new_signing_secret();
        let stored = endpoints::insert_secret(
            &txn.txn,
            self.access.store().keyring(),
            endpoint.id,
            &secret,
            prefix,
        )
        .await?;
        let event = self.access.event(
            "ROTATE",
            "rotateWebhookSecret",
            "webhook_endpoint",
            vec![endpoint.id, stored.id],
            vec![],
        );
        txn.commit(Effects::audited(event)).await?;
        self.access.store().webhook_endpoints_changed();
        Ok((self.view(endpoint).await?, secret))
    }

    async fn with_attempts(
        &self,
        messages: Vec<webhook_message::Model>,
    ) -> AppResult<Vec<DeliveryView>> {
        let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
        let mut by_message: HashMap<Uuid, Vec<_>> = HashMap::new();
        for a in delivery::attempts_of(self.access.store().conn(), &ids).await? {
            by_message.entry(a.message_id).or_default().push(a);
        }
        Ok(messages
            .into_iter()
            .map(|message| DeliveryView {
                attempts: by_message.remove(&message.id).unwrap_or_default(),
                message,
            })
            .collect())
    }

    /// An endpoint's delivery log, newest first.
    pub async fn deliveries(
        &self,
        endpoint_id: Uuid,
        filter: &MessageFilter,
        first: u64,
    ) -> AppResult<Vec<DeliveryView>> {
        let owner = self.owner()?;
        if first == 0 || first > MAX_PAGE {
            return Err(AppError::invalid(
                "first",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let endpoint = self.find(owner, endpoint_id).await?;
        let messages =
            delivery::messages(self.access.store().conn(), endpoint.id, filter, first).await?;
        self.with_attempts(messages).await
    }

    async fn requeue(
        &self,
        operation: &str,
        endpoint: &webhook_endpoint::Model,
        ids: Option<&[Uuid]>,
        since: Option<DateTime<Utc>>,
    ) -> AppResult<u64> {
        let txn = self.access.store().begin_write().await?;
        let count = delivery::requeue(&txn.txn, endpoint.id, ids, since, Utc::now()).await?;
        let mut record_ids = vec![endpoint.id];
        record_ids.extend(ids.unwrap_or(&[]));
        let event = self
            .access
            .event("RESEND", operation, "webhook_endpoint", record_ids, vec![]);
        txn.commit(Effects::audited(event)).await?;
        self.access.store().events_written().notify_one();
        Ok(count)
    }

    /// Sends one message again (same `webhook-id`), whatever became of it.
    pub async fn resend(&self, message_id: Uuid) -> AppResult<DeliveryView> {
        let owner = self.owner()?;
        let db = self.access.store().conn();
        let message = delivery::find_message(db, message_id)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        let endpoint = self
            .find(owner, message.endpoint_id)
            .await
            .map_err(|_| AppError::NotFound("webhook delivery"))?;
        self.requeue(
            "resendWebhookDelivery",
            &endpoint,
            Some(&[message.id]),
            None,
        )
        .await?;
        let message = delivery::find_message(db, message_id)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        let mut v = self.with_attempts(vec![message]).await?;
        v.pop().ok_or(AppError::NotFound("webhook delivery"))
    }

    /// Sends every message made for the endpoint since `since` again; returns how many.
    pub async fn replay(&self, endpoint_id: Uuid, since: DateTime<Utc>) -> AppResult<u64> {
        let owner = self.owner()?;
        let endpoint = self.find(owner, endpoint_id).await?;
        self.requeue("replayWebhookDeliveries", &endpoint, None, Some(since))
            .await
    }

    /// Queues a `webhook.test` ping for the endpoint (a disabled endpoint gets it once it is
    /// enabled again, like every message).
    pub async fn send_test(&self, endpoint_id: Uuid) -> AppResult<DeliveryView> {
        let owner = self.owner()?;
        let endpoint = self.find(owner, endpoint_id).await?;
        let now = Utc::now();
        let event = entity::webhook_event::Model {
            id: Uuid::now_v7(),
            event_type: EventType::WebhookTest.as_str().into(),
            record_type: "webhook_endpoint".into(),
            record_id: Some(endpoint.id),
            client_id: None,
            location_id: None,
            fields: "[]".into(),
            occurred_at: now,
            environment: Some(endpoint.environment.clone()),
        };
        let payload = crate::webhooks::payload(&event, Some(&endpoint.environment));
        let txn = self.access.store().begin_write().await?;
        let message = delivery::insert_direct(
            &txn.txn,
            event.clone(),
            NewMessage {
                id: Uuid::now_v7(),
                endpoint_id: endpoint.id,
                event_id: event.id,
                event_type: EventType::WebhookTest.as_str().into(),
                payload,
                at: now,
                lease: None,
            },
        )
        .await?;
        let audit = self.access.event(
            "TEST",
            "sendTestWebhookEvent",
            "webhook_endpoint",
            vec![endpoint.id, message.id],
            vec![],
        );
        txn.commit(Effects::audited(audit)).await?;
        self.access.store().events_written().notify_one();
        Ok(DeliveryView {
            message,
            attempts: vec![],
        })
    }
}
