//! Telling the other replicas that something they keep in memory changed, on PostgreSQL:
//! `pg_notify` in the transaction that makes the change (delivered when, and only if, it
//! commits), and one connection per server that listens. SQLite has one server per database,
//! which changes its own memory directly.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::AppResult;

const CHANNEL: &str = "switchboard_changes";

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// An API key: revoked, rotated, renamed, its limits (`access::key_cache`).
    Keys,
    /// The server-wide protection settings (`access::protection`).
    Protection,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Keys => "keys",
            Change::Protection => "protection",
        }
    }

    fn parse(payload: &str) -> Option<Change> {
        match payload {
            "keys" => Some(Change::Keys),
            "protection" => Some(Change::Protection),
            _ => None,
        }
    }
}

/// Announces `change` to every replica when the transaction of `db` commits.
pub async fn announce(db: &impl ConnectionTrait, change: Change) -> AppResult<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), change.as_str().into()],
    ))
    .await?;
    Ok(())
}

/// What a listening server does with what it hears.
pub trait Listener: Send + 'static {
    /// Something changed elsewhere.
    fn changed(&self, change: Change);
    /// Whether announcements reach this server now. While they do not (before the first
    /// subscription, after a lost connection until it is back), it must not trust what it
    /// keeps; on the way back it must drop it, since announcements may have been missed.
    fn hearing(&self, hearing: bool);
}

/// Listens on PostgreSQL at `url` for as long as the server runs, reconnecting (every second)
/// whenever the connection is lost.
pub async fn listen(url: String, listener: impl Listener) {
    let mut warned = false;
    loop {
        let subscribed = async {
            let mut pg = PgListener::connect(&url).await?;
            pg.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(pg)
        }
        .await;
        let mut pg = match subscribed {
            Ok(pg) => pg,
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "cannot listen for changes made by other replicas; API keys are read from the database on every request until it can");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if warned {
            tracing::info!("listening for changes made by other replicas again");
            warned = false;
        }
        listener.hearing(true);
        loop {
            match pg.try_recv().await {
                Ok(Some(notice)) => {
                    if let Some(change) = Change::parse(notice.payload()) {
                        listener.changed(change);
                    }
                }
                // The connection is gone: what was said meanwhile is lost.
                Ok(None) | Err(_) => {
                    listener.hearing(false);
                    break;
                }
            }
        }
    }
}
