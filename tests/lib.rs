//! Helpers of the black-box tests: a real server on port 0 over a fresh database (a SQLite
//! file, or a new PostgreSQL database when `SWITCHBOARD_TEST_DB=postgres`), driven over HTTP.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::domain::role::Role;
use switchboard::domain::scope::Scope;
use switchboard::startup::{Application, StopHandle};
use uuid::Uuid;

pub mod mllp;
pub mod oauth;
pub mod receiver;
pub mod redis;
pub mod s3;
pub mod services;
pub mod webhooks;

pub const ADMIN_EMAIL: &str = "root-admin@example.org";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Installs the process's TLS crypto provider. reqwest is built with rustls and no provider
/// of its own (the server installs `ring` at start-up), so every HTTP client the tests build
/// needs it first; call before building one.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn backend() -> Backend {
    match std::env::var("SWITCHBOARD_TEST_DB").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match backend() {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("switchboard-test-{}", Uuid::now_v7()));
                std::fs::create_dir_all(&dir).expect("creating a temporary directory");
                TestDb {
                    url: format!("sqlite://{}/test.db?mode=rwc", dir.display()),
                    pg_name: None,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("sbt_{}", Uuid::now_v7().simple());
                let admin = Database::connect(pg_admin_url())
                    .await
                    .expect("connecting to PostgreSQL (SWITCHBOARD_TEST_PG_URL)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("creating the test database");
                let _ = admin.close().await;
                let base = pg_admin_url();
                let url = match base.rfind('/') {
                    Some(i) => format!("{}/{name}", &base[..i]),
                    None => panic!("SWITCHBOARD_TEST_PG_URL has no database part"),
                };
                TestDb {
                    url,
                    pg_name: Some(name),
                    dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
            // its own runtime can.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(admin) = Database::connect(pg_admin_url()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The server's settings for a test: the defaults (`Settings::defaults`), with what a test
/// needs changed, so that a new setting needs nothing here.
fn test_settings(db_url: &str, portal_dir: PathBuf) -> Settings {
    let mut s = Settings::defaults().expect("the default settings");
    s.server.port = 0;
    s.server.portal_dir = portal_dir;
    // The tests run from tests/; the assets are installed at the workspace root.
    s.server.graphiql_assets_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/graphiql/node_modules");
    s.server.workers = Some(2);
    s.database.url = Some(SecretString::from(db_url.to_owned()));
    // SQLite: the default, so the tests run with the pool users get. PostgreSQL: fewer than
    // its default, as every test's server shares one database server.
    s.database.max_connections = db_url.starts_with("postgres").then_some(8);
    s.auth.session_ttl_minutes = 60;
    // Periodic health checks would add log entries at their own pace; the tests that want
    // them turn them on.
    s.services.health_check_interval_seconds = 0;
    // PostgreSQL needs a configured master key; SQLite makes a key file beside the database.
    if db_url.starts_with("postgres") {
        s.secrets.master_key = Some(SecretString::from(switchboard::keyring::generate_key()));
    }
    s
}

/// `TEST_LOG=1` shows the server's log (`RUST_LOG` sets the level) in a failing test's output.
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Fixture ids: two sandbox clients (A with two locations, B with one) and a production
/// client P.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub client_a: String,
    pub loc_a1: String,
    pub loc_a2: String,
    pub client_b: String,
    pub loc_b1: String,
    pub client_p: String,
    pub loc_p1: String,
}

/// A `switchboard serve` process (`TestApp::spawn_process`), killed when dropped.
pub struct ServerProcess {
    pub base: String,
    child: std::process::Child,
    /// Everything it has written to stderr (its log), line by line.
    output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Its log so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Asks it to stop, as a service manager does (SIGTERM).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Its exit status, once it has exited within `within`.
    pub fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub fx: Fixture,
    /// Where the MLLP listener listens, when `intake.mllp_bind` is set.
    pub mllp: Option<std::net::SocketAddr>,
    stop: StopHandle,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Kept for its `Drop`, which removes the database after the test.
    _db: TestDb,
    settings: Settings,
    store: switchboard::store::Store,
}

async fn start(settings: &Settings) -> (String, StopHandle, Application) {
    let app = Application::build(settings.clone())
        .await
        .expect("building the application");
    let base = format!("http://{}", app.addr());
    let stop = app.stop_handle();
    (base, stop, app)
}

/// A test server with the first admin, logged in, and the fixture's clients and locations.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// A change to the server's settings before it starts.
type Configure = Box<dyn FnOnce(&mut Settings) + Send>;

/// How a test's server differs from the usual one.
pub struct TestAppBuilder {
    portal_dir: PathBuf,
    configure: Option<Configure>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        tls();
        TestAppBuilder {
            portal_dir: PathBuf::from("portal/dist"),
            configure: None,
        }
    }
}

impl TestAppBuilder {
    /// Where the server finds the built portal.
    pub fn portal_dir(mut self, dir: PathBuf) -> Self {
        self.portal_dir = dir;
        self
    }

    /// Changes the server's settings (lifetimes of tokens, say) before it starts.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.configure = Some(Box::new(change));
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_test_log();
        let db = TestDb::new().await;
        let mut settings = test_settings(&db.url, self.portal_dir);
        if let Some(change) = self.configure {
            change(&mut settings);
        }
        let (base, stop, app) = start(&settings).await;
        switchboard::seed::create_admin(
            app.store(),
            ADMIN_EMAIL,
            Role::SystemAdministrator,
            ADMIN_PASSWORD.into(),
        )
        .await
        .map_err(|e| e.message())
        .expect("creating the first admin");
        let store = app.store().clone();
        let mllp = app.mllp_addr();
        let task = tokio::spawn(app.run_until_stopped());
        // Idle connections are dropped before the server's keep-alive (5 s) would close them:
        // reusing one the server is closing at that moment fails the request
        // (`IncompleteMessage`), as a burst after a quiet setup did now and then.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(3))
            .build()
            .expect("http client");
        let mut test_app = TestApp {
            base,
            http,
            admin_token: String::new(),
            fx: Fixture {
                client_a: String::new(),
                loc_a1: String::new(),
                loc_a2: String::new(),
                client_b: String::new(),
                loc_b1: String::new(),
                client_p: String::new(),
                loc_p1: String::new(),
            },
            mllp,
            stop,
            task: Some(task),
            _db: db,
            settings,
            store,
        };
        test_app.admin_token = test_app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let client_a = test_app.create_client("Client A", "SANDBOX").await;
        let client_b = test_app.create_client("Client B", "SANDBOX").await;
        let client_p = test_app.create_client("Client P", "PRODUCTION").await;
        test_app.fx = Fixture {
            loc_a1: test_app.create_location(&client_a, "A1").await,
            loc_a2: test_app.create_location(&client_a, "A2").await,
            loc_b1: test_app.create_location(&client_b, "B1").await,
            loc_p1: test_app.create_location(&client_p, "P1").await,
            client_a,
            client_b,
            client_p,
        };
        test_app
    }
}

