//! Types and rules of the domain. No I/O: everything here is testable as plain functions.

pub mod actor;
pub mod api_key;
pub mod environment;
pub mod lab_result;
pub mod patient;
pub mod role;
pub mod row_scope;
pub mod scope;
pub mod test_status;
pub mod validate;
