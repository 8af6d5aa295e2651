//! The vocabulary of exchanges with external services: the error codes every failure is
//! classified into, the steps of a Test Connection, and the integration log's values.

use super::stored_enum::stored_enum;
use super::webhook_delivery::DeliveryError;

stored_enum! {
    /// Why an exchange with an external service failed. Stable: clients may switch on it.
    pub enum IntegrationErrorCode {
        /// The service's host name does not resolve.
        DnsFailure = "DNS_FAILURE",
        /// Nothing accepts connections at the address (or it cannot be reached).
        ConnectionRefused = "CONNECTION_REFUSED",
        /// The service did not answer within the connection's timeout.
        Timeout = "TIMEOUT",
        /// The TLS handshake failed: an unknown certificate authority, a certificate for
        /// another host name, an expired certificate, or no common protocol.
        TlsError = "TLS_ERROR",
        /// The service refused Switchboard's credentials.
        AuthFailed = "AUTH_FAILED",
        /// The service answered, but not as a working service answers (an HTTP error status,
        /// a missing directory).
        UnexpectedResponse = "UNEXPECTED_RESPONSE",
        /// The answer broke the protocol (MLLP framing, an HL7 acknowledgement that rejects
        /// or does not match).
        ProtocolError = "PROTOCOL_ERROR",
        /// The address is loopback, private, link-local or metadata, and not allowed in the
        /// server's configuration (`services.allowed_hosts`).
        BlockedAddress = "BLOCKED_ADDRESS",
        /// The service refused the request itself (an HTTP 4xx other than 401, 403, 408 and
        /// 429): sending it again will not change the answer.
        Rejected = "REJECTED",
        /// A production patient for a sandbox connection, or a sandbox patient for a
        /// production one: refused before anything was sent, as live data must not reach a
        /// staging system.
        EnvironmentMismatch = "ENVIRONMENT_MISMATCH",
        /// A message sent to Switchboard without a valid signature of the connection's
        /// inbound secret (or with none at all).
        SignatureInvalid = "SIGNATURE_INVALID",
        /// A signed message whose timestamp is more than 5 minutes from the server's clock:
        /// refused, so a captured message cannot be replayed.
        TimestampStale = "TIMESTAMP_STALE",
        /// A message sent to Switchboard that does not read as what the connection's service
        /// sends (or answers a request it does not have).
        InvalidMessage = "INVALID_MESSAGE",
    }
}

impl IntegrationErrorCode {
    /// Whether trying again later may succeed.
    pub fn retryable(self) -> bool {
        use IntegrationErrorCode::*;
        matches!(
            self,
            DnsFailure | ConnectionRefused | Timeout | UnexpectedResponse
        )
    }
}

impl IntegrationErrorCode {
    /// A webhook delivery's failure, in this vocabulary.
    pub fn of_delivery(e: DeliveryError) -> IntegrationErrorCode {
        use IntegrationErrorCode as C;
        match e {
            DeliveryError::Timeout => C::Timeout,
            DeliveryError::ConnectionRefused | DeliveryError::ConnectionError => {
                C::ConnectionRefused
            }
            DeliveryError::DnsFailure => C::DnsFailure,
            DeliveryError::TlsError => C::TlsError,
            DeliveryError::Http3xx | DeliveryError::Http4xx | DeliveryError::Http5xx => {
                C::UnexpectedResponse
            }
            DeliveryError::BlockedAddress => C::BlockedAddress,
        }
    }

    /// The delivery failures this code stands for (none: no delivery fails so).
    pub fn deliveries(self) -> Vec<DeliveryError> {
        DeliveryError::ALL
            .iter()
            .copied()
            .filter(|e| IntegrationErrorCode::of_delivery(*e) == self)
            .collect()
    }
}

stored_enum! {
    /// One step of talking to a service.
    pub enum ProbeStep {
        /// Looking up the host name (and checking where it points).
        Resolve = "RESOLVE",
        /// Opening the TCP connection.
        Connect = "CONNECT",
        /// The TLS handshake: the certificate chain and host name verified.
        Tls = "TLS",
        /// Getting credentials to call with: an OAuth 2.0 token (cached, or from the token
        /// endpoint).
        Authenticate = "AUTHENTICATE",
        /// One harmless call of the protocol, authenticated: an HTTP health request, an HL7
        /// test message answered by an acknowledgement.
        Call = "CALL",
        /// Writing, reading back and deleting a probe object (storage).
        Storage = "STORAGE",
    }
}

stored_enum! {
    /// Which way an exchange went.
    pub enum Direction {
        Outbound = "OUTBOUND",
        Inbound = "INBOUND",
    }
}

