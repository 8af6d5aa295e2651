use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use clap::{Parser, Subcommand};
use switchboard::audit::export;
use switchboard::config::Settings;
use switchboard::domain::role::Role;
use switchboard::startup::Application;
use switchboard::store::audit::{self, AuditFilter};
use switchboard::store::{Store, audit_chain, sealed};
use switchboard::{graphql, seed, telemetry};

/// Switchboard: the integration layer of a clinic or laboratory system.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A TOML configuration file (default: ./switchboard.toml if present).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage portal administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Add a sandbox client with two locations and synthetic patients and tests.
    SeedDemo {
        #[arg(long, default_value_t = 20)]
        patients: usize,
    },
    /// Manage the keys partner apps' access tokens are signed with.
    SigningKey {
        #[command(subcommand)]
        command: SigningKeyCommand,
    },
    /// Manage the master keys that seal secrets kept in the database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Prove the audit trail untampered, or export it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Seed the benchmark data set and write the load generator's fixture (JSON) to stdout.
    SeedBench {
        #[arg(long, default_value_t = 5)]
        clients: usize,
        #[arg(long, default_value_t = 4)]
        locations_per_client: usize,
        #[arg(long, default_value_t = 10_000)]
        patients: usize,
        #[arg(long, default_value_t = 5)]
        tests_per_patient: usize,
    },
}

#[derive(Subcommand)]
enum SigningKeyCommand {
    /// Make a new signing key. Tokens signed with the previous key stay valid (it is still
    /// published) until they expire; every replica signs with the new key within 30 seconds.
    Rotate,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random master key (base64), for secrets.master_key.
    Generate,
    /// Seal every stored secret again under the current master key (secrets.master_key), opening
    /// it with the previous keys (secrets.previous_master_keys). Servers keep running; once it
    /// is done the previous keys can be removed from their configuration.
    Rotate,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the audit trail's hash chain, recomputing every hash. Intact: prints how many
    /// events it holds and the last hash (note it elsewhere). Broken: names the first broken
    /// link and exits with status 1.
    Verify,
    /// Print the audit events of a time range as NDJSON, newest first.
    Export {
        /// Events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Events before this time.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a portal user. Prints a one-time password, or reads one from stdin when piped.
    Create {
        #[arg(long)]
        email: String,
        /// SYSTEM_ADMINISTRATOR, TECHNICAL_LEAD or STAFF.
        #[arg(long)]
        role: String,
    },
}

/// The database, migrated; with the master keys, for commands that touch sealed secrets.
async fn store(settings: &Settings) -> anyhow::Result<Store> {
    let store =
        Store::connect(&settings.database_url()?, settings.database.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// The store, with what servers that ended without storing their read journals left in them
/// (SQLite) taken into the trail first: the trail as a restarted server would have it.
async fn audit_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url()?;
    let store = store(settings).await?;
    if let Some(dir) = switchboard::audit::journal::dir_for(&url) {
        switchboard::audit::take_in_orphans(&store, &dir).await;
    }
    Ok(store)
}

async fn sealing_store(settings: &Settings) -> anyhow::Result<Store> {
    switchboard::startup::open_store(settings, &settings.database_url()?).await
}

fn generated_password() -> String {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Errors are printed with their causes, one per line, and exit with status 1.
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return report(anyhow::Error::new(err).context("starting the runtime")),
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => report(err),
    }
}

fn report(err: anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    std::process::ExitCode::FAILURE
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::ExportSchema) => {
            print!("{}", graphql::sdl());
            return Ok(());
        }
        Some(Command::Keys {
            command: KeysCommand::Generate,
        }) => {
            println!("{}", switchboard::keyring::generate_key());
            return Ok(());
        }
        _ => {}
    }
    telemetry::init();
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            store(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { email, role },
        } => {
            let role = Role::from_cli(&role).map_err(anyhow::Error::msg)?;
            let (password, generated) = if std::io::stdin().is_terminal() {
                (generated_password(), true)
            } else {
                let mut raw = String::new();
                std::io::stdin()
                    .read_to_string(&mut raw)
                    .context("reading the password from stdin")?;
                let line = raw.lines().next().unwrap_or("").to_owned();
                if line.is_empty() {
                    (generated_password(), true)
                } else {
                    (line, false)
                }
            };
            let store = store(&settings).await?;
            seed::create_admin(&store, &email, role, password.clone())
                .await
                .map_err(anyhow::Error::from)
                .context("could not create the admin")?;
            println!("created {} ({})", email, role.as_str());
            if generated {
                println!("one-time password: {password}");
                println!("(shown once; log in to the portal with it)");
            }
            Ok(())
        }
        Command::SeedDemo { patients } => {
            let store = store(&settings).await?;
            let summary = seed::seed_demo(&store, patients).await?;
            println!(
                "demo client {} with locations {:?}: {} patients, {} tests",
                summary.client_id, summary.location_ids, summary.patients, summary.tests
            );
            Ok(())
        }
        Command::SeedBench {
            clients,
            locations_per_client,
            patients,
            tests_per_patient,
        } => {
            let store = store(&settings).await?;
            let shape = switchboard::bench_seed::BenchShape {
                clients,
                locations_per_client,
                patients,
                tests_per_patient,
            };
            let fixture = switchboard::bench_seed::seed_bench(&store, &shape).await?;
            println!("{}", serde_json::to_string(&fixture)?);
            Ok(())
        }
        Command::SigningKey {
            command: SigningKeyCommand::Rotate,
        } => {
            let store = sealing_store(&settings).await?;
            let id = switchboard::oauth::signing::rotate(&store)
                .await
                .map_err(anyhow::Error::from)
                .context("could not rotate the signing key")?;
            println!(
                "new signing key {id}; the previous one stays published until the next rotation"
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let store = sealing_store(&settings).await?;
            let done = sealed::reseal(&store, store.keyring(), sealed::Which::NotUnderCurrent)
                .await
                .map_err(|e| anyhow::anyhow!("sealing secrets again: {}", e.message()))?;
            println!(
                "sealed {} secret(s) again under master key {}",
                done.rekeyed + done.plain,
                store.keyring().current_id().unwrap_or("?")
            );
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => verify_audit(&audit_store(&settings).await?).await,
        Command::Audit {
            command: AuditCommand::Export { from, to },
        } => export_audit(&audit_store(&settings).await?, from, to).await,
        Command::ExportSchema
        | Command::Keys {
            command: KeysCommand::Generate,
        } => unreachable!("handled before configuration is loaded"),
    }
}

