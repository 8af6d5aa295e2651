//! `GET /metrics`: Prometheus text for the operators' scraper, from the addresses in
//! `metrics.allowed_addresses` only, and with `metrics.token` when one is set.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::AppState;
use super::auth::client_ip;
use super::graphql::error_json;
use crate::config::MetricsSettings;
use crate::domain::integration::HealthStatus;
use crate::domain::network::{contains, parse_allowed_ips};
use crate::metrics::{AUDIT_QUEUE, INTEGRATIONS, Refusal, WEBHOOK_OLDEST, WEBHOOK_QUEUE};
use crate::store::{service_connections, webhook_delivery};

/// Who may scrape, from the settings.
pub struct Scrapers {
    addresses: Vec<IpNet>,
    token: Option<SecretString>,
}

impl Scrapers {
    pub fn new(settings: &MetricsSettings) -> anyhow::Result<Scrapers> {
        let addresses = parse_allowed_ips("metrics.allowed_addresses", &settings.allowed_addresses)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Scrapers {
            addresses,
            token: settings.token.clone(),
        })
    }

    fn token_matches(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        )
    }
}

pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let scrapers = &state.scrapers;
    let allowed = client_ip(&req).is_some_and(|ip| contains(&scrapers.addresses, ip));
    if !allowed {
        state.metrics.refused(Refusal::IpNotAllowed);
        tracing::warn!(ip = ?client_ip(&req), "a /metrics scrape from an address not allowed");
        return HttpResponse::Forbidden().json(error_json(
            "IP_NOT_ALLOWED",
            "metrics may not be read from this address",
        ));
    }
    if !scrapers.token_matches(&req) {
        return HttpResponse::Unauthorized().json(error_json(
            "UNAUTHENTICATED",
            "metrics need `Authorization: Bearer <metrics.token>`",
        ));
    }
    let metrics = &state.metrics;
    let services = &state.services;
    metrics.gauge(AUDIT_QUEUE, &[], services.sink.queued() as f64);
    // A figure the database could not give is left out rather than shown as zero: a scrape
    // still answers, and the gap is what an alert on the database should catch.
    let db = services.store.conn();
    match webhook_delivery::backlog(db).await {
        Ok((waiting, oldest)) => {
            metrics.gauge(WEBHOOK_QUEUE, &[], waiting as f64);
            let age = oldest.map_or(0.0, |at| {
                (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics.gauge(WEBHOOK_OLDEST, &[], age);
        }
        Err(err) => tracing::warn!(error = ?err.message(), "metrics: reading the webhook queue"),
    }
    match service_connections::health_counts(db).await {
        Ok(counts) => {
            for status in HealthStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0, |(_, n)| *n);
                metrics.gauge(INTEGRATIONS, &[("health", status.as_str())], n as f64);
            }
        }
        Err(err) => tracing::warn!(error = ?err.message(), "metrics: reading integration health"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
