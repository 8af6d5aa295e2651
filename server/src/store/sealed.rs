//! The secrets kept sealed at rest (`keyring`), wherever they are: which master keys they are
//! sealed under, and sealing them again under the current key (`switchboard keys rotate`, and
//! at start-up for values written before secrets were sealed).

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::keyring::{Keyring, Place, Sealed};
use crate::store::{Effects, Store};

/// A column that holds sealed values, with the id of the key that sealed each (`key_id`).
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

impl SealedColumn {
    pub fn place(&self, row: Uuid) -> Place<'static> {
        Place {
            table: self.table,
            column: self.column,
            row,
        }
    }
}

pub const WEBHOOK_SIGNING_SECRET: SealedColumn = SealedColumn {
    table: "webhook_endpoint_secrets",
    column: "secret",
};

pub const TOKEN_SIGNING_KEY: SealedColumn = SealedColumn {
    table: "oauth_signing_keys",
    column: "private_key",
};

pub const SERVICE_CREDENTIALS: SealedColumn = SealedColumn {
    table: "service_connections",
    column: "credentials",
};

pub const SERVICE_INBOUND_SECRET: SealedColumn = SealedColumn {
    table: "service_inbound_secrets",
    column: "secret",
};

/// Lab messages as received: they name patients.
pub const LAB_MESSAGE: SealedColumn = SealedColumn {
    table: "lab_messages",
    column: "raw",
};

/// Import uploads until imported: they name patients.
pub const IMPORT_UPLOAD: SealedColumn = SealedColumn {
    table: "import_chunks",
    column: "data",
};

/// Every sealed column: a new kind of secret at rest is one more entry.
pub const ALL: [SealedColumn; 6] = [
    WEBHOOK_SIGNING_SECRET,
    TOKEN_SIGNING_KEY,
    SERVICE_CREDENTIALS,
    SERVICE_INBOUND_SECRET,
    LAB_MESSAGE,
    IMPORT_UPLOAD,
];

/// Seals `plain` to be kept in `col` of row `row`: the value and its key's id.
pub fn seal(keyring: &Keyring, col: SealedColumn, row: Uuid, plain: &str) -> AppResult<Sealed> {
    keyring
        .seal(plain.as_bytes(), col.place(row))
        .map_err(|e| AppError::Internal(e.into()))
}

/// Opens the value kept in `col` of row `row`, sealed under `key_id` (none: a value from
/// before secrets were sealed, which start-up seals).
pub fn open(
    keyring: &Keyring,
    col: SealedColumn,
    row: Uuid,
    value: &str,
    key_id: Option<&str>,
) -> AppResult<String> {
    let Some(key_id) = key_id else {
        return Ok(value.to_owned());
    };
    let sealed = Sealed {
        key_id: key_id.to_owned(),
        text: value.to_owned(),
    };
    keyring
        .open_text(&sealed, col.place(row))
        .map_err(|e| AppError::Internal(e.into()))
}

/// Rows sealed again per transaction.
const BATCH: u64 = 200;

#[derive(Debug, FromQueryResult)]
struct Row {
    id: Uuid,
    value: String,
    key_id: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct KeyId {
    key_id: String,
}

/// The ids of the master keys the stored secrets are sealed under.
pub async fn key_ids_in_use(db: &impl ConnectionTrait) -> AppResult<Vec<String>> {
    let mut ids = vec![];
    for col in ALL {
        let query = Query::select()
            .distinct()
            .column(Alias::new("key_id"))
            .from(Alias::new(col.table))
            .and_where(Expr::col(Alias::new("key_id")).is_not_null())
            .to_owned();
        for row in KeyId::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?
        {
            if !ids.contains(&row.key_id) {
                ids.push(row.key_id);
            }
        }
    }
    Ok(ids)
}

/// Refuses a keyring that cannot open every stored secret: better not to start than to fail
/// at each delivery or token.
pub async fn check(db: &impl ConnectionTrait, keyring: &Keyring) -> anyhow::Result<()> {
    let missing: Vec<String> = key_ids_in_use(db)
        .await
        .map_err(|e| anyhow::anyhow!("reading sealed secrets: {}", e.message()))?
        .into_iter()
        .filter(|id| !keyring.knows(id))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "secrets in the database are sealed under master key {}, which is not configured \
             (set secrets.master_key, or list the old key in secrets.previous_master_keys)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// What sealing again did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Values that were not sealed yet.
    pub plain: u64,
    /// Values sealed under another key.
    pub rekeyed: u64,
}

/// What to seal again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Values not sealed yet (written before secrets were sealed): what start-up does.
    Plain,
    /// Those, and values sealed under another key than the current one: `keys rotate`.
    NotUnderCurrent,
}

/// Seals under the current key the values `which` names. In batches, each one transaction,
/// so servers keep serving meanwhile; a value is rewritten only if it is still what was read.
pub async fn reseal(store: &Store, keyring: &Keyring, which: Which) -> AppResult<Resealed> {
    let current = keyring
        .current_id()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no master key to seal with")))?
        .to_owned();
    let mut done = Resealed::default();
    for col in ALL {
        let mut after: Option<Uuid> = None;
        loop {
            let backend = store.backend();
            let mut query = Query::select()
                .expr_as(Expr::col(Alias::new("id")), Alias::new("id"))
                .expr_as(Expr::col(Alias::new(col.column)), Alias::new("value"))
                .expr_as(Expr::col(Alias::new("key_id")), Alias::new("key_id"))
                .from(Alias::new(col.table))
                .cond_where(match which {
                    Which::Plain => Expr::col(Alias::new("key_id")).is_null(),
                    Which::NotUnderCurrent => Expr::col(Alias::new("key_id"))
                        .is_null()
                        .or(Expr::col(Alias::new("key_id")).ne(current.as_str())),
                })
                .order_by(Alias::new("id"), sea_orm::Order::Asc)
                .limit(BATCH)
                .to_owned();
            if let Some(after) = after {
                query.and_where(Expr::col(Alias::new("id")).gt(after));
            }
            let txn = store.begin_write().await?;
            let rows = Row::find_by_statement(backend.build(&query))
                .all(&txn.txn)
                .await?;
            let Some(last) = rows.last() else {
                txn.commit(Effects::none()).await?;
                break;
            };
            after = Some(last.id);
            for row in &rows {
                let place = col.place(row.id);
                let plain = match &row.key_id {
                    None => {
                        done.plain += 1;
                        row.value.as_bytes().to_vec()
                    }
                    Some(key_id) => {
                        done.rekeyed += 1;
                        let sealed = Sealed {
                            key_id: key_id.clone(),
                            text: row.value.clone(),
                        };
                        keyring
                            .open(&sealed, place)
                            .map_err(|e| AppError::Internal(e.into()))?
                    }
                };
                let sealed = keyring
                    .seal(&plain, place)
                    .map_err(|e| AppError::Internal(e.into()))?;
                let update = Query::update()
                    .table(Alias::new(col.table))
                    .value(Alias::new(col.column), sealed.text)
                    .value(Alias::new("key_id"), sealed.key_id)
                    .and_where(Expr::col(Alias::new("id")).eq(row.id))
                    .and_where(Expr::col(Alias::new(col.column)).eq(row.value.as_str()))
                    .to_owned();
                txn.txn.execute(&update).await?;
            }
            txn.commit(Effects::none()).await?;
        }
    }
    Ok(done)
}

/// Whether any secret is stored at all (sealed or not).
pub async fn any_stored(db: &impl ConnectionTrait) -> AppResult<bool> {
    for col in ALL {
        let query = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(col.table))
            .limit(1)
            .to_owned();
        if db.query_one(&query).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