stored_enum! {
    /// What an exchange was.
    pub enum Operation {
        /// Test Connection, from the portal or the API.
        TestConnection = "TEST_CONNECTION",
        /// The periodic check of an enabled connection (`services.health_check_interval_seconds`).
        HealthCheck = "HEALTH_CHECK",
        /// A patient's request for outside records sent to a records-exchange service.
        RequestRecords = "REQUEST_RECORDS",
        /// A records-exchange service's answer, received at the connection's inbound address.
        ReceiveRecords = "RECEIVE_RECORDS",
        /// An HL7 v2 result message a lab sent (results intake).
        ReceiveResults = "RECEIVE_RESULTS",
        /// A poll of a lab's results feed: one entry per poll, with what it fetched.
        PollResults = "POLL_RESULTS",
        /// An attempt to deliver a webhook (read from the delivery log, not written twice).
        WebhookDelivery = "WEBHOOK_DELIVERY",
    }
}

stored_enum! {
    /// How an exchange ended.
    pub enum Outcome {
        Ok = "OK",
        Failed = "FAILED",
        /// Switchboard refused it before any exchange with the service (environments that
        /// must not mix, a message without a valid signature). Not counted in health: the
        /// service did nothing wrong.
        Refused = "REFUSED",
    }
}

stored_enum! {
    /// How a connection is doing, from its recent exchanges (`Health::from_samples`).
    pub enum HealthStatus {
        /// No exchange yet.
        Unknown = "UNKNOWN",
        /// Working: not degraded, not down.
        Healthy = "HEALTHY",
        /// Working, but in the last hour at least 10% of exchanges failed, or the slowest 5%
        /// took more than half the connection's timeout.
        Degraded = "DEGRADED",
        /// The newest 3 exchanges (all of them, if fewer) failed.
        Down = "DOWN",
    }
}

/// One exchange, as health sees it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub ok: bool,
    pub latency_ms: i64,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Failures in a row that make a connection `DOWN`.
pub const DOWN_AFTER: usize = 3;
/// The share of failures in the last hour that makes it `DEGRADED`.
pub const DEGRADED_ERROR_RATE: f64 = 0.10;

/// A connection's health over its recent exchanges.
#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Over the last 24 hours: exchanges, the share that failed, average and 95th
    /// percentile latency.
    pub exchanges_24h: usize,
    pub error_rate_24h: Option<f64>,
    pub average_latency_ms_24h: Option<f64>,
    pub p95_latency_ms_24h: Option<i64>,
    /// The share of exchanges (checks included) that succeeded over 24 hours and 7 days.
    pub uptime_24h: Option<f64>,
    pub uptime_7d: Option<f64>,
}

impl Health {
    /// From the exchanges of the last 7 days (any order), as of `now`, for a connection whose
    /// steps may take `timeout_ms`.
    pub fn from_samples(
        samples: &[Sample],
        now: chrono::DateTime<chrono::Utc>,
        timeout_ms: i64,
    ) -> Health {
        let mut newest: Vec<&Sample> = samples.iter().collect();
        newest.sort_by_key(|s| std::cmp::Reverse(s.at));
        let within = |hours: i64| {
            let since = now - chrono::Duration::hours(hours);
            newest.iter().filter(move |s| s.at >= since).copied()
        };
        let share = |set: &[&Sample], ok: bool| {
            (!set.is_empty())
                .then(|| set.iter().filter(|s| s.ok == ok).count() as f64 / set.len() as f64)
        };
        let day: Vec<&Sample> = within(24).collect();
        let mut latencies: Vec<i64> = day.iter().map(|s| s.latency_ms).collect();
        latencies.sort_unstable();
        let p95 = (!latencies.is_empty()).then(|| {
            let rank = ((latencies.len() as f64) * 0.95).ceil() as usize;
            latencies[rank.clamp(1, latencies.len()) - 1]
        });
        let hour: Vec<&Sample> = within(1).collect();
        let hour_errors = share(&hour, false);
        let mut hour_latencies: Vec<i64> = hour.iter().map(|s| s.latency_ms).collect();
        hour_latencies.sort_unstable();
        let hour_p95 = (!hour_latencies.is_empty()).then(|| {
            let rank = ((hour_latencies.len() as f64) * 0.95).ceil() as usize;
            hour_latencies[rank.clamp(1, hour_latencies.len()) - 1]
        });
        let last = &newest[..newest.len().min(DOWN_AFTER)];
        let status = if newest.is_empty() {
            HealthStatus::Unknown
        } else if last.iter().all(|s| !s.ok) {
            HealthStatus::Down
        } else if hour_errors.is_some_and(|r| r >= DEGRADED_ERROR_RATE)
            || hour_p95.is_some_and(|p| p * 2 > timeout_ms)
        {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        Health {
            status,
            last_success_at: newest.iter().find(|s| s.ok).map(|s| s.at),
            exchanges_24h: day.len(),
            error_rate_24h: share(&day, false),
            average_latency_ms_24h: (!day.is_empty())
                .then(|| day.iter().map(|s| s.latency_ms as f64).sum::<f64>() / day.len() as f64),
            p95_latency_ms_24h: p95,
            uptime_24h: share(&day, true),
            uptime_7d: share(&within(24 * 7).collect::<Vec<_>>(), true),
        }
    }
}

/// A span of a connection's history, for charts.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub start: chrono::DateTime<chrono::Utc>,
    pub exchanges: usize,
    pub failures: usize,
    pub average_latency_ms: Option<f64>,
}

