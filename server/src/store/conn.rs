//! The connection that statements outside a write transaction go through.
//!
//! Why a wrapper: sqlx's pool takes a connection back by a task spawned on the runtime of the
//! request that used it. Requests run on actix's single-threaded workers, where one poll of a
//! GraphQL page takes about a millisecond, so that task (and the request itself, which must
//! take the rows before it lets go) waits behind every other request on the worker: a SQLite
//! connection was held five times longer than its statement ran. Sixteen connections hid the
//! wait, but on SQLite each one is a thread with its own malloc arena and page cache, and
//! together they were most of the server's memory (docs/benchmarks-history.md).
//!
//! On SQLite each statement therefore runs on the runtime `Store::connect` was called on (the
//! server's multi-threaded one, otherwise idle): the connection goes back to the pool as soon
//! as the statement has finished, and four connections keep both cores busy.
//! PostgreSQL's driver does its I/O on the calling task and has no thread per connection, so
//! statements there run in place.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Conn {
    db: DatabaseConnection,
    /// Where SQLite statements run; `None` runs them on the caller's task.
    runtime: Option<Handle>,
}

impl Conn {
    pub(super) fn new(db: DatabaseConnection, runtime: Option<Handle>) -> Conn {
        Conn { db, runtime }
    }

    /// The pool itself, for what must stay on one connection (transactions).
    pub(super) fn pool(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn into_pool(self) -> DatabaseConnection {
        self.db
    }
}

/// Runs `$call` (an expression using `$db`, the pool) in place or on the statement runtime.
/// A macro rather than a function: the call moves the statement, and only the arm taken may
/// move it, which a closure shared by both arms could not do.
macro_rules! on_runtime {
    ($conn:expr, |$db:ident| $call:expr) => {
        match &$conn.runtime {
            None => {
                let $db = &$conn.db;
                $call.await
            }
            Some(runtime) => {
                let $db = $conn.db.clone();
                joined(runtime.spawn(async move { $call.await })).await
            }
        }
    };
}

/// The outcome of a statement run on the statement runtime.
async fn joined<T>(task: JoinHandle<Result<T, DbErr>>) -> Result<T, DbErr> {
    // Only a panic in the driver or a runtime shutting down gets an error here.
    task.await.unwrap_or_else(|err| {
        Err(DbErr::Custom(format!(
            "the statement's task did not finish: {err}"
        )))
    })
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        on_runtime!(self, |db| db.execute_raw(stmt))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = sql.to_owned();
        on_runtime!(self, |db| db.execute_unprepared(&sql))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        on_runtime!(self, |db| db.query_one_raw(stmt))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        on_runtime!(self, |db| db.query_all_raw(stmt))
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}
