//! The delivery worker: fans out new events, claims due messages endpoint by endpoint within
//! the in-flight bounds, sends them, and records each outcome.
//!
//! One slow or dead endpoint cannot hold up the others: each endpoint has its own bound of
//! attempts in flight, and claims are made per endpoint, so the others' messages are claimed
//! as soon as they are due. Outcomes are written in batches by one task (the attempts of the
//! last write's time together), so the database sees a few transactions per second however
//! many messages go out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{webhook_attempt, webhook_message};
use sea_orm::ConnectionTrait;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::dispatch::{self, Target};
use super::expiring;
use super::pacer::Pacer;
use super::sender::Sender;
use crate::domain::environment::Environment;
use crate::domain::webhook_delivery::{DisabledReason, MessageStatus, RetrySchedule, Verdict};
use crate::domain::webhook_endpoint::signature_header;
use crate::domain::webhook_event::{EventType, NewEvent};
use crate::error::AppResult;
use crate::store::webhook_delivery::{self, Outcome};
use crate::store::{Effect, Effects, Store, webhook_endpoints};

/// How soon to look again when events wait behind a running transaction.
const WAITING: Duration = Duration::from_millis(10);

fn min_of(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The shortest time between two rounds of fan-out and claims; while the pacer holds
/// attempts back, longer (each round's reads and writes are then for a handful of messages).
const PACE: Duration = Duration::from_millis(20);
const PACE_UNDER_LOAD: Duration = Duration::from_millis(100);
/// How long the worker's copy of the endpoints serves (changes in this process renew it at
/// once).
const ENDPOINTS_TTL: Duration = Duration::from_secs(1);
/// Outcomes written per transaction at most.
const OUTCOME_BATCH: usize = 2000;

#[derive(Clone, Debug)]
pub struct Config {
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    pub lease: Duration,
    pub max_in_flight: usize,
    pub per_endpoint: usize,
    pub poll: Duration,
    pub disable_after: chrono::Duration,
    pub key_notice: chrono::Duration,
    /// How often `api_key.expiring` events are looked for (and old deliveries removed).
    pub key_check: Duration,
    /// How long finished deliveries and events are kept.
    pub retention: chrono::Duration,
}

/// Each endpoint's lane: its attempts under way (at most `per_endpoint`), and messages taken
/// for it that wait for one of them to finish (as many again). A finished attempt starts the
/// next waiting message at once, so that an endpoint's throughput does not depend on how often
/// the worker's rounds come; the wait is bounded, so a lease (longer than two timeouts)
/// outlasts it.
#[derive(Default)]
struct Lane {
    running: usize,
    waiting: VecDeque<webhook_message::Model>,
}

#[derive(Default)]
struct Slots {
    lanes: Mutex<HashMap<Uuid, Lane>>,
    /// Set at a graceful stop: nothing waiting is started any more.
    stopping: AtomicBool,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Lane>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many more messages `endpoint` may be given now.
    fn room(&self, endpoint: Uuid, config: &Config) -> usize {
        let lanes = self.lock();
        let total: usize = lanes.values().map(|l| l.running + l.waiting.len()).sum();
        let mine = lanes
            .get(&endpoint)
            .map_or(0, |l| l.running + l.waiting.len());
        (2 * config.per_endpoint)
            .saturating_sub(mine)
            .min((2 * config.max_in_flight).saturating_sub(total))
    }

    /// Gives `message` to its endpoint's lane: back to start it now, or `None` when it waits.
    fn hand(
        &self,
        message: webhook_message::Model,
        config: &Config,
    ) -> Option<webhook_message::Model> {
        let mut lanes = self.lock();
        let running: usize = lanes.values().map(|l| l.running).sum();
        let lane = lanes.entry(message.endpoint_id).or_default();
        if lane.running < config.per_endpoint && running < config.max_in_flight {
            lane.running += 1;
            Some(message)
        } else {
            lane.waiting.push_back(message);
            None
        }
    }

    /// After an attempt: the next waiting message of the endpoint, or its slot is given back.
    fn next(&self, endpoint: Uuid) -> Option<webhook_message::Model> {
        let mut lanes = self.lock();
        let stopping = self.stopping.load(Ordering::Relaxed);
        let lane = lanes.get_mut(&endpoint)?;
        if !stopping && let Some(m) = lane.waiting.pop_front() {
            return Some(m);
        }
        lane.running = lane.running.saturating_sub(1);
        if lane.running == 0 && (stopping || lane.waiting.is_empty()) {
            lanes.remove(&endpoint);
        }
        None
    }
}

/// An outcome with what it says about its endpoint.
struct Report {
    outcome: Outcome,
    verdict: Verdict,
}

pub struct Worker {
    pub store: Store,
    pub owner: Uuid,
    pub config: Config,
    pub sender: Sender,
    /// Slows the starting of attempts while the requests are short of CPU or of the writer.
    pub pacer: Arc<Pacer>,
    pub wake: Arc<Notify>,
    /// Bumped when endpoints change in this process (`Store::webhook_endpoints_changed`).
    pub endpoints_version: Arc<AtomicU64>,
}

/// A random number in 0..1 for retry jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

impl Worker {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Slots::default());
        let (reports, received) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_outcomes(
            self.store.clone(),
            received,
            self.config.disable_after,
            self.wake.clone(),
            self.endpoints_version.clone(),
        ));
        let mut sends = JoinSet::new();
        let mut cache = None;
        let mut last_fan_out = None;
        let mut last_expiry_check: Option<Instant> = None;
        loop {
            // A stop, or the server gone without one (its `Delivery` dropped): the worker has
            // a thread of its own, which would otherwise outlive it.
            if *stop.borrow() || stop.has_changed().is_err() {
                break;
            }
            if last_expiry_check.is_none_or(|t| t.elapsed() >= self.config.key_check) {
                last_expiry_check = Some(Instant::now());
                if let Err(e) = expiring::raise(&self.store, self.config.key_notice).await {
                    tracing::warn!(error = %e.message(), "raising api_key.expiring events failed");
                }
                if let Err(e) = self.purge().await {
                    tracing::warn!(error = %e.message(), "removing old webhook deliveries failed");
                }
            }
            let round = Instant::now();
            let fanned = self
                .fan_out(&mut cache, &mut last_fan_out, &slots, &reports, &mut sends)
                .await;
            let mut next = match fanned {
                Ok(true) => Some(WAITING),
                Ok(false) => None,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "fanning out webhook events failed");
                    None
                }
            };
            match self
                .claim_round(&mut cache, &slots, &reports, &mut sends)
                .await
            {
                Ok(due) => next = min_of(next, due),
                Err(e) => {
                    tracing::warn!(error = %e.message(), "claiming webhook messages failed");
                }
            }
            while sends.try_join_next().is_some() {}
            // Rounds at most every `pace`: under load each then fans out and claims many
            // messages at once (fewer, larger transactions) instead of one per wake.
            let pace = if self.pacer.limited() {
                PACE_UNDER_LOAD
            } else {
                PACE
            };
            if let Some(rest) = pace.checked_sub(round.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            let wait = next.map_or(self.config.poll, |d| d.min(self.config.poll));
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        slots.stopping.store(true, Ordering::Relaxed);
        // A graceful stop: attempts under way may finish (up to the timeout); the rest are
        // abandoned and their leases given back below, so another replica (or this one,
        // restarted) sends them at once rather than after the lease.
        let grace = tokio::time::sleep(self.config.timeout.min(Duration::from_secs(10)));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                done = sends.join_next() => if done.is_none() { break },
                _ = &mut grace => { sends.abort_all(); break }
            }
        }
        while sends.join_next().await.is_some() {}
        drop(reports);
        let _ = writer.await;
        match self.store.release_webhook_leases(self.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "webhook messages given back at shutdown"),
            Err(e) => tracing::warn!(error = %e.message(), "giving back webhook leases failed"),
        }
    }

    /// The enabled endpoints with their signing secrets: read again when endpoints changed
    /// in this process, or a second after the last reading (changes made by another replica).
    async fn endpoints(&self, cache: &mut Option<Endpoints>) -> AppResult<Arc<Vec<Target>>> {
        let version = self.endpoints_version.load(Ordering::Relaxed);
        if let Some(c) = cache
            && c.version == version
            && c.read_at.elapsed() < ENDPOINTS_TTL
        {
            return Ok(c.targets.clone());
        }
        let targets = Arc::new(dispatch::targets(&self.store).await?);
        *cache = Some(Endpoints {
            version,
            read_at: Instant::now(),
            targets: targets.clone(),
        });
        Ok(targets)
    }

    /// Removes finished deliveries and fanned-out events older than the retention.
    async fn purge(&self) -> AppResult<()> {
        let txn = self.store.begin_write().await?;
        let removed = webhook_delivery::purge(&txn.txn, Utc::now() - self.config.retention).await?;
        txn.commit(Effects::none()).await?;
        if removed > 0 {
            tracing::info!(removed, "old webhook deliveries and events removed");
        }
        Ok(())
    }

    fn lease_until(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// Fans out new events and sends at once what endpoints have room for. Returns whether
    /// events wait that could not be fanned out yet.
    async fn fan_out(
        &self,
        cache: &mut Option<Endpoints>,
        last: &mut Option<Instant>,
        slots: &Arc<Slots>,
        reports: &mpsc::UnboundedSender<Report>,
        sends: &mut JoinSet<()>,
    ) -> AppResult<bool> {
        let targets = self.endpoints(cache).await?;
        // With no endpoint to send to, events only need the position moved past them: at the
        // poll's pace, not at every commit's, which took the write lock from the writes
        // themselves.
        if targets.is_empty() && last.is_some_and(|t| t.elapsed() < self.config.poll) {
            return Ok(false);
        }
        // Without endpoints only the position moves, which costs one small write at the
        // poll's pace: it never waits for the pacer (else events from before an endpoint
        // existed would reach it).
        let allowance = if targets.is_empty() {
            None
        } else {
            let since = last.map_or(Duration::from_secs(1), |t| t.elapsed());
            self.pacer.fan_out_allowance(since)
        };
        *last = Some(Instant::now());
        let room: HashMap<Uuid, usize> = targets
            .iter()
            .map(|t| (t.endpoint.id, slots.room(t.endpoint.id, &self.config)))
            .collect();
        let fanned = dispatch::run(
            &self.store,
            &targets,
            &room,
            self.owner,
            self.lease_until(),
            allowance,
        )
        .await?;
        for (i, message) in fanned.taken {
            self.start(&targets[i], message, slots, reports, sends);
        }
        Ok(fanned.waiting)
    }

    /// Starts sending a message this worker has taken.
    fn start(
        &self,
        target: &Target,
        message: webhook_message::Model,
        slots: &Arc<Slots>,
        reports: &mpsc::UnboundedSender<Report>,
        sends: &mut JoinSet<()>,
    ) {
        let Some(message) = slots.hand(message, &self.config) else {
            return; // it waits for one of the endpoint's attempts to finish
        };
        let task = Attempt {
            sender: self.sender.clone(),
            pacer: self.pacer.clone(),
            schedule: self.config.schedule.clone(),
            url: target.url.clone(),
            secrets: target.secrets.clone(),
            slots: slots.clone(),
            reports: reports.clone(),
            wake: self.wake.clone(),
        };
        sends.spawn(task.run(message));
    }

    /// Claims what is due, endpoint by endpoint, and starts sending it. Returns how long until
    /// the next message not yet due is.
    async fn claim_round(
        &self,
        cache: &mut Option<Endpoints>,
        slots: &Arc<Slots>,
        reports: &mpsc::UnboundedSender<Report>,
        sends: &mut JoinSet<()>,
    ) -> AppResult<Option<Duration>> {
        let targets = self.endpoints(cache).await?;
        let db = self.store.conn();
        let now = Utc::now();
        let mut next: Option<Duration> = None;
        for target in targets.iter() {
            let id = target.endpoint.id;
            let free = slots.room(id, &self.config);
            if free == 0 {
                continue; // a finished attempt wakes the loop
            }
            // A read first: the claim is a write, and most rounds find nothing due.
            match webhook_delivery::next_due(db, id, now).await? {
                None => continue,
                Some(at) if at > now => {
                    let until = (at - now).to_std().unwrap_or_default();
                    next = Some(next.map_or(until, |n| n.min(until)));
                    continue;
                }
                Some(_) => {}
            }
            let claimed = self
                .store
                .claim_webhook_messages(id, self.owner, now, self.lease_until(), free as u64)
                .await?;
            if claimed.len() == free {
                next = Some(Duration::ZERO); // more may be due
            }
            for message in claimed {
                self.start(target, message, slots, reports, sends);
            }
        }
        Ok(next)
    }
}

