//! How a webhook message fares: its states, how a failed attempt is classified, and when the
//! next attempt is due.

use std::time::Duration;

use super::stored_enum::stored_enum;

stored_enum! {
    /// Where a message stands.
    pub enum MessageStatus {
        /// Waiting for its next attempt (or for its endpoint to be enabled again).
        Pending = "PENDING",
        /// A 2xx answer was received.
        Delivered = "DELIVERED",
        /// Given up: every attempt of the retry schedule failed, or an answer that retrying
        /// cannot change (a 4xx other than 408, 410 or 429; a blocked address).
        Failed = "FAILED",
    }
}

stored_enum! {
    /// Why an attempt failed.
    pub enum DeliveryError {
        /// No answer within the timeout.
        Timeout = "TIMEOUT",
        /// Nothing listens at the address.
        ConnectionRefused = "CONNECTION_REFUSED",
        /// The connection failed or broke for another reason (reset, unreachable).
        ConnectionError = "CONNECTION_ERROR",
        /// The host name does not resolve.
        DnsFailure = "DNS_FAILURE",
        /// The TLS handshake failed (certificate not trusted, wrong name, expired).
        TlsError = "TLS_ERROR",
        /// A redirect, which is not followed.
        Http3xx = "HTTP_3XX",
        /// A 4xx answer.
        Http4xx = "HTTP_4XX",
        /// A 5xx answer.
        Http5xx = "HTTP_5XX",
        /// The address is one webhooks may not reach (loopback, private, link-local,
        /// metadata) and is not in the allow-list.
        BlockedAddress = "BLOCKED_ADDRESS",
    }
}

stored_enum! {
    /// Why an endpoint is disabled.
    pub enum DisabledReason {
        /// An administrator (or its app) disabled it.
        Manual = "MANUAL",
        /// It answered `410 Gone`.
        Gone = "GONE",
        /// Every attempt failed for longer than the configured period.
        Failing = "FAILING",
        /// The partner app that owns it was revoked.
        AppRevoked = "APP_REVOKED",
    }
}

/// What one attempt's answer means for its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again on the schedule (at least `retry_after` later when the receiver said so).
    Retry {
        retry_after: Option<Duration>,
    },
    /// No further attempt.
    GiveUp,
    /// `410 Gone`: the endpoint is disabled at once; the message waits for it.
    EndpointGone,
}

impl Verdict {
    /// From the HTTP status, or the error when there was none.
    pub fn of(
        status: Option<u16>,
        error: Option<DeliveryError>,
        retry_after: Option<Duration>,
    ) -> Self {
        match (status, error) {
            (Some(200..=299), _) => Verdict::Delivered,
            (Some(410), _) => Verdict::EndpointGone,
            (Some(408 | 429), _) | (Some(500..=599), _) => Verdict::Retry { retry_after },
            (Some(_), _) => Verdict::GiveUp,
            (None, Some(DeliveryError::BlockedAddress)) => Verdict::GiveUp,
            (None, _) => Verdict::Retry { retry_after: None },
        }
    }
}

/// The error class of an HTTP status that is not a success.
pub fn status_error(status: u16) -> Option<DeliveryError> {
    match status {
        200..=299 => None,
        300..=399 => Some(DeliveryError::Http3xx),
        500..=599 => Some(DeliveryError::Http5xx),
        _ => Some(DeliveryError::Http4xx),
    }
}

/// The delays between attempts: after the first attempt fails, the next is `delays[0]` later,
/// and so on; when they run out the message has failed.
#[derive(Clone, Debug)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
}

impl RetrySchedule {
    /// When the attempt after `attempts_made` attempts is due, from now; `None`: give up.
    /// Each delay varies by up to a tenth either way (`jitter` in 0..1), so that messages that
    /// failed together do not all come back together; a `Retry-After` longer than the
    /// scheduled delay is honoured, up to the schedule's longest step.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let base = *self.delays.get(attempts_made.checked_sub(1)? as usize)?;
        let varied = base.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
        let longest = self.delays.iter().max().copied().unwrap_or_default();
        Some(match retry_after {
            Some(wait) if wait > varied => wait.min(longest.max(varied)),
            _ => varied,
        })
    }
}

/// The id a receiver sees for a message (`webhook-id`), the same on every attempt.
pub fn wire_id(message: uuid::Uuid) -> String {
    format!("msg_{}", message.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_retries() {
        assert_eq!(Verdict::of(Some(204), None, None), Verdict::Delivered);
        assert_eq!(Verdict::of(Some(410), None, None), Verdict::EndpointGone);
        assert_eq!(Verdict::of(Some(400), None, None), Verdict::GiveUp);
        assert_eq!(Verdict::of(Some(301), None, None), Verdict::GiveUp);
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            Verdict::of(Some(429), None, wait),
            Verdict::Retry { retry_after: wait }
        );
        assert_eq!(
            Verdict::of(Some(503), None, None),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            Verdict::of(None, Some(DeliveryError::Timeout), None),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            Verdict::of(None, Some(DeliveryError::BlockedAddress), None),
            Verdict::GiveUp
        );
    }

    #[test]
    fn the_schedule_runs_out_and_honours_retry_after_within_bounds() {
        let s = RetrySchedule {
            delays: vec![Duration::from_secs(5), Duration::from_secs(300)],
        };
        assert_eq!(s.next_delay(1, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay(2, None, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(s.next_delay(3, None, 0.5), None);
        let low = s.next_delay(1, None, 0.0).unwrap();
        let high = s.next_delay(1, None, 1.0).unwrap();
        assert!(low >= Duration::from_millis(4500) && high <= Duration::from_millis(5500));
        assert_eq!(
            s.next_delay(1, Some(Duration::from_secs(60)), 0.5),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            s.next_delay(1, Some(Duration::from_secs(86400)), 0.5),
            Some(Duration::from_secs(300))
        );
    }
}
