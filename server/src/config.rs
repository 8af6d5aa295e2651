//! Layered configuration: defaults → optional TOML file → `SWITCHBOARD__SECTION__KEY`
//! environment variables (plus the conventional `DATABASE_URL` and `PORT`). Secrets may be
//! given as `*_FILE` paths instead of values.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub oauth: OAuthSettings,
    pub webhooks: WebhookSettings,
    pub secrets: SecretsSettings,
    pub services: ServiceSettings,
    #[serde(default)]
    pub intake: IntakeSettings,
    #[serde(default)]
    pub imports: ImportSettings,
    #[serde(default)]
    pub limits: RequestLimits,
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub redis: RedisSettings,
}

/// Redis, for what replicas share beyond the database: the rate limits.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RedisSettings {
    /// `redis://host:port/db` (a secret when it holds a password); unset: each replica counts
    /// rates alone.
    pub url: Option<SecretString>,
    pub url_file: Option<PathBuf>,
}

/// Who may read `/metrics`: it names the server's routes, queues and integrations' health,
/// which is not for the world.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Addresses or CIDR ranges a scrape may come from (default: this machine only).
    #[serde(deserialize_with = "list")]
    pub allowed_addresses: Vec<String>,
    /// When set, a scrape must also carry `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
}

/// What one GraphQL request may ask for (README, "Request limits"). The document limits are
/// checked before anything runs; the time limit while a query runs.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLimits {
    /// Requests in one batch: a batch saves round trips, it is not a way around the limits.
    pub max_batch: usize,
    /// Nesting of data fields (the schema's own shape needs seven).
    pub max_depth: u32,
    /// Aliased fields in one document: each is another copy of a field's work.
    pub max_aliases: usize,
    /// Fields resolved, counting each list item's fields once per item.
    pub max_complexity: u64,
    /// Largest page a connection (`patients`, `tests`, `auditEvents`) may be asked for.
    pub max_page_size: u32,
    /// How long a query may run before it is abandoned. Mutations are not cut short: their
    /// caller could not tell whether the change was made.
    pub execution_timeout_ms: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_batch: 10,
            max_depth: 10,
            max_aliases: 100,
            max_complexity: 100_000,
            max_page_size: 100,
            execution_timeout_ms: 10_000,
        }
    }
}

/// A page larger than this would let one request read a large part of a clinic's records.
pub const LARGEST_PAGE_SIZE: u32 = 1_000;

impl RequestLimits {
    fn check(&self) -> anyhow::Result<()> {
        let zero = [
            ("limits.max_batch", self.max_batch as u64),
            ("limits.max_depth", u64::from(self.max_depth)),
            ("limits.max_aliases", self.max_aliases as u64),
            ("limits.max_complexity", self.max_complexity),
            ("limits.max_page_size", u64::from(self.max_page_size)),
            ("limits.execution_timeout_ms", self.execution_timeout_ms),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, v)| *v == 0) {
            anyhow::bail!("{name} must be at least 1");
        }
        if self.max_page_size > LARGEST_PAGE_SIZE {
            anyhow::bail!("limits.max_page_size must be at most {LARGEST_PAGE_SIZE}");
        }
        Ok(())
    }
}

/// Batch imports of patients.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImportSettings {
    /// How long a worker holds a job without renewing (default 30): after a crash another
    /// worker (a restarted server, another replica) takes the job up after this long.
    pub lease_seconds: Option<u64>,
    /// The largest upload accepted, in MiB (default 1024).
    pub max_upload_mib: Option<u64>,
    /// Whether this server runs import jobs (default true); false: it only takes uploads and
    /// leaves the jobs to other replicas.
    pub run_jobs: Option<bool>,
}

impl ImportSettings {
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds.unwrap_or(30).max(1))
    }

    pub fn runs_jobs(&self) -> bool {
        self.run_jobs.unwrap_or(true)
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mib.unwrap_or(1024).max(1) * 1024 * 1024
    }
}

