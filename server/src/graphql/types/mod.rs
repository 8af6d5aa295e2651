pub mod admin;
pub mod page;
pub mod patient;
pub mod plain;
pub mod test;
