//! sea-orm models of Switchboard's tables. Plain data: no GraphQL, no rules. The server's
//! `store` module is the only code that queries them.

pub mod admin_session;
pub mod admin_user;
pub mod api_key;
pub mod audit_event;
pub mod audit_link;
pub mod audit_record_touch;
pub mod client;
pub mod import_chunk;
pub mod import_job;
pub mod import_refusal;
pub mod integration_log;
pub mod lab_code_mapping;
pub mod lab_message;
pub mod lab_test;
pub mod location;
pub mod oauth_code;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod oauth_signing_key;
pub mod outside_records_request;
pub mod partner_app;
pub mod partner_app_secret;
pub mod patient;
pub mod service_connection;
pub mod service_inbound_secret;
pub mod service_poll;
pub mod setting;
pub mod webhook_attempt;
pub mod webhook_endpoint;
pub mod webhook_endpoint_secret;
pub mod webhook_event;
pub mod webhook_message;