/// Lab results intake over MLLP: a TCP listener, off unless `mllp_bind` is set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IntakeSettings {
    /// Address and port to listen on for MLLP (e.g. `0.0.0.0:2575`); none: no listener.
    pub mllp_bind: Option<String>,
    /// With both: MLLP over TLS, with this certificate chain and private key (PEM files).
    pub mllp_tls_cert_file: Option<PathBuf>,
    pub mllp_tls_key_file: Option<PathBuf>,
    /// With TLS: senders must present a certificate issued by one of these authorities
    /// (PEM file): mutual TLS.
    pub mllp_client_ca_file: Option<PathBuf>,
    /// A connection idle this long is closed (default 300).
    pub mllp_idle_seconds: Option<u64>,
}

/// Connections to external services.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceSettings {
    /// Hosts (by name), addresses or CIDR ranges connections may reach although they are
    /// loopback, private or link-local: an on-premises lab system. Empty by default.
    #[serde(deserialize_with = "list")]
    pub allowed_hosts: Vec<String>,
    /// Directories under which `LOCAL_PATH` storage connections may be set up. Empty by
    /// default: none.
    #[serde(deserialize_with = "list")]
    pub storage_roots: Vec<PathBuf>,
    /// How long integration log entries are kept.
    pub log_retention_days: u32,
    /// How often each enabled connection is tested for its health; 0: never.
    pub health_check_interval_seconds: u64,
    /// Whether this process runs scheduled polls of lab feeds (`integrations::polls`); a
    /// replica may leave them to the others. "Poll now" works either way.
    pub run_polls: bool,
    /// How long a poll holds its connection before another replica may take it over (it is
    /// renewed after each page).
    pub poll_lease_seconds: u64,
}

impl ServiceSettings {
    pub fn poll_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.poll_lease_seconds.max(1))
    }
}

/// The master keys that seal secrets kept at rest (`keyring`).
#[derive(Debug, Clone, Deserialize)]
pub struct SecretsSettings {
    /// The key that seals: 32 bytes, base64 (`switchboard keys generate`). Unset with SQLite,
    /// a key file made beside the database; PostgreSQL needs it.
    pub master_key: Option<SecretString>,
    pub master_key_file: Option<PathBuf>,
    /// Keys that sealed before the current one; they open what they sealed until `switchboard
    /// keys rotate` has sealed it again.
    #[serde(deserialize_with = "secret_list")]
    pub previous_master_keys: Vec<SecretString>,
    /// One previous key per line.
    pub previous_master_keys_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Where the built portal lives; served at `/` when it exists.
    pub portal_dir: PathBuf,
    /// GraphiQL's scripts and styles (installed from npm by the set-up script); served
    /// locally because the machines this runs on may have no internet.
    pub graphiql_assets_dir: PathBuf,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    pub workers: Option<usize>,
    /// Addresses or CIDR ranges of the proxies (load balancers) in front of this server. Only
    /// a request whose direct peer is one of them has its client address taken from
    /// `Forwarded` / `X-Forwarded-For`; empty by default: the peer is the client.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: Option<SecretString>,
    pub url_file: Option<PathBuf>,
    /// Directory of the embedded SQLite database used when no URL is configured.
    pub data_dir: PathBuf,
    /// Pool size; unset, each backend's default (`Store::connect`).
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub session_ttl_minutes: i64,
    /// Failed logins an account may have before it is locked for a while.
    pub login_failures_per_account: u32,
    /// Failed logins (for any accounts) one client address may have before it is locked.
    pub login_failures_per_address: u32,
    /// The first lock's length; each further failure doubles it, up to an hour.
    pub login_lockout_seconds: u64,
}

