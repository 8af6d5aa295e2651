pub mod admin;
pub mod page;
pub mod partner_app;
pub mod patient;
pub mod plain;
pub mod record;
pub mod test;
pub mod webhook;
