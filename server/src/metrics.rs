//! What operators watch at `/metrics`, in Prometheus text (metrics-exporter-prometheus).
//!
//! Why a recorder per server rather than the crate's process-wide one: the tests run many
//! servers in one process, each with its own figures, and a library should not take a global
//! its embedder may want. The handles are registered by key on each use; the registry is a
//! concurrent map, so that is a hash and a lookup per request.
//!
//! Every label has a bounded set of values: routes are the server's patterns, operations the
//! schema's root fields, outcomes the error codes. Nothing a caller writes becomes a label.

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
const HTTP_SECONDS: &str = "switchboard_http_request_duration_seconds";
const GRAPHQL_REQUESTS: &str = "switchboard_graphql_requests_total";
const GRAPHQL_SECONDS: &str = "switchboard_graphql_request_duration_seconds";
const REFUSALS: &str = "switchboard_refusals_total";
pub const AUDIT_QUEUE: &str = "switchboard_audit_queue_events";
pub const WEBHOOK_QUEUE: &str = "switchboard_webhook_queue_messages";
pub const WEBHOOK_OLDEST: &str = "switchboard_webhook_queue_oldest_seconds";
pub const INTEGRATIONS: &str = "switchboard_integrations";

/// Upper bounds of the latency histograms, in seconds: from a cached read (a millisecond) to
/// the longest a query may run by default.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new("switchboard", Level::INFO, None);

/// What a series is, for its description: latency histograms are all in seconds.
enum Kind {
    Counter,
    Histogram,
    Gauge(Option<Unit>),
}

/// Why a request was refused before it ran, as `REFUSALS` counts it.
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    RateLimited,
    IpNotAllowed,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        use Kind::*;
        let describe = [
            (
                HTTP_REQUESTS,
                Counter,
                "HTTP requests answered, by route pattern, method and status",
            ),
            (
                HTTP_SECONDS,
                Histogram,
                "time to answer an HTTP request, by route pattern",
            ),
            (
                GRAPHQL_REQUESTS,
                Counter,
                "GraphQL operations run, by operation (type and root field) and outcome (ok, or the first error's code)",
            ),
            (
                GRAPHQL_SECONDS,
                Histogram,
                "time to run a GraphQL operation, by operation",
            ),
            (
                REFUSALS,
                Counter,
                "requests refused before they ran: rate limits and allowed addresses",
            ),
            (
                AUDIT_QUEUE,
                Gauge(None),
                "read-audit events waiting for their commit",
            ),
            (
                WEBHOOK_QUEUE,
                Gauge(None),
                "webhook messages waiting to be delivered",
            ),
            (
                WEBHOOK_OLDEST,
                Gauge(Some(Unit::Seconds)),
                "age of the oldest webhook message waiting",
            ),
            (
                INTEGRATIONS,
                Gauge(None),
                "enabled external service connections, by health",
            ),
        ];
        for (name, kind, text) in describe {
            let key = KeyName::from_const_str(name);
            let text = SharedString::const_str(text);
            match kind {
                Counter => recorder.describe_counter(key, None, text),
                Histogram => recorder.describe_histogram(key, Some(Unit::Seconds), text),
                Gauge(unit) => recorder.describe_gauge(key, unit, text),
            }
        }
        let handle = recorder.handle();
        Metrics { recorder, handle }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

impl Metrics {
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.recorder
            .register_counter(
                &key(
                    HTTP_REQUESTS,
                    &[("route", route), ("method", method), ("status", &status)],
                ),
                &METADATA,
            )
            .increment(1);
        self.recorder
            .register_histogram(&key(HTTP_SECONDS, &[("route", route)]), &METADATA)
            .record(seconds);
    }

    pub fn graphql_operation(&self, operation: &str, outcome: &str, seconds: f64) {
        self.recorder
            .register_counter(
                &key(
                    GRAPHQL_REQUESTS,
                    &[("operation", operation), ("outcome", outcome)],
                ),
                &METADATA,
            )
            .increment(1);
        self.recorder
            .register_histogram(
                &key(GRAPHQL_SECONDS, &[("operation", operation)]),
                &METADATA,
            )
            .record(seconds);
    }

    pub fn refused(&self, why: Refusal) {
        let reason = match why {
            Refusal::RateLimited => "rate_limited",
            Refusal::IpNotAllowed => "ip_not_allowed",
        };
        self.recorder
            .register_counter(&key(REFUSALS, &[("reason", reason)]), &METADATA)
            .increment(1);
    }

    /// Sets a gauge read at scrape time (queue depths, health).
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder
            .register_gauge(&key(name, labels), &METADATA)
            .set(value);
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds the histograms' recorded samples into their buckets: without it they pile up
    /// between scrapes, and nothing may be scraping.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges_with_their_labels() {
        let metrics = Metrics::default();
        metrics.http_request("/graphql", "POST", 200, 0.003);
        metrics.http_request("/graphql", "POST", 200, 0.2);
        metrics.graphql_operation("query patients", "ok", 0.002);
        metrics.refused(Refusal::IpNotAllowed);
        metrics.gauge(WEBHOOK_QUEUE, &[], 7.0);
        metrics.upkeep();
        let text = metrics.render();
        for line in [
            r#"switchboard_http_requests_total{route="/graphql",method="POST",status="200"} 2"#,
            r#"switchboard_http_request_duration_seconds_bucket{route="/graphql",le="0.005"} 1"#,
            r#"switchboard_http_request_duration_seconds_bucket{route="/graphql",le="0.25"} 2"#,
            r#"switchboard_graphql_requests_total{operation="query patients",outcome="ok"} 1"#,
            r#"switchboard_refusals_total{reason="ip_not_allowed"} 1"#,
            "switchboard_webhook_queue_messages 7",
            "# TYPE switchboard_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
