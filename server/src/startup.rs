//! Building and running the application: used by `main` and by the black-box tests.

use crate::integrations::intake::mllp_listener::MllpListener;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use sea_orm::DbBackend;
use secrecy::ExposeSecret;

use crate::access::Services;
use crate::access::key_cache::KeyCache;
use crate::access::login_throttle::{LoginThrottle, Policy};
use crate::access::protection::Protection;
use crate::audit::AuditSink;
use crate::config::Settings;
use crate::domain::webhook_endpoint::AddressPolicy;
use crate::graphql::Executor;
use crate::http::metrics::Scrapers;
use crate::http::{AppState, server};
use crate::integrations::Reach;
use crate::keyring::{self, Loaded};
use crate::metrics::Metrics;
use crate::oauth::OAuth;
use crate::store::changes::{self, Change};
use crate::store::{Store, sealed};
use crate::webhooks::{Delivery, Webhooks};

pub struct Application {
    addr: SocketAddr,
    server: Server,
    handle: ServerHandle,
    sink: AuditSink,
    store: Store,
    audit_task: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
    limiter_tidy: tokio::task::JoinHandle<()>,
    /// Tries an unreachable Redis again (with `redis.url`).
    redis_watch: Option<tokio::task::JoinHandle<()>>,
    listening: Option<tokio::task::JoinHandle<()>>,
    /// The periodic health checks of connections, if on.
    health_checks: Option<tokio::task::JoinHandle<()>>,
    delivery: Option<Delivery>,
    /// Lab results intake over MLLP, if `intake.mllp_bind` is set.
    mllp: Option<MllpListener>,
    /// The import worker (`imports::run`), unless `imports.run_jobs` is false.
    imports: Option<tokio::task::JoinHandle<()>>,
    /// Scheduled polls of lab feeds (`integrations::polls::run`), unless
    /// `services.run_polls` is false.
    polls: Option<tokio::task::JoinHandle<()>>,
}

/// Stale statistics only cost speed, so a failure is reported and serving goes on.
async fn refresh_statistics(store: &Store) {
    if let Err(e) = store.optimize(false).await {
        tracing::warn!(error = ?e, "refreshing planner statistics failed");
    }
}

/// Keeps the planner's statistics current as data grows, and removes integration log entries
/// older than their retention.
async fn maintain(store: Store, log_retention: chrono::Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    every.tick().await; // the first tick is immediate; start-up already did it
    loop {
        every.tick().await;
        refresh_statistics(&store).await;
        purge_integration_log(&store, log_retention).await;
    }
}

/// What this server keeps in memory of what other replicas change.
struct Remembered {
    keys: KeyCache,
    protection: Arc<Protection>,
}

impl changes::Listener for Remembered {
    fn changed(&self, change: Change) {
        match change {
            Change::Keys => self.keys.clear(),
            Change::Protection => self.protection.forget(),
        }
    }

    fn hearing(&self, hearing: bool) {
        self.keys.set_trusted(hearing);
        self.protection.forget();
    }
}

/// Every 5 s folds the metrics' samples into their histograms; every minute forgets the rates
/// of credentials and addresses that have gone quiet, so that every address ever seen does
/// not stay in memory.
async fn tidy(protection: Arc<Protection>, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    for tick in 0u64.. {
        every.tick().await;
        metrics.upkeep();
        if tick % 12 == 0 {
            protection.tidy();
        }
    }
}

/// A failure only keeps old entries longer, so it is reported and serving goes on.
async fn purge_integration_log(store: &Store, retention: chrono::Duration) {
    let before = chrono::Utc::now() - retention;
    let purged = async {
        let txn = store.begin_write().await?;
        let n = crate::store::service_connections::purge_log(&txn.txn, before).await?;
        txn.commit(crate::store::Effects::none()).await?;
        Ok::<u64, crate::error::AppError>(n)
    }
    .await;
    match purged {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "purged old integration log entries"),
        Err(e) => tracing::warn!(error = %e.message(), "purging the integration log failed"),
    }
}

/// The store the webhook worker works through: on PostgreSQL a small pool of its own, for the
/// reason `Store::connect_for_read_audit` gives (it runs on the main runtime and writes at
/// shutdown), whose
/// sessions plan for queue tables (`Store::connect_for_queues`).
async fn delivery_store(url: &str, store: &Store) -> anyhow::Result<Store> {
    if store.backend() != DbBackend::Postgres {
        return Ok(store.clone());
    }
    Ok(Store::connect_for_queues(url, Some(4))
        .await?
        .with_keyring(store.keyring().clone()))
}

