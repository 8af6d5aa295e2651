//! Polling LAB connections whose systems cannot push results: their feed (`domain::poll`) is
//! asked for what came after the stored cursor, each message fetched is taken as if pushed
//! (`intake`: matching, the dead-letter queue, idempotency on its control id), and the cursor
//! moves past a page only once all its messages are kept. A poll stopped anywhere (`kill -9`
//! included) is taken up again from the last cursor stored: a page fetched twice changes
//! nothing twice, and nothing is skipped.
//!
//! One replica polls a connection at a time: a poll holds the connection's lease
//! (`store::service_polls`), renewed after each page. Each poll writes one integration log
//! entry with its counts (the messages it fetched write none of their own), and failures push
//! the next scheduled poll back (`domain::poll::backoff`).

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{integration_log, service_connection, service_poll};
use hyper::body::Bytes;
use serde_json::Value;
use uuid::Uuid;

use super::http::{self, Answer, Call};
use super::intake::{self, Arrival};
use super::{Failure, Reach, exchanges};
use crate::domain::hl7::AckCode;
use crate::domain::integration::{IntegrationErrorCode as Code, Operation};
use crate::domain::lab_intake::Transport;
use crate::domain::poll::{FeedPage, MAX_PAGE_BYTES, MAX_PAGES, PAGE_SIZE, Schedule, next_poll};
use crate::domain::service_connection::{Endpoint, Protocol, ServiceType};
use crate::error::{AppError, AppResult};
use crate::store::audit::NewAuditEvent;
use crate::store::service_polls::{self, Finish};
use crate::store::{Effects, Store, service_connections};

/// What one poll fetched.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub pages: u32,
    pub fetched: u32,
    /// Taken (acknowledged AA, or checked for a test message).
    pub accepted: u32,
    /// Kept in the dead-letter queue (AE or AR).
    pub dead: u32,
}

impl Counts {
    fn summary(&self) -> String {
        format!(
            "fetched {} message(s) in {} page(s): {} accepted, {} to the dead-letter queue",
            self.fetched, self.pages, self.accepted, self.dead
        )
    }
}

/// A poll's end: its log entry, its counts, and the polling as it now stands.
pub struct Polled {
    pub entry: integration_log::Model,
    pub counts: Counts,
    /// The feed had more than this poll took; the next poll is due at once.
    pub more: bool,
    pub poll: service_poll::Model,
}

/// Whether `row` can be polled now: an enabled connection with a feed (`has_feed`).
pub fn pollable(row: &service_connection::Model) -> Result<(), String> {
    has_feed(row)?;
    if !row.enabled {
        return Err("the connection is disabled: enable it to poll".into());
    }
    Ok(())
}

/// Whether `row` is a connection with a feed to poll: a LAB connection over HTTP.
pub fn has_feed(row: &service_connection::Model) -> Result<(), String> {
    if row.service_type != ServiceType::Lab.as_str() {
        return Err("only LAB connections are polled for results".into());
    }
    if row.protocol != Protocol::HttpsJson.as_str() && row.protocol != Protocol::Hl7v2Http.as_str()
    {
        return Err(format!(
            "a {} connection is not polled: its lab sends over MLLP; polling reads an HTTPS_JSON or HL7V2_HTTP feed",
            row.protocol
        ));
    }
    Ok(())
}

/// The schedule a stored polling row was set with.
pub fn schedule_of(poll: &service_poll::Model) -> AppResult<Schedule> {
    Schedule::parse(poll.every_seconds, poll.cron.as_deref()).map_err(|(field, message)| {
        AppError::Internal(anyhow::anyhow!(
            "stored polling of {} no longer parses: {field}: {message}",
            poll.connection_id
        ))
    })
}

