pub mod admin;
pub mod page;
pub mod patient;
pub mod test;
