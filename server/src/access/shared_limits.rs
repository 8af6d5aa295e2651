//! Request rates shared by every replica through Redis (`redis.url`): the same GCRA as the
//! local limiter, run as one atomic script on Redis's clock, so that two replicas count one
//! allowance. When Redis does not answer, `Protection` counts in this process instead (each
//! replica then lets a credential have its own allowance), says so in the log and in
//! `/readyz`, and a watcher switches back as soon as Redis answers again.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::rate_limit::{LimitKey, Verdict};
use crate::domain::network::RateLimit;

/// Longest a request waits for Redis before it is counted locally: a rate check must not
/// become the slow part of a request.
const ANSWER_WITHIN: Duration = Duration::from_millis(250);
/// How often an unreachable Redis is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// KEYS[1]: the allowance; ARGV: the period between requests and the burst, in ms and
/// requests. Answers {allowed, retry ms, remaining, ms until the whole burst is back}. The key
/// expires when its allowance is whole again.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tau = period * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if now < tat - tau then
  return {0, tat - tau - now, 0, tat - now}
end
local next = tat + period
redis.call('SET', KEYS[1], next, 'PX', next - now)
return {1, 0, math.floor((now + period * burst - next) / period), next - now}
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

pub struct SharedLimits {
    conn: ConnectionManager,
    up: AtomicBool,
}

fn ceil_secs(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).div_ceil(1000)
}

impl SharedLimits {
    /// Connects lazily: a server starts whether or not Redis answers yet.
    pub fn new(url: &str) -> anyhow::Result<SharedLimits> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis.url is not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(ANSWER_WITHIN))
            .set_response_timeout(Some(ANSWER_WITHIN))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("setting up the Redis connection: {e}"))?;
        Ok(SharedLimits {
            conn,
            up: AtomicBool::new(true),
        })
    }

    /// Whether rates are being shared (Redis answered last time).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The request's verdict from Redis; `None` when Redis is (or just went) away.
    pub async fn check(&self, key: &LimitKey, rate: RateLimit) -> Option<Verdict> {
        if !self.is_up() {
            return None;
        }
        let name = match key {
            LimitKey::Credential(id) => {
                format!("switchboard:rate:{}:{}:{id}", rate.per_minute, rate.burst)
            }
            LimitKey::Address(ip) => {
                format!("switchboard:rate:{}:{}:{ip}", rate.per_minute, rate.burst)
            }
        };
        let period_ms = (60_000 / u64::from(rate.per_minute.max(1))).max(1);
        let mut conn = self.conn.clone();
        let mut call = SCRIPT.key(name);
        call.arg(period_ms).arg(rate.burst.max(1));
        let answer = tokio::time::timeout(
            ANSWER_WITHIN,
            call.invoke_async::<(i64, i64, i64, i64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((allowed, retry_ms, remaining, reset_ms))) => Some(Verdict {
                allowed: allowed == 1,
                limit: rate.burst,
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_secs: ceil_secs(reset_ms),
                retry_after_secs: if allowed == 1 {
                    0
                } else {
                    ceil_secs(retry_ms).max(1)
                },
            }),
            Ok(Err(err)) => {
                self.went_away(&err.to_string());
                None
            }
            Err(_) => {
                self.went_away("no answer in time");
                None
            }
        }
    }

    fn went_away(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                reason = why,
                "Redis is unreachable: rate limits are counted by this replica alone until it is back"
            );
        }
    }

    /// Tries an unreachable Redis again every second; runs for the server's life.
    pub async fn watch(&self) {
        let mut every = tokio::time::interval(RETRY_EVERY);
        loop {
            every.tick().await;
            if self.is_up() {
                continue;
            }
            let mut conn = self.conn.clone();
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut conn);
            if let Ok(Ok(_)) = tokio::time::timeout(ANSWER_WITHIN, ping).await {
                self.up.store(true, Ordering::Relaxed);
                tracing::info!("Redis answers again: rate limits are shared by the replicas");
            }
        }
    }
}
