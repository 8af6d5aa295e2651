//! Black-box tests over HTTP. Every test gets its own server and database; the suite runs
//! against SQLite by default and against PostgreSQL with `SWITCHBOARD_TEST_DB=postgres`.

mod accounts;
mod admin;
mod answers;
mod audit;
mod audit_chain;
mod bad_input;
mod cost;
mod developer_portal;
mod duplicates;
mod external_services;
mod imports;
mod key_lineage;
mod keys;
mod lab_intake;
mod lab_tests;
mod login;
mod migrations;
mod oauth;
mod object_storage;
mod partner_apps;
mod polling;
mod projection;
mod protection;
mod records_exchange;
mod refusals;
mod replicas;
mod rows;
mod scopes;
mod searching;
mod secrets_at_rest;
mod webhook_durability;
mod webhook_endpoints;
mod webhook_outbox;
mod webhooks;
mod writes;
