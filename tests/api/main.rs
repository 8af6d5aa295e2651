//! Black-box tests over HTTP. Every test gets its own server and database; the suite runs
//! against SQLite by default and against PostgreSQL with `SWITCHBOARD_TEST_DB=postgres`.

mod accounts;
mod admin;
mod audit;
mod bad_input;
mod developer_portal;
mod duplicates;
mod keys;
mod lab_tests;
mod projection;
mod rows;
mod scopes;
