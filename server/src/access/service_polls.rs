//! Polling of LAB connections, for settings administrators: setting a connection's schedule
//! and feed path, and "Poll now" (which waits for a poll another replica is running rather
//! than running a second one). Both are audited.

use chrono::Utc;
use entity::{service_connection, service_poll};
use uuid::Uuid;

use super::Access;
use crate::domain::poll::{DEFAULT_PATH, Schedule, check_path};
use crate::error::{AppError, AppResult};
use crate::integrations::polls::{self, Polled};
use crate::store::service_polls::{self as store, Setting};
use crate::store::{Effects, service_connections};

/// A connection's polling as an administrator writes it.
pub struct PollingForm {
    pub every_seconds: Option<i32>,
    pub cron: Option<String>,
    pub path: Option<String>,
    pub enabled: bool,
}

pub struct ServicePolls<'a> {
    access: &'a Access,
}

impl<'a> ServicePolls<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        ServicePolls { access }
    }

    fn allowed(&self) -> AppResult<()> {
        self.access.principal().require_settings_admin()
    }

    /// The LAB connection `id`, if it has a feed to poll (enabled or not).
    async fn connection(&self, id: Uuid) -> AppResult<service_connection::Model> {
        let row = service_connections::find(self.access.store().conn(), id)
            .await?
            .ok_or(AppError::NotFound("service connection"))?;
        polls::has_feed(&row).map_err(AppError::Conflict)?;
        Ok(row)
    }

    pub async fn get(&self, connection_id: Uuid) -> AppResult<Option<service_poll::Model>> {
        self.allowed()?;
        store::find(self.access.store().conn(), connection_id).await
    }

    /// Sets (or changes) a connection's polling; the first scheduled poll is one period away
    /// ("Poll now" does not wait).
    pub async fn set(
        &self,
        connection_id: Uuid,
        form: PollingForm,
    ) -> AppResult<service_poll::Model> {
        self.allowed()?;
        let schedule = Schedule::parse(form.every_seconds, form.cron.as_deref())
            .map_err(|(field, message)| AppError::invalid(format!("input.{field}"), message))?;
        let path = check_path(form.path.as_deref().unwrap_or(DEFAULT_PATH))
            .map_err(|message| AppError::invalid("input.path", message))?;
        self.connection(connection_id).await?;
        let txn = self.access.store().begin_write().await?;
        let row = store::set(
            &txn.txn,
            connection_id,
            Setting {
                every_seconds: form.every_seconds,
                cron: form.cron.map(|c| c.trim().to_owned()),
                path,
                enabled: form.enabled,
            },
            schedule.next_after(Utc::now()),
        )
        .await?;
        let event = self.access.event(
            "UPDATE",
            "setServicePolling",
            "service_connection",
            vec![connection_id],
            vec!["polling".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(row)
    }

    /// Polls the connection now (whatever its schedule, even while scheduled polls are off)
    /// and answers what the poll did.
    pub async fn poll_now(&self, connection_id: Uuid) -> AppResult<Polled> {
        self.allowed()?;
        let row = self.connection(connection_id).await?;
        polls::pollable(&row).map_err(AppError::Conflict)?;
        let store = self.access.store();
        let owner = Uuid::now_v7();
        let now = Utc::now();
        let lease = self.access.poll_lease();
        let Some(poll) = store::claim(store, connection_id, owner, now, now + lease).await? else {
            // Not taken: either there is no polling to take, or another poll holds it.
            let why = match store::find(store.conn(), connection_id).await? {
                None => "the connection has no polling yet: set its schedule and feed path first",
                Some(_) => {
                    "a poll of this connection is running now (on this server or another): its result will be in the log"
                }
            };
            return Err(AppError::Conflict(why.into()));
        };
        let event = self.access.event(
            "POLL",
            "pollServiceNow",
            "service_connection",
            vec![connection_id],
            vec![],
        );
        polls::run_poll(
            store,
            self.access.reach(),
            &row,
            poll,
            owner,
            lease,
            Some(event),
        )
        .await
    }
}
