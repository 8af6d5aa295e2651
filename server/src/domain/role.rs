use std::str::FromStr;

/// Portal roles. Integration settings (keys, later webhooks and connections) belong to the
/// first two only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    SystemAdministrator,
    TechnicalLead,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SystemAdministrator => "SYSTEM_ADMINISTRATOR",
            Role::TechnicalLead => "TECHNICAL_LEAD",
            Role::Staff => "STAFF",
        }
    }
    pub fn manages_settings(self) -> bool {
        matches!(self, Role::SystemAdministrator | Role::TechnicalLead)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "SYSTEM_ADMINISTRATOR" => Ok(Role::SystemAdministrator),
            "TECHNICAL_LEAD" => Ok(Role::TechnicalLead),
            "STAFF" => Ok(Role::Staff),
            other => Err(format!(
                "unknown role `{other}`; expected SYSTEM_ADMINISTRATOR, TECHNICAL_LEAD or STAFF"
            )),
        }
    }
}