/// Runs the scheduled polls until the task is dropped, as `owner` (this process).
pub async fn run(store: Store, reach: Reach, lease: Duration) {
    let owner = Uuid::now_v7();
    loop {
        match next(&store, &reach, owner, lease).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e.message(), "a scheduled poll did not finish"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Polls one connection that is due, if there is one.
async fn next(store: &Store, reach: &Reach, owner: Uuid, lease: Duration) -> AppResult<bool> {
    let now = Utc::now();
    let Some(poll) = service_polls::claim_due(store, owner, now, now + lease).await? else {
        return Ok(false);
    };
    let row = service_connections::find(store.conn(), poll.connection_id).await?;
    match row.filter(|r| pollable(r).is_ok()) {
        Some(row) => {
            run_poll(store, reach, &row, poll, owner, lease, None).await?;
        }
        None => {
            // Off for now (disabled, or its protocol changed): due again on schedule.
            let next_at = schedule_of(&poll)?.next_after(now);
            let txn = store.begin_write().await?;
            service_polls::skip(&txn.txn, poll.connection_id, owner, next_at).await?;
            txn.commit(Effects::none()).await?;
        }
    }
    Ok(true)
}

/// Polls `row` now, holding its lease as `owner` (claimed by the caller), and records the
/// poll (with `audit`, when a person asked for it).
pub async fn run_poll(
    store: &Store,
    reach: &Reach,
    row: &service_connection::Model,
    poll: service_poll::Model,
    owner: Uuid,
    lease: Duration,
    audit: Option<NewAuditEvent>,
) -> AppResult<Polled> {
    let started = Instant::now();
    let (settings, credentials) = exchanges::opened(store, row)?;
    let c = exchanges::connector(row, &settings, &credentials, reach);
    let mut report = c.new_report();
    let mut feed = Feed {
        store,
        row,
        owner,
        lease,
        counts: Counts::default(),
        more: false,
    };
    let fetched = match &settings.endpoint {
        Endpoint::Url(base) => feed.fetch(&c, base, &poll, &mut report).await?,
        _ => Err(Failure::new(
            Code::ProtocolError,
            "the connection has no HTTP address to poll",
            "Edit the connection.",
        )),
    };
    report.failure = fetched.err();
    report.latency = started.elapsed();
    let Feed { counts, more, .. } = feed;

    let now = Utc::now();
    let failures = if report.ok() { 0 } else { poll.failures + 1 };
    let next_at = if report.ok() && more {
        now
    } else {
        next_poll(
            &schedule_of(&poll)?,
            now,
            u32::try_from(failures).unwrap_or(0),
        )
    };
    let mut entry = exchanges::entry(row, Operation::PollResults, &report, &counts.summary());
    if !report.ok() && counts.fetched > 0 {
        entry.message = format!("{}; before that, {}", entry.message, counts.summary());
    }
    let status = exchanges::health_after(store, row, &entry).await?;
    let txn = store.begin_write().await?;
    let effects = audit.map_or_else(Effects::none, Effects::audited);
    let (entry, effects) = exchanges::record(&txn.txn, row, entry, status, effects).await?;
    service_polls::finish(
        &txn.txn,
        row.id,
        owner,
        Finish {
            next_at,
            failures,
            outcome: &entry.outcome,
            message: &entry.message,
            at: now,
        },
    )
    .await?;
    txn.commit(effects).await?;
    let poll = service_polls::find(store.conn(), row.id)
        .await?
        .unwrap_or(poll);
    Ok(Polled {
        entry,
        counts,
        more,
        poll,
    })
}

/// One poll's walk through the feed.
struct Feed<'a> {
    store: &'a Store,
    row: &'a service_connection::Model,
    owner: Uuid,
    lease: Duration,
    counts: Counts,
    more: bool,
}

impl Feed<'_> {
    /// Fetches pages after the stored cursor and takes their messages; a storage error is
    /// the outer error (the cursor stays: the page is fetched again), the service's failure
    /// the inner one.
    async fn fetch(
        &mut self,
        c: &super::Connector<'_>,
        base: &url::Url,
        poll: &service_poll::Model,
        report: &mut super::Report,
    ) -> AppResult<Result<(), Failure>> {
        let mut cursor = poll.cursor.clone();
        for _ in 0..MAX_PAGES {
            let target = match page_url(base, &poll.path, cursor.as_deref()) {
                Ok(target) => target,
                Err(failure) => return Ok(Err(failure)),
            };
            let call = Call {
                method: hyper::Method::GET,
                target,
                content_type: None,
                accept: "application/json",
                body: Bytes::new(),
                headers: vec![],
                max_answer: MAX_PAGE_BYTES,
                judge: &judge,
            };
            let answer = match http::exchange(c, base, &call, report).await {
                Ok(answer) => answer,
                Err(failure) => return Ok(Err(failure)),
            };
            let page = match FeedPage::read(&answer.text) {
                Ok(page) => page,
                Err(message) => {
                    return Ok(Err(Failure::new(
                        Code::UnexpectedResponse,
                        message,
                        "The feed must answer {\"messages\": [...], \"cursor\": \"...\", \"more\": false}; check the connection's address and polling path.",
                    )));
                }
            };
            self.counts.pages += 1;
            for message in &page.messages {
                self.take(c.settings.protocol, message).await?;
            }
            let lease_until = Utc::now() + self.lease;
            let still_ours = service_polls::advance(
                self.store,
                self.row.id,
                self.owner,
                page.cursor.as_deref(),
                lease_until,
            )
            .await?;
            if !still_ours {
                return Ok(Err(Failure::new(
                    Code::Rejected,
                    "another poll of this connection took over (this one outlived its lease)",
                    "Raise services.poll_lease_seconds if pages take that long.",
                )));
            }
            if page.cursor.is_some() {
                cursor = page.cursor;
            }
            self.more = page.more;
            if !page.more {
                break;
            }
        }
        Ok(Ok(()))
    }

    /// Takes one fetched message as if its lab had pushed it.
    async fn take(&mut self, protocol: Protocol, message: &Value) -> AppResult<()> {
        let arrival = Arrival {
            transport: Transport::Poll,
            ip: None,
        };
        let ack = match (protocol, message) {
            (Protocol::HttpsJson, m) => {
                let raw = serde_json::to_vec(m).map_err(|e| AppError::Internal(e.into()))?;
                intake::take_json(self.store, self.row, &raw, arrival).await?
            }
            (_, Value::String(text)) => {
                intake::take(self.store, self.row, text.as_bytes(), arrival).await?
            }
            // Not an HL7 message: kept as sent, in the dead-letter queue.
            (_, other) => {
                intake::take(self.store, self.row, other.to_string().as_bytes(), arrival).await?
            }
        };
        self.counts.fetched += 1;
        match ack.code {
            AckCode::Accept => self.counts.accepted += 1,
            AckCode::Error | AckCode::Reject => self.counts.dead += 1,
        }
        Ok(())
    }
}