/// The database at `url`, migrated, with the master keys that open its secrets (`keyring`):
/// refused when a stored secret is sealed under a key not configured, rather than failing at
/// each use. Secrets written before they were sealed are sealed now.
pub async fn open_store(settings: &Settings, url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url, settings.database.max_connections).await?;
    store.migrate().await?;
    let keyring = match keyring::load(&settings.secrets, url)? {
        Loaded::Ready(keyring) => *keyring,
        Loaded::MakeFile { path, previous } => {
            let in_use = sealed::key_ids_in_use(store.conn())
                .await
                .map_err(|e| anyhow::anyhow!("reading sealed secrets: {}", e.message()))?;
            if !in_use.is_empty() {
                anyhow::bail!(
                    "secrets in the database are sealed under master key {}, but its key file {} \
                     is missing and no secrets.master_key is configured",
                    in_use.join(", "),
                    path.display()
                );
            }
            let keyring = keyring::make_file(&path, &previous)?;
            tracing::warn!(
                file = %path.display(),
                "made a master key file beside the database to seal secrets with; keep it with \
                 the database's backups but apart from them, or configure secrets.master_key"
            );
            keyring
        }
    };
    sealed::check(store.conn(), &keyring).await?;
    let store = store.with_keyring(Arc::new(keyring));
    let sealed_now = sealed::reseal(&store, store.keyring(), sealed::Which::Plain)
        .await
        .map_err(|e| anyhow::anyhow!("sealing secrets kept in plain text: {}", e.message()))?;
    if sealed_now.plain > 0 {
        tracing::info!(
            count = sealed_now.plain,
            "sealed secrets kept in plain text"
        );
    }
    Ok(store)
}

/// The read-audit writer: on SQLite with a database file, reads are answered once their
/// events are in the read journal beside it (`audit::journal`); otherwise once committed.
async fn read_audit(
    url: &str,
    store: &Store,
) -> anyhow::Result<(AuditSink, tokio::task::JoinHandle<()>)> {
    let writer = Store::connect_for_read_audit(url, store).await?;
    match crate::audit::journal::dir_for(url) {
        Some(dir) => {
            let journal = crate::audit::journal::Journal::open(&dir)
                .with_context(|| format!("opening the read journal {}", dir.display()))?;
            Ok(AuditSink::spawn_journaled(writer, journal))
        }
        None => Ok(AuditSink::spawn(writer)),
    }
}

/// Stops a running application: in-flight requests finish, pending audit is written.
#[derive(Clone)]
pub struct StopHandle {
    handle: ServerHandle,
    sink: AuditSink,
}