/// The authorization server for partner apps.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthSettings {
    /// The issuer identifier: the public base URL of this server (`https://switchboard.example`).
    /// Unset, `http://` and the address the server listens on, which suits a server reached
    /// directly; behind a proxy or load balancer, set it to the address partners use.
    pub issuer: Option<String>,
    pub access_token_ttl_seconds: i64,
    pub refresh_token_ttl_days: i64,
    pub code_ttl_seconds: i64,
    pub consent_ttl_seconds: i64,
}

/// Webhook delivery (`webhooks`).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Whether this process delivers at all (every replica does by default; they share the
    /// work through the database).
    pub deliver: bool,
    /// How long a receiver has to answer; a slower answer is a `TIMEOUT`.
    pub timeout_ms: u64,
    /// The delays between attempts, in seconds: after the first attempt fails the next is
    /// the first delay later, and so on; when they run out the message has failed.
    #[serde(deserialize_with = "list")]
    pub retry_schedule_seconds: Vec<u64>,
    /// An endpoint whose every attempt has failed for this long is disabled.
    pub disable_after_failing_seconds: u64,
    /// Hosts (by name), addresses or CIDR ranges that endpoints may reach although they are
    /// loopback, private or link-local. Empty by default.
    #[serde(deserialize_with = "list")]
    pub allowed_hosts: Vec<String>,
    /// A PEM file of certificate authorities trusted for receivers besides the system's (a
    /// clinic's private CA). Host names are still verified.
    pub ca_file: Option<PathBuf>,
    /// Attempts in flight at once, in all; and to one endpoint.
    pub max_in_flight: usize,
    pub max_in_flight_per_endpoint: usize,
    /// Attempts a second the worker keeps starting while the requests are short of CPU or of
    /// the SQLite writer (it starts fewer then, down to this; `webhooks::pacer`).
    pub min_rate_under_load: u32,
    /// How often the database is checked for work that another replica committed or that
    /// became due (this process's own commits wake it at once).
    pub poll_interval_ms: u64,
    /// How long an attempt may hold its message before another replica may take it over
    /// (after a crash); longer than the timeout.
    pub lease_seconds: u64,
    /// How long before an API key expires its `api_key.expiring` event is raised, and how
    /// often keys are looked at for it.
    pub key_expiry_notice_hours: u64,
    pub key_expiry_check_seconds: u64,
    /// How long delivered and failed messages (with their attempts) and fanned-out events are
    /// kept; pending messages stay until they are sent.
    pub retention_days: u32,
    /// The longest a secret rotation may keep the old signing secret.
    pub max_rotation_overlap_seconds: u64,
}

/// A list given as a list (a file) or as one comma-separated string (an environment variable).
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Text(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::List(items) => Ok(items),
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect(),
    }
}

/// A list of secrets, as `list` reads one.
fn secret_list<'de, D>(d: D) -> Result<Vec<SecretString>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(list::<D, String>(d)?
        .into_iter()
        .map(SecretString::from)
        .collect())
}