/// The worker's copy of the enabled endpoints.
struct Endpoints {
    version: u64,
    read_at: Instant,
    targets: Arc<Vec<Target>>,
}

/// One message's attempt and its report.
struct Attempt {
    sender: Sender,
    pacer: Arc<Pacer>,
    schedule: RetrySchedule,
    url: Arc<str>,
    secrets: Arc<Vec<String>>,
    slots: Arc<Slots>,
    reports: mpsc::UnboundedSender<Report>,
    wake: Arc<Notify>,
}

impl Attempt {
    /// Sends `message`, then each message waiting in its endpoint's lane, until none waits.
    async fn run(self, mut message: webhook_message::Model) {
        loop {
            let endpoint = message.endpoint_id;
            self.once(message).await;
            match self.slots.next(endpoint) {
                Some(waiting) => message = waiting,
                None => break,
            }
        }
        self.wake.notify_one();
    }

    async fn once(&self, message: webhook_message::Model) {
        self.pacer.acquire().await;
        let msg_id = crate::domain::webhook_delivery::wire_id(message.id);
        let attempted_at = Utc::now();
        let timestamp = attempted_at.timestamp();
        let signature = signature_header(
            self.secrets.iter().map(String::as_str),
            &msg_id,
            timestamp,
            &message.payload,
        );
        let headers = [
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        let answer = self
            .sender
            .send(&self.url, &headers, message.payload.clone())
            .await;
        let verdict = Verdict::of(answer.status, answer.error, answer.retry_after);
        let made = u32::try_from(message.attempts).unwrap_or(0) + 1;
        let now = Utc::now();
        let (status, next_attempt_at) = match verdict {
            Verdict::Delivered => (MessageStatus::Delivered, None),
            Verdict::GiveUp => (MessageStatus::Failed, None),
            // It waits for its endpoint to be enabled again.
            Verdict::EndpointGone => (MessageStatus::Pending, Some(now)),
            Verdict::Retry { retry_after } => {
                match self.schedule.next_delay(made, retry_after, jitter()) {
                    Some(delay) => (
                        MessageStatus::Pending,
                        Some(now + chrono::Duration::from_std(delay).unwrap_or_default()),
                    ),
                    None => (MessageStatus::Failed, None),
                }
            }
        };
        let outcome = Outcome {
            message_id: message.id,
            endpoint_id: message.endpoint_id,
            attempt: webhook_attempt::Model {
                id: Uuid::now_v7(),
                message_id: message.id,
                endpoint_id: message.endpoint_id,
                attempted_at,
                http_status: answer.status.map(i32::from),
                latency_ms: i32::try_from(answer.latency.as_millis()).unwrap_or(i32::MAX),
                error: answer.error.map(|e| e.as_str().to_owned()),
                response_excerpt: answer.excerpt,
            },
            status,
            next_attempt_at,
        };
        let _ = self.reports.send(Report { outcome, verdict });
    }
}

/// Writes outcomes as they come, each batch in one transaction: the attempts, the messages'
/// states, the endpoints' failure streaks, and the disabling of endpoints that answered
/// `410 Gone` or failed for too long (with their `integration.status_changed` events).
async fn write_outcomes(
    store: Store,
    mut received: mpsc::UnboundedReceiver<Report>,
    disable_after: chrono::Duration,
    wake: Arc<Notify>,
    endpoints_version: Arc<AtomicU64>,
) {
    let mut last_write = Instant::now();
    while let Some(first) = received.recv().await {
        // Outcomes gather for at least PACE since the last write: fewer, larger transactions
        // (on SQLite each holds the write lock the requests' writes wait for).
        if let Some(rest) = PACE.checked_sub(last_write.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        last_write = Instant::now();
        let mut batch = vec![first];
        while batch.len() < OUTCOME_BATCH {
            match received.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // A failed write is tried again: until it lands the messages keep their leases, and
        // were it never to land they would be sent again once the leases ran out.
        let mut tries = 0;
        loop {
            match write_batch(&store, &batch, disable_after).await {
                Ok(disabled) => {
                    if disabled {
                        // The worker's copy of the endpoints is out of date, and their status
                        // events are waiting.
                        endpoints_version.fetch_add(1, Ordering::Relaxed);
                        wake.notify_one();
                    }
                    break;
                }
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e.message(), "recording webhook attempts failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e.message(), lost = batch.len(), "recording webhook attempts failed; they will be sent again");
                    break;
                }
            }
        }
    }
}

async fn write_batch(
    store: &Store,
    batch: &[Report],
    disable_after: chrono::Duration,
) -> AppResult<bool> {
    let now = Utc::now();
    let outcomes: Vec<Outcome> = batch.iter().map(|r| r.outcome.clone()).collect();
    let mut succeeded = Vec::new();
    let mut failed = Vec::new();
    let mut gone = Vec::new();
    for r in batch {
        match r.verdict {
            Verdict::Delivered => succeeded.push(r.outcome.endpoint_id),
            Verdict::EndpointGone => gone.push(r.outcome.endpoint_id),
            _ => failed.push(r.outcome.endpoint_id),
        }
    }
    for list in [&mut succeeded, &mut failed, &mut gone] {
        list.sort();
        list.dedup();
    }
    // An endpoint that both failed and succeeded in this batch is not failing.
    failed.retain(|id| !succeeded.contains(id));
    let backend = store.backend();
    let mut statements = webhook_delivery::record(backend, &outcomes);
    statements.extend(webhook_endpoints::mark_succeeding(backend, &succeeded));
    if failed.is_empty() && gone.is_empty() {
        // Every attempt succeeded (the common case): nothing to read back, so the writes go
        // together (`Store::write_together`), on SQLite with the requests' own.
        store.write_together(statements).await?;
        return Ok(false);
    }
    let txn = store.begin_write().await?;
    for statement in statements {
        txn.txn.execute_raw(statement).await?;
    }
    let overdue =
        webhook_endpoints::mark_failing(&txn.txn, &failed, now, now - disable_after).await?;
    let mut to_disable: Vec<(Uuid, DisabledReason)> = overdue
        .iter()
        .map(|e| (e.id, DisabledReason::Failing))
        .collect();
    to_disable.extend(gone.iter().map(|id| (*id, DisabledReason::Gone)));
    let mut effects = Effects::none();
    for (id, reason) in &to_disable {
        let Some(endpoint) = webhook_endpoints::find(&txn.txn, *id).await? else {
            continue;
        };
        if !endpoint.enabled {
            continue;
        }
        let env = Environment::from_stored(&endpoint.environment);
        webhook_endpoints::set_enabled(&txn.txn, endpoint, Some(reason.as_str())).await?;
        tracing::warn!(endpoint = %id, reason = reason.as_str(), "webhook endpoint disabled");
        effects = effects.and(Effect::Webhook(NewEvent::about_setting(
            EventType::IntegrationStatusChanged,
            "webhook_endpoint",
            *id,
            env,
            vec!["enabled".into(), "disabledReason".into()],
        )));
    }
    txn.commit(effects).await?;
    Ok(!to_disable.is_empty())
}