impl StopHandle {
    /// Returns once every read answered so far is in the trail's tables (`AuditSink::settled`).
    pub async fn audit_settled(&self) {
        self.sink.settled().await;
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
        self.sink.shutdown().await;
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Outgoing HTTPS (webhooks) uses rustls with `ring`: one provider for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = settings.database_url()?;
        let store = open_store(&settings, &url).await?;
        refresh_statistics(&store).await;
        let log_retention = chrono::Duration::days(i64::from(settings.services.log_retention_days));
        purge_integration_log(&store, log_retention).await;
        let maintenance = tokio::spawn(maintain(store.clone(), log_retention));
        let (sink, audit_task) = read_audit(&url, &store).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
        let addr = listener.local_addr()?;
        let issuer = settings
            .oauth
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let oauth = OAuth::new(&settings.oauth, &issuer, store.clone());
        oauth
            .keys
            .ensure()
            .await
            .map_err(|e| anyhow::anyhow!("loading the token signing keys: {}", e.message()))?;
        let webhooks = Webhooks::new(&settings.webhooks)?;
        let delivery = if settings.webhooks.deliver {
            Some(Delivery::start(
                delivery_store(&url, &store).await?,
                store.events_written(),
                store.webhook_endpoints_version(),
                &webhooks,
                &settings.webhooks,
            )?)
        } else {
            None
        };
        let reach = Reach {
            policy: Arc::new(
                AddressPolicy::new(&settings.services.allowed_hosts)
                    .map_err(|e| anyhow::anyhow!("services.allowed_hosts: {e}"))?
                    .named("connections", "services.allowed_hosts"),
            ),
            storage_roots: settings.services.storage_roots.clone(),
            tokens: Default::default(),
        };
        let health_checks = (settings.services.health_check_interval_seconds > 0).then(|| {
            tokio::spawn(crate::integrations::checks::run(
                store.clone(),
                reach.clone(),
                Duration::from_secs(settings.services.health_check_interval_seconds),
            ))
        });
        let mllp = MllpListener::start(&settings.intake, store.clone()).await?;
        let imports = settings
            .imports
            .runs_jobs()
            .then(|| tokio::spawn(crate::imports::run(store.clone(), settings.imports.lease())));
        let polls = settings.services.run_polls.then(|| {
            tokio::spawn(crate::integrations::polls::run(
                store.clone(),
                reach.clone(),
                settings.services.poll_lease(),
            ))
        });
        let redis_url = settings.redis.url.as_ref().map(|u| u.expose_secret());
        let protection = Arc::new(Protection::new(
            &settings.server.trusted_proxies,
            redis_url,
        )?);
        let redis_watch = protection
            .shared()
            .cloned()
            .map(|shared| tokio::spawn(async move { shared.watch().await }));
        let metrics = Arc::new(Metrics::default());
        let scrapers = Scrapers::new(&settings.metrics)?;
        let limiter_tidy = tokio::spawn(tidy(protection.clone(), metrics.clone()));
        // On PostgreSQL other replicas change keys and settings too: this server's copies are
        // not used until it hears their announcements.
        let postgres = store.backend() == DbBackend::Postgres;
        let keys = KeyCache::new(!postgres);
        let listening = postgres.then(|| {
            tokio::spawn(changes::listen(
                url.clone(),
                Remembered {
                    keys: keys.clone(),
                    protection: protection.clone(),
                },
            ))
        });
        let services = Services {
            store: store.clone(),
            sink: sink.clone(),
            keys,
            session_ttl: chrono::Duration::minutes(settings.auth.session_ttl_minutes),
            security: Default::default(),
            logins: Arc::new(LoginThrottle::new(Policy {
                per_account: settings.auth.login_failures_per_account,
                per_address: settings.auth.login_failures_per_address,
                first_lock: Duration::from_secs(settings.auth.login_lockout_seconds),
            })),
            oauth: Arc::new(oauth),
            webhooks,
            reach: Arc::new(reach),
            poll_lease: settings.services.poll_lease(),
            protection: protection.clone(),
        };
        let state = AppState {
            graphql: Executor::new(settings.limits),
            services,
            settings: Arc::new(settings),
            metrics,
            scrapers,
        };
        let server = server(listener, state)?;
        let handle = server.handle();
        Ok(Application {
            addr,
            server,
            handle,
            sink,
            store,
            audit_task,
            maintenance,
            limiter_tidy,
            redis_watch,
            listening,
            health_checks,
            delivery,
            mllp,
            imports,
            polls,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the MLLP listener listens, if it is on.
    pub fn mllp_addr(&self) -> Option<SocketAddr> {
        self.mllp.as_ref().map(|l| l.addr)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            handle: self.handle.clone(),
            sink: self.sink.clone(),
        }
    }

    /// Serves until stopped (by a `StopHandle` or, in `main`, a signal), then writes pending
    /// audit events and closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("running the HTTP server")?;
        if let Some(mllp) = &self.mllp {
            mllp.stop();
        }
        self.maintenance.abort();
        self.limiter_tidy.abort();
        if let Some(watch) = self.redis_watch {
            watch.abort();
        }
        if let Some(listening) = self.listening {
            listening.abort();
        }
        // A poll cut short leaves its cursor at the last page kept, and its lease lapses.
        if let Some(polls) = self.polls {
            polls.abort();
        }
        // A batch cut short rolls back whole; the job resumes there at the next start.
        if let Some(imports) = self.imports {
            imports.abort();
        }
        if let Some(checks) = self.health_checks {
            checks.abort();
        }
        if let Some(delivery) = self.delivery {
            delivery.stop().await;
        }
        self.sink.shutdown().await;
        let _ = self.audit_task.await;
        self.store.close().await;
        Ok(())
    }
}