async fn verify_audit(store: &Store) -> anyhow::Result<()> {
    let found = audit_chain::verify(store.conn())
        .await
        .context("reading the audit trail")?;
    match found.broken {
        None => {
            println!(
                "audit trail intact: {} events in {} links, head {}",
                found.events,
                found.links,
                found.head.as_deref().unwrap_or("(empty)")
            );
            Ok(())
        }
        Some(broken) => {
            let event = match (broken.event_id, broken.event_ids.as_slice()) {
                (Some(id), _) => format!(" (event {id})"),
                (None, []) => String::new(),
                (None, held) => format!(
                    " (one of its events: {})",
                    held.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            anyhow::bail!(
                "audit trail broken at link {}{event}: {} [{}]; the {} links before it ({} events) \
                 are intact",
                broken.seq,
                broken.problem.describe(),
                broken.problem.code(),
                found.links,
                found.events,
            )
        }
    }
}

async fn export_audit(
    store: &Store,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    use std::io::Write;
    if let (Some(from), Some(to)) = (from, to) {
        anyhow::ensure!(from < to, "--to must be after --from");
    }
    let filter = AuditFilter {
        occurred_from: from,
        occurred_to: to,
        ..Default::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    let mut line = String::new();
    audit::each(store.conn(), &filter, None, |event| {
        line.clear();
        export::line(export::Format::Ndjson, event, &mut line);
        if failed.is_none()
            && let Err(err) = out.write_all(line.as_bytes())
        {
            failed = Some(err);
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("reading the audit trail: {}", e.message()))?;
    if let Some(err) = failed {
        return Err(err).context("writing the export");
    }
    out.flush().context("writing the export")
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let addr = app.addr();
    let has_admin = switchboard::store::admins::any_user(app.store().conn()).await?;
    eprintln!("Switchboard listening on http://{addr}  (GraphQL: POST http://{addr}/graphql)");
    if let Some(mllp) = app.mllp_addr() {
        eprintln!("Lab results intake (MLLP) listening at {mllp}");
    }
    if has_admin {
        eprintln!(
            "Log in with the `login` mutation (or the portal) using an admin's email and password."
        );
    } else {
        eprintln!(
            "No admin exists yet. Create one with:\n  switchboard admin create --email you@example.org --role SYSTEM_ADMINISTRATOR"
        );
    }
    let stop = app.stop_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests and writing pending audit events");
        stop.stop().await;
    });
    app.run_until_stopped().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
