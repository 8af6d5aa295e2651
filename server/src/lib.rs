//! Switchboard: the integration layer of a clinic or laboratory system.

pub mod access;
pub mod audit;
pub mod bench_seed;
pub mod config;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod imports;
pub mod integrations;
pub mod keyring;
pub mod metrics;
pub mod oauth;
pub mod outbound;
#[cfg(test)]
mod scratch;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhooks;
