use super::stored_enum::stored_enum;

stored_enum! {
    /// Sandbox and production are separate: keys, clients and data never mix.
    pub enum Environment {
        /// Test data and `sb_test_` keys; never mixed with production.
        Sandbox = "SANDBOX",
        Production = "PRODUCTION",
    }
}

impl Environment {
    /// A stored environment; one this build does not know reads as sandbox, where no
    /// production data is.
    pub fn from_stored(raw: &str) -> Self {
        raw.parse().unwrap_or(Environment::Sandbox)
    }
}
