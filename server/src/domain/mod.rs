//! Types and rules of the domain. No I/O: everything here is testable as plain functions.

pub mod actor;
pub mod api_key;
pub mod csv;
pub mod environment;
pub mod hl7;
pub mod integration;
pub mod lab_intake;
pub mod lab_result;
pub mod lab_test;
pub mod network;
pub mod oauth;
pub mod partner_app;
pub mod patient;
pub mod patient_import;
pub mod patient_input;
pub mod poll;
pub mod records_exchange;
pub mod role;
pub mod row_scope;
pub mod scope;
pub mod service_connection;
mod stored_enum;

pub mod validate;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_event;
