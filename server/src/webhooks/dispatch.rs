//! Fan-out: each event of the outbox becomes one message for every enabled endpoint that
//! wants it, in one transaction with moving the outbox position past it, so that an event is
//! fanned out once (on PostgreSQL one replica at a time holds the position). Messages an
//! endpoint has room for are made already taken by this worker and sent at once.

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{partner_app, webhook_endpoint, webhook_event, webhook_message};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::domain::partner_app::{AppStatus, ClientType};
use crate::domain::scope::{Scope, ScopeSet};
use crate::domain::webhook_event::EventType;
use crate::error::AppResult;
use crate::store::webhook_delivery::{self, NewMessage, Position};
use crate::store::{Effects, Store, oauth, partner_apps, webhook_endpoints};

/// Events fanned out per transaction.
const BATCH: u64 = 500;

/// What an endpoint owned by a partner app may receive: what that app may read now.
struct AppLimits {
    active: bool,
    environment: String,
    clients: Option<Vec<Uuid>>,
    locations: Option<Vec<Uuid>>,
    /// The app's ceiling, within what its grants allow (`usable_scopes`).
    scopes: ScopeSet,
}

/// An enabled endpoint: where to send, with what secrets, and what it wants.
pub struct Target {
    pub endpoint: webhook_endpoint::Model,
    pub url: Arc<str>,
    /// Every secret that signs now, newest first.
    pub secrets: Arc<Vec<String>>,
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
        // A backlog waiting in the outbox (the worker was stopped or slowed) may hold events
        // from before the endpoint existed; it hears only what happened since.
        if event.occurred_at < self.endpoint.created_at {
            return false;
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
            "test" => Scope::TestsRead,
            _ => return false,
        };
        let within = |limit: &Option<Vec<Uuid>>, id: Option<Uuid>| match limit {
            None => true,
            Some(ids) => id.is_some_and(|id| ids.contains(&id)),
        };
        app.active
            && app.environment == self.endpoint.environment
            && app.scopes.contains(needs)
            && within(&app.clients, event.client_id)
            && within(&app.locations, event.location_id)
    }
}

/// The scopes each app can read with now, as its tokens would be checked
/// (`access::credentials`): its ceiling, within its grants. A confidential app with a live
/// secret can take any scope of its ceiling by client credentials; otherwise it has what its
/// users consented to, in grants not revoked (a backend grant only while its secret lives).
async fn usable_scopes(
    db: &impl ConnectionTrait,
    apps: &HashMap<Uuid, partner_app::Model>,
    now: DateTime<Utc>,
) -> AppResult<HashMap<Uuid, ScopeSet>> {
    let ids: Vec<Uuid> = apps.keys().copied().collect();
    let live: Vec<_> = partner_apps::secrets_of(db, &ids)
        .await?
        .into_iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .collect();
    let live_secrets: HashSet<Uuid> = live.iter().map(|s| s.id).collect();
    let with_live_secret: HashSet<Uuid> = live.iter().map(|s| s.app_id).collect();
    let mut granted: HashMap<Uuid, Vec<Scope>> = HashMap::new();
    for grant in oauth::grants_of(db, &ids).await? {
        let usable = grant.revoked_at.is_none()
            && grant
                .secret_id
                .is_none_or(|secret| live_secrets.contains(&secret));
        if usable {
            granted
                .entry(grant.app_id)
                .or_default()
                .extend(ScopeSet::from_stored(&grant.scopes).iter());
        }
    }
    Ok(apps
        .values()
        .map(|app| {
            let ceiling = ScopeSet::from_stored(&app.scopes);
            let backend = app.client_type == ClientType::Confidential.as_str()
                && with_live_secret.contains(&app.id);
            let scopes = if backend {
                ceiling
            } else {
                let consented: ScopeSet = granted
                    .remove(&app.id)
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                ceiling.intersection(&consented)
            };
            (app.id, scopes)
        })
        .collect())
}