impl Settings {
    /// Every setting at its default, with no file or environment read: what an embedded use
    /// (the tests) starts from and changes what it must, so that a new setting needs no
    /// change there.
    pub fn defaults() -> anyhow::Result<Self> {
        defaults()?
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("a default setting has an invalid value")
    }

    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = defaults()?;
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        } else {
            builder = builder.add_source(config::File::with_name("switchboard").required(false));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("__")
                .separator("__"),
        );
        if let Ok(url) = std::env::var("DATABASE_URL") {
            builder = builder.set_override("database.url", url)?;
        }
        if let Ok(port) = std::env::var("PORT") {
            builder = builder.set_override("server.port", port)?;
        }
        let mut settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("configuration has an invalid value")?;
        settings.limits.check()?;
        if settings.redis.url.is_none()
            && let Some(path) = &settings.redis.url_file
        {
            let url = std::fs::read_to_string(path)
                .with_context(|| format!("reading redis.url_file {}", path.display()))?;
            settings.redis.url = Some(SecretString::from(url.trim().to_owned()));
        }
        if settings.metrics.token.is_none()
            && let Some(path) = &settings.metrics.token_file
        {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("reading metrics.token_file {}", path.display()))?;
            settings.metrics.token = Some(SecretString::from(token.trim().to_owned()));
        }
        if settings.database.url.is_none()
            && let Some(path) = &settings.database.url_file
        {
            let url = std::fs::read_to_string(path)
                .with_context(|| format!("reading database.url_file {}", path.display()))?;
            settings.database.url = Some(SecretString::from(url.trim().to_owned()));
        }
        Ok(settings)
    }

    /// The database to use: the configured URL, or the embedded SQLite file under `data_dir`.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database.url {
            Some(url) => Ok(url.expose_secret().to_owned()),
            None => {
                std::fs::create_dir_all(&self.database.data_dir).with_context(|| {
                    format!(
                        "creating data directory {}",
                        self.database.data_dir.display()
                    )
                })?;
                Ok(format!(
                    "sqlite://{}?mode=rwc",
                    self.database.data_dir.join("switchboard.db").display()
                ))
            }
        }
    }
}

/// The defaults of every setting that has one.
fn defaults() -> anyhow::Result<config::ConfigBuilder<config::builder::DefaultState>> {
    Ok(config::Config::builder()
        .set_default("server.host", "127.0.0.1")?
        .set_default("server.port", 8080)?
        .set_default("server.portal_dir", "portal/dist")?
        .set_default("server.graphiql_assets_dir", "tools/graphiql/node_modules")?
        .set_default("server.max_body_bytes", 1_048_576)?
        .set_default("server.trusted_proxies", Vec::<String>::new())?
        .set_default("metrics.allowed_addresses", vec!["127.0.0.1", "::1"])?
        .set_default("database.data_dir", "data")?
        .set_default("auth.session_ttl_minutes", 480)?
        .set_default("auth.login_failures_per_account", 5)?
        .set_default("auth.login_failures_per_address", 20)?
        .set_default("auth.login_lockout_seconds", 30)?
        .set_default("oauth.access_token_ttl_seconds", 600)?
        .set_default("oauth.refresh_token_ttl_days", 30)?
        .set_default("oauth.code_ttl_seconds", 300)?
        .set_default("oauth.consent_ttl_seconds", 600)?
        .set_default("webhooks.deliver", true)?
        .set_default("webhooks.timeout_ms", 15_000)?
        // 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six times: twelve attempts over about
        // 68 hours, so a receiver down for a long weekend still gets everything.
        .set_default(
            "webhooks.retry_schedule_seconds",
            vec![
                5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 36_000,
            ],
        )?
        .set_default("webhooks.disable_after_failing_seconds", 5 * 86_400)?
        .set_default("webhooks.allowed_hosts", Vec::<String>::new())?
        .set_default("webhooks.max_in_flight", 256)?
        .set_default("webhooks.max_in_flight_per_endpoint", 16)?
        .set_default("webhooks.min_rate_under_load", 100)?
        .set_default("webhooks.poll_interval_ms", 500)?
        .set_default("webhooks.lease_seconds", 60)?
        .set_default("webhooks.key_expiry_notice_hours", 7 * 24)?
        .set_default("webhooks.key_expiry_check_seconds", 60)?
        .set_default("webhooks.retention_days", 30)?
        .set_default("webhooks.max_rotation_overlap_seconds", 7 * 86_400)?
        .set_default("secrets.previous_master_keys", Vec::<String>::new())?
        .set_default("services.allowed_hosts", Vec::<String>::new())?
        .set_default("services.storage_roots", Vec::<String>::new())?
        .set_default("services.log_retention_days", 90)?
        .set_default("services.health_check_interval_seconds", 300)?
        .set_default("services.run_polls", true)?
        .set_default("services.poll_lease_seconds", 120)?)
}
