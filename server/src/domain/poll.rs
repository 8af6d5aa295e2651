//! Polling a lab's results feed: when (`Schedule`: every so many seconds, or a cron
//! expression in UTC), how long to wait after failures (`backoff`), and what a page of the
//! feed is (`FeedPage`).
//!
//! The feed: `GET <address>/<path>?limit=<n>[&after=<cursor>]` answers
//! `{"messages": [...], "cursor": "...", "more": true|false}`. Each message is a JSON results
//! payload (HTTPS_JSON connections, as `POST /services/{id}/results` takes) or an HL7 v2
//! ORU^R01 as a string (HL7V2_HTTP). `cursor` is the feed's own, opaque: sent back as `after`
//! to get what came after this page; absent, the position stays where it was.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;
use serde::Deserialize;

/// Bounds of a schedule's interval.
pub const MIN_EVERY_SECONDS: i32 = 1;
pub const MAX_EVERY_SECONDS: i32 = 7 * 24 * 3600;
/// The longest cron expression, feed path and cursor taken.
pub const MAX_CRON: usize = 200;
pub const MAX_PATH: usize = 500;
pub const MAX_CURSOR: usize = 1000;
/// Messages asked for per page, and pages per poll (the rest waits for the next poll, which
/// comes at once).
pub const PAGE_SIZE: usize = 100;
pub const MAX_PAGES: usize = 10;
/// The largest page read.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// The feed's path when none is given.
pub const DEFAULT_PATH: &str = "results";

/// When a connection is polled.
#[derive(Clone, Debug)]
pub enum Schedule {
    Every(chrono::Duration),
    Cron(Box<Cron>),
}

impl Schedule {
    /// Exactly one of `every_seconds` and `cron`; the error names the field.
    pub fn parse(
        every_seconds: Option<i32>,
        cron: Option<&str>,
    ) -> Result<Schedule, (&'static str, String)> {
        match (every_seconds, cron.map(str::trim)) {
            (Some(s), None) => {
                if !(MIN_EVERY_SECONDS..=MAX_EVERY_SECONDS).contains(&s) {
                    return Err((
                        "everySeconds",
                        format!("between {MIN_EVERY_SECONDS} and {MAX_EVERY_SECONDS}"),
                    ));
                }
                Ok(Schedule::Every(chrono::Duration::seconds(i64::from(s))))
            }
            (None, Some(expr)) => {
                if expr.is_empty() || expr.len() > MAX_CRON {
                    return Err(("cron", format!("1 to {MAX_CRON} characters")));
                }
                let cron = Cron::from_str(expr).map_err(|e| {
                    (
                        "cron",
                        format!("not a cron expression ({e}); for example `*/5 * * * *`"),
                    )
                })?;
                // A pattern that never fires (30 February) would never poll.
                cron.find_next_occurrence(&Utc::now(), false)
                    .map_err(|_| ("cron", "never comes round".to_owned()))?;
                Ok(Schedule::Cron(Box::new(cron)))
            }
            (Some(_), Some(_)) => Err((
                "cron",
                "give either everySeconds or cron, not both".to_owned(),
            )),
            (None, None) => Err(("everySeconds", "give everySeconds or cron".to_owned())),
        }
    }

    /// When the poll after one at `t` is due.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Schedule::Every(every) => t + *every,
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&t, false)
                // Checked to come round when it was set; a far date keeps it quiet otherwise.
                .unwrap_or(t + chrono::Duration::days(365)),
        }
    }
}

/// How long to wait after `failures` failed polls in a row: 10 s, doubling, at most an hour.
pub fn backoff(failures: u32) -> chrono::Duration {
    let shift = failures.saturating_sub(1).min(9);
    chrono::Duration::seconds((10_i64 << shift).min(3600))
}

/// When the next poll is due after one at `now`: on schedule, or later after failures.
pub fn next_poll(schedule: &Schedule, now: DateTime<Utc>, failures: u32) -> DateTime<Utc> {
    let on_schedule = schedule.next_after(now);
    if failures == 0 {
        on_schedule
    } else {
        on_schedule.max(now + backoff(failures))
    }
}

