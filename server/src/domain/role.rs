use super::stored_enum::stored_enum;

stored_enum! {
    /// A portal user's role. Integration settings belong to the first two.
    pub enum Role {
        SystemAdministrator = "SYSTEM_ADMINISTRATOR",
        TechnicalLead = "TECHNICAL_LEAD",
        Staff = "STAFF",
    }
}

impl Role {
    pub fn manages_settings(self) -> bool {
        matches!(self, Role::SystemAdministrator | Role::TechnicalLead)
    }
}

impl Role {
    /// A role as typed on the command line: any case, `-` for `_`.
    pub fn from_cli(raw: &str) -> Result<Self, String> {
        raw.to_ascii_uppercase()
            .replace('-', "_")
            .parse()
            .map_err(|_| {
                format!(
                    "unknown role `{raw}`; expected SYSTEM_ADMINISTRATOR, TECHNICAL_LEAD or STAFF"
                )
            })
    }
}
