use std::str::FromStr;

/// Sandbox and production never mix: a key of one environment sees only that environment's
/// clients and their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "SANDBOX",
            Environment::Production => "PRODUCTION",
        }
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SANDBOX" => Ok(Environment::Sandbox),
            "PRODUCTION" => Ok(Environment::Production),
            other => Err(format!("unknown environment `{other}`")),
        }
    }
}