/// A feed path: relative, without a query or a way out of the address.
pub fn check_path(path: &str) -> Result<String, String> {
    let path = path.trim().trim_start_matches('/');
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(format!("1 to {MAX_PATH} characters"));
    }
    if path.contains(['?', '#', '\\']) || path.split('/').any(|seg| seg == "..") {
        return Err("a path under the connection's address, without ? # \\ or ..".into());
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("no spaces or control characters".into());
    }
    Ok(path.to_owned())
}

/// One page of a feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedPage {
    pub messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub more: bool,
}

impl FeedPage {
    /// Reads a page; the error says what is wrong with it.
    pub fn read(body: &str) -> Result<FeedPage, String> {
        let page: FeedPage = serde_json::from_str(body)
            .map_err(|e| format!("the feed's answer is not a page of messages ({e})"))?;
        if let Some(cursor) = &page.cursor
            && (cursor.is_empty() || cursor.len() > MAX_CURSOR)
        {
            return Err(format!(
                "the feed's cursor must be 1 to {MAX_CURSOR} characters"
            ));
        }
        if page.more && page.messages.is_empty() {
            // It would be asked for the same empty page again and again.
            return Err("the feed says there is more but sent no messages".into());
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_one_of_an_interval_or_a_cron_expression() {
        assert!(Schedule::parse(Some(60), None).is_ok());
        assert!(Schedule::parse(None, Some("*/5 * * * *")).is_ok());
        assert_eq!(
            Schedule::parse(Some(0), None).unwrap_err().0,
            "everySeconds"
        );
        assert_eq!(
            Schedule::parse(None, Some("every day")).unwrap_err().0,
            "cron"
        );
        assert_eq!(
            Schedule::parse(None, Some("0 0 30 2 *")).unwrap_err().0,
            "cron"
        );
        assert!(Schedule::parse(Some(5), Some("* * * * *")).is_err());
        assert!(Schedule::parse(None, None).is_err());
    }

    #[test]
    fn a_cron_schedule_comes_round_on_its_minutes_in_utc() {
        let s = Schedule::parse(None, Some("*/15 * * * *")).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-30T10:07:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(s.next_after(t).to_rfc3339(), "2026-11-30T10:15:00+00:00");
        let every = Schedule::parse(Some(90), None).unwrap();
        assert_eq!(
            every.next_after(t).to_rfc3339(),
            "2026-11-30T10:09:00+00:00"
        );
    }

    #[test]
    fn failures_push_the_next_poll_back_up_to_an_hour() {
        let every = Schedule::parse(Some(1), None).unwrap();
        let now = Utc::now();
        assert_eq!(
            next_poll(&every, now, 0),
            now + chrono::Duration::seconds(1)
        );
        assert_eq!(
            next_poll(&every, now, 1),
            now + chrono::Duration::seconds(10)
        );
        assert_eq!(
            next_poll(&every, now, 3),
            now + chrono::Duration::seconds(40)
        );
        assert_eq!(
            next_poll(&every, now, 50),
            now + chrono::Duration::seconds(3600)
        );
        let daily = Schedule::parse(Some(86_400), None).unwrap();
        assert_eq!(next_poll(&daily, now, 2), now + chrono::Duration::days(1));
    }

    #[test]
    fn a_feed_path_stays_under_the_address() {
        assert_eq!(check_path("/v1/results").unwrap(), "v1/results");
        assert!(check_path("../admin").is_err());
        assert!(check_path("results?all=1").is_err());
        assert!(check_path("").is_err());
    }

    #[test]
    fn a_page_is_read_strictly() {
        let page = FeedPage::read(r#"{"messages":[{"a":1}],"cursor":"c2","more":true}"#).unwrap();
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.cursor.as_deref(), Some("c2"));
        assert!(FeedPage::read(r#"{"messages":[],"more":true}"#).is_err());
        assert!(FeedPage::read(r#"{"results":[]}"#).is_err());
        assert!(FeedPage::read("<html>").is_err());
    }
}