/// The page after `cursor` (the first page without one).
fn page_url(base: &url::Url, path: &str, cursor: Option<&str>) -> Result<url::Url, Failure> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let mut target = base.join(path).map_err(|e| {
        Failure::new(
            Code::ProtocolError,
            format!("the polling path does not join the address ({e})"),
            "Edit the connection's polling.",
        )
    })?;
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("limit", &PAGE_SIZE.to_string());
        if let Some(cursor) = cursor {
            query.append_pair("after", cursor);
        }
    }
    Ok(target)
}

fn judge(answer: &Answer) -> Result<String, Failure> {
    match answer.status {
        200..=299 => Ok(format!("HTTP {}", answer.status)),
        401 | 403 => Err(Failure::new(
            Code::AuthFailed,
            format!("the feed refused Switchboard: HTTP {}", answer.status),
            "Check the connection's credentials.",
        )),
        code => Err(Failure::new(
            Code::UnexpectedResponse,
            format!("the feed answered HTTP {code}: {}", answer.excerpt),
            "Check the connection's address and polling path; the lab's operator can tell what this answer means.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_asked_for_under_the_address_after_the_cursor() {
        let base = url::Url::parse("https://lab.example/api/v2").unwrap();
        let first = page_url(&base, "results", None).unwrap();
        assert_eq!(
            first.as_str(),
            "https://lab.example/api/v2/results?limit=100"
        );
        let next = page_url(&base, "results", Some("2026-11-30T10:00:00Z&x")).unwrap();
        assert_eq!(
            next.as_str(),
            "https://lab.example/api/v2/results?limit=100&after=2026-11-30T10%3A00%3A00Z%26x"
        );
    }
}