/// The exchanges of the `span` before `now`, in `buckets` equal spans, oldest first.
pub fn history(
    samples: &[Sample],
    now: chrono::DateTime<chrono::Utc>,
    span: chrono::Duration,
    buckets: u32,
) -> Vec<Bucket> {
    let buckets = buckets.max(1);
    let width = span / i32::try_from(buckets).unwrap_or(i32::MAX);
    let start = now - width * i32::try_from(buckets).unwrap_or(i32::MAX);
    let mut out: Vec<(Bucket, i64)> = (0..buckets)
        .map(|i| {
            (
                Bucket {
                    start: start + width * i32::try_from(i).unwrap_or(i32::MAX),
                    exchanges: 0,
                    failures: 0,
                    average_latency_ms: None,
                },
                0,
            )
        })
        .collect();
    let width_ms = width.num_milliseconds().max(1);
    for s in samples {
        let offset = (s.at - start).num_milliseconds();
        if offset < 0 || s.at >= now {
            continue;
        }
        let i = usize::try_from(offset / width_ms).unwrap_or(usize::MAX);
        if let Some((b, total)) = out.get_mut(i) {
            b.exchanges += 1;
            b.failures += usize::from(!s.ok);
            *total += s.latency_ms;
        }
    }
    out.into_iter()
        .map(|(mut b, total)| {
            b.average_latency_ms = (b.exchanges > 0).then(|| total as f64 / b.exchanges as f64);
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_puts_each_exchange_in_its_span() {
        let now = chrono::Utc::now();
        let ago = |m: i64, ok, l| Sample {
            ok,
            latency_ms: l,
            at: now - chrono::Duration::minutes(m),
        };
        let samples = [
            ago(5, true, 10),
            ago(10, false, 30),
            ago(70, true, 100),
            ago(300, true, 1),
        ];
        let h = history(&samples, now, chrono::Duration::hours(2), 2);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].start, now - chrono::Duration::hours(2));
        assert_eq!((h[0].exchanges, h[0].failures), (1, 0));
        assert_eq!(h[0].average_latency_ms, Some(100.0));
        assert_eq!((h[1].exchanges, h[1].failures), (2, 1));
        assert_eq!(h[1].average_latency_ms, Some(20.0));
        let empty = history(&[], now, chrono::Duration::hours(1), 3);
        assert!(
            empty
                .iter()
                .all(|b| b.exchanges == 0 && b.average_latency_ms.is_none())
        );
    }

    fn at(minutes_ago: i64, ok: bool, latency_ms: i64) -> Sample {
        Sample {
            ok,
            latency_ms,
            at: chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        }
    }

    fn status(samples: &[Sample]) -> HealthStatus {
        Health::from_samples(samples, chrono::Utc::now(), 10_000).status
    }

    #[test]
    fn status_follows_the_documented_thresholds() {
        assert_eq!(status(&[]), HealthStatus::Unknown);
        assert_eq!(status(&[at(1, true, 50)]), HealthStatus::Healthy);
        assert_eq!(
            status(&[at(1, false, 50)]),
            HealthStatus::Down,
            "all, if fewer than 3"
        );
        // Two failures after a success: not down, but degraded (2 of 3 failed this hour).
        let two = [at(3, true, 50), at(2, false, 50), at(1, false, 50)];
        assert_eq!(status(&two), HealthStatus::Degraded);
        let three = [
            at(4, true, 50),
            at(3, false, 50),
            at(2, false, 50),
            at(1, false, 50),
        ];
        assert_eq!(status(&three), HealthStatus::Down);
        // A failure a day ago does not count for the last hour.
        let mut mostly_ok: Vec<Sample> = (0..20).map(|i| at(i, true, 50)).collect();
        mostly_ok.push(at(26 * 60, false, 50));
        assert_eq!(status(&mostly_ok), HealthStatus::Healthy);
        // Slow: the 95th percentile over half the timeout.
        let slow: Vec<Sample> = (0..20).map(|i| at(i, true, 6_000)).collect();
        assert_eq!(status(&slow), HealthStatus::Degraded);
    }

    #[test]
    fn figures_cover_their_windows() {
        let now = chrono::Utc::now();
        let mut samples: Vec<Sample> = (1..=19).map(|i| at(i, true, i * 10)).collect();
        samples.push(at(30, false, 1000));
        samples.push(at(3 * 24 * 60, false, 10));
        let h = Health::from_samples(&samples, now, 10_000);
        assert_eq!(h.exchanges_24h, 20);
        assert_eq!(h.error_rate_24h, Some(0.05));
        assert_eq!(h.p95_latency_ms_24h, Some(190));
        assert_eq!(h.uptime_24h, Some(0.95));
        assert!((h.uptime_7d.unwrap() - 19.0 / 21.0).abs() < 1e-9);
        assert!(h.last_success_at.is_some());
    }
}
