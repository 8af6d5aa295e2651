pub mod admin;
pub mod page;
pub mod patient;
pub mod plain;
pub mod record;
pub mod test;
