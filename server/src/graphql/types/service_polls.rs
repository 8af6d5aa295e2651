//! A LAB connection's polling, and what a "Poll now" did.

use async_graphql::{Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::service_poll;

use super::external_service::IntegrationLogEntry;
use crate::domain::integration::Outcome;
use crate::integrations::polls::Polled;

/// How and when a LAB connection is polled for results, and where its feed stands.
pub struct ServicePolling(pub service_poll::Model);

/// How and when a LAB connection is polled for results, and where its feed stands.
#[Object]
impl ServicePolling {
    /// Poll every so many seconds (null with a cron schedule).
    async fn every_seconds(&self) -> Option<i32> {
        self.0.every_seconds
    }
    /// A cron expression in UTC (null with an interval).
    async fn cron(&self) -> Option<&str> {
        self.0.cron.as_deref()
    }
    /// The feed's path under the connection's address.
    async fn path(&self) -> &str {
        &self.0.path
    }
    /// Whether scheduled polls run ("Poll now" works either way).
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The feed's cursor after the last page kept (null before the first): the next poll
    /// asks for what came after it.
    async fn cursor(&self) -> Option<&str> {
        self.0.cursor.as_deref()
    }
    /// When the next scheduled poll is due (later than the schedule after failures).
    async fn next_poll_at(&self) -> DateTime<Utc> {
        self.0.next_at
    }
    /// Failed polls in a row.
    async fn consecutive_failures(&self) -> i32 {
        self.0.failures
    }
    async fn last_polled_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_polled_at
    }
    /// How the last poll ended: OK or FAILED.
    async fn last_outcome(&self) -> Option<&str> {
        self.0.last_outcome.as_deref()
    }
    /// What the last poll did (its counts) or why it failed.
    async fn last_message(&self) -> Option<&str> {
        self.0.last_message.as_deref()
    }
    /// Whether a poll is running now (on this server or another).
    async fn polling_now(&self) -> bool {
        self.0.lease_until.is_some_and(|until| until > Utc::now())
    }
}

/// What one poll did.
#[derive(SimpleObject)]
pub struct PollResult {
    /// Whether the poll went through without a failure.
    pub ok: bool,
    /// Pages of the feed read.
    pub pages: i32,
    /// Messages fetched.
    pub fetched: i32,
    /// Messages taken (their results stored).
    pub accepted: i32,
    /// Messages kept in the dead-letter queue.
    pub dead_lettered: i32,
    /// The feed had more than one poll takes; the next poll is due at once.
    pub more: bool,
    /// The integration log entry this poll wrote.
    pub log_entry: IntegrationLogEntry,
    /// The connection's polling after the poll.
    pub polling: ServicePolling,
}

impl From<Polled> for PollResult {
    fn from(p: Polled) -> Self {
        let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        PollResult {
            ok: p.entry.outcome == Outcome::Ok.as_str(),
            pages: n(p.counts.pages),
            fetched: n(p.counts.fetched),
            accepted: n(p.counts.accepted),
            dead_lettered: n(p.counts.dead),
            more: p.more,
            log_entry: IntegrationLogEntry(p.entry.into()),
            polling: ServicePolling(p.poll),
        }
    }
}
