//! Fan-out: each event of the outbox becomes one message for every enabled endpoint that
//! wants it, in one transaction with marking the event done, so that an event is fanned out
//! once (on PostgreSQL replicas skip each other's locked events).

use std::collections::{HashMap, HashSet};

use chrono::{SecondsFormat, Utc};
use entity::{partner_app, webhook_endpoint, webhook_event};
use serde_json::json;
use uuid::Uuid;

use crate::domain::partner_app::AppStatus;
use crate::domain::scope::Scope;
use crate::domain::webhook_event::EventType;
use crate::error::AppResult;
use crate::store::webhook_delivery::{self, NewMessage};
use crate::store::{Effects, Store, partner_apps, webhook_endpoints};

/// Events fanned out per transaction.
const BATCH: u64 = 500;

/// What an endpoint owned by a partner app may receive: what that app's grant may see.
struct AppLimits {
    active: bool,
    environment: String,
    clients: Option<Vec<Uuid>>,
    locations: Option<Vec<Uuid>>,
    scopes: HashSet<String>,
}

struct Target {
    endpoint: webhook_endpoint::Model,
    types: Option<HashSet<String>>,
    app: Option<AppLimits>,
}

impl Target {
    fn wants(&self, event: &webhook_event::Model, env: Option<&str>) -> bool {
        if env != Some(self.endpoint.environment.as_str()) {
            return false;
        }
        if event.event_type == EventType::WebhookTest.as_str() {
            return false; // sent to one endpoint, on request
        }
        if self
            .types
            .as_ref()
            .is_some_and(|t| !t.contains(&event.event_type))
        {
            return false;
        }
        let Some(app) = &self.app else {
            return true;
        };
        // An app hears only about records its grant may read, where its limits allow.
        let needs = match event.record_type.as_str() {
            "patient" => Scope::PatientsRead,
            "lab_test" => Scope::TestsRead,
            _ => return false,
        };
        let within = |limit: &Option<Vec<Uuid>>, id: Option<Uuid>| match limit {
            None => true,
            Some(ids) => id.is_some_and(|id| ids.contains(&id)),
        };
        app.active
            && app.environment == self.endpoint.environment
            && app.scopes.contains(needs.as_str())
            && within(&app.clients, event.client_id)
            && within(&app.locations, event.location_id)
    }
}

/// The enabled endpoints, with the limits of the apps that own some of them.
async fn targets(store: &Store) -> AppResult<Vec<Target>> {
    let db = store.conn();
    let endpoints = webhook_endpoints::enabled(db).await?;
    let apps: HashMap<Uuid, partner_app::Model> = if endpoints.iter().any(|e| e.app_id.is_some())
    {
        partner_apps::list(db)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect()
    } else {
        HashMap::new()
    };
    let limits = |a: &partner_app::Model| AppLimits {
        active: a.status == AppStatus::Active.as_str(),
        environment: a.environment.clone(),
        // Unreadable limits limit to nothing.
        clients: serde_json::from_str(&a.client_ids).unwrap_or(Some(vec![])),
        locations: serde_json::from_str(&a.location_ids).unwrap_or(Some(vec![])),
        scopes: serde_json::from_str(&a.scopes).unwrap_or_default(),
    };
    let mut out = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let app = match endpoint.app_id {
            None => None,
            Some(id) => match apps.get(&id) {
                Some(a) => Some(limits(a)),
                None => continue,
            },
        };
        let types = endpoint
            .event_types
            .as_deref()
            .map(|t| serde_json::from_str::<HashSet<String>>(t).unwrap_or_default());
        out.push(Target {
            endpoint,
            types,
            app,
        });
    }
    Ok(out)
}

/// The body receivers get: the Standard Webhooks shape, with thin data (no patient data).
pub fn payload(event: &webhook_event::Model, env: Option<&str>) -> String {
    let fields: Vec<String> = serde_json::from_str(&event.fields).unwrap_or_default();
    json!({
        "type": event.event_type,
        "timestamp": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "eventId": event.id,
            "recordType": event.record_type,
            "recordId": event.record_id,
            "clientId": event.client_id,
            "locationId": event.location_id,
            "environment": env,
            "fields": fields,
        }
    })
    .to_string()
}

/// Fans out every event waiting; returns how many messages were made.
pub async fn run(store: &Store) -> AppResult<usize> {
    let mut made = 0;
    loop {
        if !webhook_delivery::any_undispatched(store.conn()).await? {
            return Ok(made);
        }
        let targets = targets(store).await?;
        let txn = store.begin_write().await?;
        let events = webhook_delivery::undispatched(&txn.txn, BATCH).await?;
        if events.is_empty() {
            return Ok(made);
        }
        let now = Utc::now();
        let mut messages = Vec::new();
        for (event, env) in &events {
            let mut body = None;
            for target in targets.iter().filter(|t| t.wants(event, env.as_deref())) {
                let payload = body
                    .get_or_insert_with(|| payload(event, env.as_deref()))
                    .clone();
                messages.push(NewMessage {
                    endpoint_id: target.endpoint.id,
                    event_id: event.id,
                    event_type: event.event_type.clone(),
                    payload,
                    at: now,
                });
            }
        }
        made += messages.len();
        let ids: Vec<Uuid> = events.iter().map(|(e, _)| e.id).collect();
        webhook_delivery::insert_messages(&txn.txn, messages).await?;
        webhook_delivery::mark_dispatched(&txn.txn, &ids, now).await?;
        txn.commit(Effects::none()).await?;
        if (events.len() as u64) < BATCH {
            return Ok(made);
        }
    }
}