/// The enabled endpoints, with their secrets and the limits of the apps that own some of them.
pub async fn targets(store: &Store) -> AppResult<Vec<Target>> {
    let db = store.conn();
    let endpoints = webhook_endpoints::enabled(db).await?;
    let ids: Vec<Uuid> = endpoints.iter().map(|e| e.id).collect();
    let mut secrets: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (endpoint, secret) in
        webhook_endpoints::active_secrets(db, store.keyring(), &ids, Utc::now()).await?
    {
        secrets.entry(endpoint).or_default().push(secret);
    }
    let app_ids: Vec<Uuid> = endpoints.iter().filter_map(|e| e.app_id).collect();
    let apps: HashMap<Uuid, partner_app::Model> = if app_ids.is_empty() {
        HashMap::new()
    } else {
        partner_apps::list(db)
            .await?
            .into_iter()
            .filter(|a| app_ids.contains(&a.id))
            .map(|a| (a.id, a))
            .collect()
    };
    let usable = usable_scopes(db, &apps, Utc::now()).await?;
    let limits = |a: &partner_app::Model| AppLimits {
        active: a.status == AppStatus::Active.as_str(),
        environment: a.environment.clone(),
        // Unreadable limits limit to nothing.
        clients: serde_json::from_str(&a.client_ids).unwrap_or(Some(vec![])),
        locations: serde_json::from_str(&a.location_ids).unwrap_or(Some(vec![])),
        scopes: usable.get(&a.id).cloned().unwrap_or_default(),
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
            url: endpoint.url.as_str().into(),
            secrets: Arc::new(secrets.remove(&endpoint.id).unwrap_or_default()),
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

/// What a fan-out did.
#[derive(Default)]
pub struct Fanned {
    /// Messages made and already taken by this worker, to send now (by their target's index).
    pub taken: Vec<(usize, webhook_message::Model)>,
    /// Events may be waiting that could not be fanned out yet (PostgreSQL: an older
    /// transaction still runs; or the allowance ran out); look again soon.
    pub waiting: bool,
}

/// Fans out every event waiting, or at most `allowance` of them. Each endpoint's first
/// `room[endpoint]` messages are made taken by `owner` until `lease_until`.
pub async fn run(
    store: &Store,
    targets: &[Target],
    room: &HashMap<Uuid, usize>,
    owner: Uuid,
    lease_until: DateTime<Utc>,
    allowance: Option<u64>,
) -> AppResult<Fanned> {
    let mut out = Fanned::default();
    let mut room = room.clone();
    let taker = (owner, lease_until);
    let mut left = allowance.unwrap_or(u64::MAX);
    loop {
        if left == 0 {
            out.waiting = true; // there may be more: the next round takes them
            return Ok(out);
        }
        let take = left.min(BATCH);
        if !webhook_delivery::any_after_position(store.conn()).await? {
            return Ok(out);
        }
        let batch = if store.backend() == DbBackend::Postgres {
            // The position stays locked until the messages are stored: one replica at a time
            // fans out.
            let txn = store.begin_write().await?;
            let Some(from) = webhook_delivery::lock_position(&txn.txn).await? else {
                return Ok(out); // another replica is fanning out
            };
            let Some(mut batch) =
                Batch::plan(&txn.txn, &from, take, targets, &mut room, taker).await?
            else {
                out.waiting = true;
                return Ok(out);
            };
            for statement in std::mem::take(&mut batch.statements) {
                txn.txn.execute_raw(statement).await?;
            }
            txn.commit(Effects::none()).await?;
            batch
        } else {
            // SQLite: one process, and in it this worker alone moves the position, so what is
            // read here holds until the write, which is one job of the group commit.
            let db = store.conn();
            let Some(from) = webhook_delivery::lock_position(db).await? else {
                return Ok(out);
            };
            let Some(mut batch) = Batch::plan(db, &from, take, targets, &mut room, taker).await?
            else {
                return Ok(out);
            };
            store
                .write_together(std::mem::take(&mut batch.statements))
                .await?;
            batch
        };
        out.taken.extend(batch.taken);
        left -= batch.events;
        if batch.events < take {
            return Ok(out);
        }
    }
}

/// One batch of events fanned out: the statements that store its messages and move the
/// position past it, and the messages taken at once.
struct Batch {
    statements: Vec<Statement>,
    taken: Vec<(usize, webhook_message::Model)>,
    events: u64,
}

impl Batch {
    /// The next events after `from` (at most `limit`), or `None` when none can be fanned out
    /// yet; messages an endpoint has `room` for are made taken by `taker` (owner, until).
    async fn plan(
        db: &impl ConnectionTrait,
        from: &Position,
        limit: u64,
        targets: &[Target],
        room: &mut HashMap<Uuid, usize>,
        taker: (Uuid, DateTime<Utc>),
    ) -> AppResult<Option<Batch>> {
        let events = webhook_delivery::events_after(db, from, limit).await?;
        let Some((_, _, to)) = events.last() else {
            return Ok(None);
        };
        // The targets may be a second old: only endpoints enabled now get messages.
        let enabled: HashSet<Uuid> = webhook_endpoints::enabled(db)
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        let now = Utc::now();
        let mut messages = Vec::new();
        let mut taken = Vec::new();
        for (event, env, _) in &events {
            let mut body = None;
            for (i, target) in targets.iter().enumerate() {
                if !enabled.contains(&target.endpoint.id) || !target.wants(event, env.as_deref()) {
                    continue;
                }
                let payload = body
                    .get_or_insert_with(|| payload(event, env.as_deref()))
                    .clone();
                let free = room.entry(target.endpoint.id).or_default();
                let lease = (*free > 0).then(|| {
                    *free -= 1;
                    taker
                });
                let message = NewMessage {
                    id: Uuid::now_v7(),
                    endpoint_id: target.endpoint.id,
                    event_id: event.id,
                    event_type: event.event_type.clone(),
                    payload,
                    at: now,
                    lease,
                };
                if lease.is_some() {
                    taken.push((i, message.model()));
                }
                messages.push(message);
            }
        }
        let backend = db.get_database_backend();
        let mut statements = webhook_delivery::insert_messages(backend, messages);
        statements.push(webhook_delivery::set_position(backend, to));
        Ok(Some(Batch {
            statements,
            taken,
            events: events.len() as u64,
        }))
    }
}
