//! Webhook delivery at run time: the settings requests need (which addresses endpoints may
//! reach) and the worker that sends messages, started with the server and stopped with it.
//!
//! The rows are the store's (`store::webhook_delivery`, `store::webhook_endpoints`); the
//! rules (signatures, retries, address ranges) are the domain's.

mod dispatch;
mod expiring;
mod pacer;
pub mod sender;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, oneshot, watch};
use uuid::Uuid;

use crate::config::WebhookSettings;
use crate::domain::webhook_delivery::RetrySchedule;
use crate::domain::webhook_endpoint::AddressPolicy;
use crate::store::Store;

pub use dispatch::payload;

/// What requests about webhooks need.
#[derive(Clone)]
pub struct Webhooks {
    pub policy: Arc<AddressPolicy>,
    /// The longest a rotation may keep an old signing secret.
    pub max_overlap: chrono::Duration,
}

impl Webhooks {
    pub fn new(settings: &WebhookSettings) -> anyhow::Result<Self> {
        let policy = AddressPolicy::new(&settings.allowed_hosts)
            .map_err(|e| anyhow::anyhow!("webhooks.allowed_hosts: {e}"))?
            .named("webhooks", "webhooks.allowed_hosts");
        Ok(Webhooks {
            policy: Arc::new(policy),
            max_overlap: chrono::Duration::seconds(
                i64::try_from(settings.max_rotation_overlap_seconds).unwrap_or(i64::MAX / 1000),
            ),
        })
    }
}

/// The running worker, on a thread of its own.
pub struct Delivery {
    stop: watch::Sender<bool>,
    finished: oneshot::Receiver<()>,
}

impl Delivery {
    /// Starts delivering through `store`; `wake` is signalled by every commit that wrote
    /// events and by requests that queue messages, `endpoints_version` bumped by changes to
    /// endpoints (both the request-serving store's).
    pub fn start(
        store: Store,
        wake: Arc<Notify>,
        endpoints_version: Arc<std::sync::atomic::AtomicU64>,
        webhooks: &Webhooks,
        settings: &WebhookSettings,
    ) -> anyhow::Result<Delivery> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let config = worker::Config {
            timeout,
            schedule: RetrySchedule {
                delays: settings
                    .retry_schedule_seconds
                    .iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect(),
            },
            lease: Duration::from_secs(settings.lease_seconds)
                .max(timeout + Duration::from_secs(1)),
            max_in_flight: settings.max_in_flight.max(1),
            per_endpoint: settings.max_in_flight_per_endpoint.max(1),
            poll: Duration::from_millis(settings.poll_interval_ms.max(10)),
            disable_after: chrono::Duration::seconds(
                i64::try_from(settings.disable_after_failing_seconds).unwrap_or(i64::MAX / 1000),
            ),
            key_notice: chrono::Duration::hours(
                i64::try_from(settings.key_expiry_notice_hours).unwrap_or(24 * 365),
            ),
            key_check: Duration::from_secs(settings.key_expiry_check_seconds.max(1)),
            retention: chrono::Duration::days(i64::from(settings.retention_days)),
        };
        let extra_roots = match &settings.ca_file {
            Some(path) => trusted_roots(path)?,
            None => vec![],
        };
        let sender = sender::Sender::new(webhooks.policy.clone(), timeout, extra_roots)
            .context("building the webhook HTTP client")?;
        let (stop, stopped) = watch::channel(false);
        let worker = worker::Worker {
            pacer: Arc::new(pacer::Pacer::new(
                store.clone(),
                settings.min_rate_under_load,
            )),
            store,
            owner: Uuid::now_v7(),
            config,
            sender,
            wake,
            endpoints_version,
        };
        // Its own thread and runtime: the server's runtime runs the SQLite statements
        // (`store::Conn`), and with the worker's sends queued there too, each hand-over
        // inside the serialised write waited behind them (docs/benchmarks-history.md,
        // "Webhooks (issue 18)"). One thread also bounds what delivery can take from the
        // requests to one core. It runs at normal priority: below it, it starved on a
        // saturated machine.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the webhook delivery runtime")?;
        let (done, finished) = oneshot::channel();
        std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || {
                runtime.block_on(worker.run(stopped));
                let _ = done.send(());
            })
            .context("starting the webhook delivery thread")?;
        Ok(Delivery { stop, finished })
    }

    /// Stops claiming, lets attempts under way finish (briefly), writes their outcomes and
    /// gives back what is left.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.finished.await;
    }
}

/// The certificate authorities in the PEM file `path` (`webhooks.ca_file`): at least one, or
/// the server does not start, rather than deliver without the trust it was configured with.
fn trusted_roots(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("reading webhooks.ca_file {}", path.display()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("webhooks.ca_file {} is not PEM", path.display()))?;
    anyhow::ensure!(
        !roots.is_empty(),
        "webhooks.ca_file {} holds no certificate",
        path.display()
    );
    Ok(roots)
}