/// `data` of a response, panicking with the whole response if it has errors.
pub fn data(resp: &Value) -> &Value {
    assert!(
        resp.get("errors")
            .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
        "unexpected errors: {resp:#}"
    );
    &resp["data"]
}

/// The `extensions.code` of each error.
pub fn codes(resp: &Value) -> Vec<String> {
    resp["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a GraphQL request with an optional bearer token; returns status and body.
    pub async fn post(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post(token, json!({ "query": query, "variables": variables }))
            .await
            .1
    }

    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql(Some(token), query, variables).await
    }

    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(&self.admin_token), query, variables).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let resp = self
            .gql(
                None,
                "mutation($e:String!,$p:String!){ login(email:$e,password:$p){ token } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        data(&resp)["login"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn create_client(&self, name: &str, env: &str) -> String {
        let resp = self
            .admin(
                &format!(
                    "mutation($n:String!){{ createClient(name:$n, environment:{env}){{ id }} }}"
                ),
                json!({ "n": name }),
            )
            .await;
        data(&resp)["createClient"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn create_location(&self, client: &str, name: &str) -> String {
        let resp = self
            .admin(
                "mutation($c:ID!,$n:String!){ createLocation(clientId:$c, name:$n){ id } }",
                json!({ "c": client, "n": name }),
            )
            .await;
        data(&resp)["createLocation"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates an API key; returns (id, secret).
    pub async fn create_key_with(&self, input: Value) -> (String, String) {
        let resp = self
            .admin(
                "mutation($i:CreateApiKeyInput!){ createApiKey(input:$i){ secret apiKey { id } } }",
                json!({ "i": input }),
            )
            .await;
        let d = data(&resp);
        (
            d["createApiKey"]["apiKey"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            d["createApiKey"]["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A sandbox key with these scopes, unrestricted by client or location.
    pub async fn key(&self, scopes: &[&str]) -> String {
        self.create_key_with(
            json!({ "name": "test key", "scopes": scopes, "environment": "SANDBOX" }),
        )
        .await
        .1
    }

    /// A sandbox key with these scopes; returns (id, secret).
    pub async fn key_with_id(&self, scopes: &[&str]) -> (String, String) {
        self.create_key_with(
            json!({ "name": "test key", "scopes": scopes, "environment": "SANDBOX" }),
        )
        .await
    }

    /// Audit events matching `filter` (an `AuditFilterInput`), newest first, as an
    /// administrator reads them (which writes what is pending first).
    pub async fn audit_events(&self, filter: Value) -> Vec<Value> {
        let resp = self
            .admin(
                "query($f:AuditFilterInput){ auditEvents(filter:$f, first: 100){ nodes { actorKind actorId actorLabel onBehalfOf actorRole action operation operationName recordType recordIds fields ip } } }",
                json!({ "f": filter }),
            )
            .await;
        data(&resp)["auditEvents"]["nodes"]
            .as_array()
            .expect("audit events")
            .clone()
    }

    /// A key with every scope.
    pub async fn full_key(&self) -> String {
        self.key(&ALL_SCOPES).await
    }

    /// A key with every scope at the highest rate an administrator may set: for tests that
    /// load the server, not its limits.
    pub async fn bulk_key(&self) -> String {
        self.create_key_with(json!({
            "name": "bulk", "scopes": ALL_SCOPES, "environment": "SANDBOX",
            "rateLimit": { "perMinute": 1_000_000, "burst": 100_000 },
        }))
        .await
        .1
    }

    /// Creates a patient with `fields` merged into the input, as `token`.
    pub async fn create_patient(
        &self,
        token: &str,
        client: &str,
        location: &str,
        fields: Value,
    ) -> Value {
        let mut input = json!({ "clientId": client, "locationId": location });
        if let (Some(obj), Some(extra)) = (input.as_object_mut(), fields.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        self.gql_as(
            token,
            "mutation($i:CreatePatientInput!){ createPatient(input:$i){ patient { id } account { hasAccount status reason } } }",
            json!({ "i": input }),
        )
        .await
    }

    /// Creates a patient and returns its id (panics on errors).
    pub async fn patient_id(
        &self,
        token: &str,
        client: &str,
        location: &str,
        fields: Value,
    ) -> String {
        let resp = self.create_patient(token, client, location, fields).await;
        data(&resp)["createPatient"]["patient"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn create_test(&self, token: &str, patient: &str, accession: &str) -> Value {
        self.gql_as(
            token,
            "mutation($i:CreateTestInput!){ createTest(input:$i){ id status } }",
            json!({ "i": { "patientId": patient, "testCode": "CBC", "testName": "Complete blood count", "accessionNumber": accession } }),
        )
        .await
    }

    /// A restart with settings changed first.
    pub async fn restart_with(&mut self, change: fn(&mut Settings)) {
        change(&mut self.settings);
        self.restart().await;
    }

    /// Stops the server and starts a new one on the same database (a restart).
    pub async fn restart(&mut self) {
        self.stop.stop().await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let (base, stop, app) = start(&self.settings).await;
        self.base = base;
        self.stop = stop;
        self.store = app.store().clone();
        self.mllp = app.mllp_addr();
        self.task = Some(tokio::spawn(app.run_until_stopped()));
    }

    /// `switchboard serve` in a process of its own on this test's database: another replica,
    /// sharing nothing with this one but the database. Stopped when dropped.
    pub fn spawn_process(&self) -> ServerProcess {
        self.spawn_process_with(&[])
    }

    /// The `switchboard` binary on this test's database, with its master key (if configured)
    /// and the rest of `env` (`SWITCHBOARD__SECTION__KEY`). The binary is the one `cargo test
    /// --workspace` builds beside this test (`scripts/test.sh` runs that first).
    pub fn command(&self, env: &[(&str, &str)]) -> std::process::Command {
        let exe = std::env::current_exe().expect("the test's path");
        // target/<profile>/deps/api-… → target/<profile>/switchboard
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the target directory")
            .join("switchboard");
        assert!(
            bin.is_file(),
            "{} is not built: run cargo test --workspace (or cargo build --bin switchboard)",
            bin.display()
        );
        let url = self.settings.database.url.as_ref().expect("a database URL");
        let mut command = std::process::Command::new(bin);
        if let Some(key) = &self.settings.secrets.master_key {
            command.env(
                "SWITCHBOARD__SECRETS__MASTER_KEY",
                secrecy::ExposeSecret::expose_secret(key),
            );
        }
        command
            .env("DATABASE_URL", secrecy::ExposeSecret::expose_secret(url))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        command
    }

    /// `switchboard serve` as `command` makes it, when it is expected not to start: its exit
    /// status and what it wrote (it is killed if it is still running after 30 seconds).
    pub fn serve_refused(&self, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let mut child = self
            .command(env)
            .arg("serve")
            .env("PORT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting switchboard serve");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("waiting").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("its output");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `spawn_process` with settings given as environment variables
    /// (`SWITCHBOARD__SECTION__KEY`).
    pub fn spawn_process_with(&self, env: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = self
            .command(&[("SWITCHBOARD__OAUTH__ISSUER", &self.base)])
            .envs(env.iter().copied())
            .arg("serve")
            .env("PORT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting switchboard serve");
        let stderr = child.stderr.take().expect("its stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = output.clone();
        // Reads the address it listens on, and keeps its output (draining it, so the process
        // never blocks on a full pipe).
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("switchboard serve did not say where it listens");
        ServerProcess {
            base,
            child,
            output,
        }
    }

    /// Raw HTTP access for malformed requests.
    pub async fn post_raw(&self, body: &'static str, content_type: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url("/graphql"))
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {}", self.admin_token))
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Every scope name, from the server's own vocabulary.
pub const ALL_SCOPES: [&str; Scope::ALL.len()] = {
    let mut names = [""; Scope::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Scope::ALL[i].as_str();
        i += 1;
    }
    names
};

impl TestApp {
    /// Audit events about `record_id` in the database, read directly once every read answered
    /// so far is stored (`StopHandle::audit_settled`).
    pub async fn audit_rows_for(&self, record_id: &str) -> usize {
        self.stop.audit_settled().await;
        let filter = switchboard::store::audit::AuditFilter {
            record_ids: Some(vec![record_id.to_owned()]),
            ..Default::default()
        };
        let page = switchboard::store::page::PageRequest {
            first: 100,
            after: None,
        };
        switchboard::store::audit::list(self.store.conn(), &filter, page)
            .await
            .map_err(|e| e.message())
            .expect("listing audit")
            .items
            .len()
    }

    /// The settings the server was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The server's store, for set-up and checks the API does not offer.
    pub fn store(&self) -> &switchboard::store::Store {
        &self.store
    }

    /// A portal user, as `switchboard admin create` makes one.
    pub async fn create_portal_user(&self, email: &str, role: Role, password: &str) {
        switchboard::seed::create_admin(&self.store, email, role, password.into())
            .await
            .map_err(|e| e.message())
            .expect("creating a portal user");
    }

    /// A session token of a new STAFF portal user (`staff@example.org`): a portal user who is
    /// not a settings administrator.
    pub async fn staff_session(&self) -> String {
        const PASSWORD: &str = "a long staff password";
        self.create_portal_user("staff@example.org", Role::Staff, PASSWORD)
            .await;
        self.login("staff@example.org", PASSWORD).await
    }

    /// Orders a test and returns its id (panics on errors).
    pub async fn test_id(&self, token: &str, patient: &str, accession: &str) -> String {
        let resp = self.create_test(token, patient, accession).await;
        data(&resp)["createTest"]["id"].as_str().unwrap().to_owned()
    }

    /// Statements the server has executed so far.
    pub fn statements(&self) -> u64 {
        self.store.statements_executed()
    }
}
