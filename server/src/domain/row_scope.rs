use uuid::Uuid;

use super::environment::Environment;

/// Which rows a credential may see. `None` means unrestricted on that axis. The store turns
/// this into SQL conditions so that rows outside it are never loaded at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowScope {
    pub clients: Option<Vec<Uuid>>,
    pub locations: Option<Vec<Uuid>>,
    pub environment: Option<Environment>,
    /// Every client in `clients` is known to be in `environment`: checked against the
    /// database when the credential was loaded (`access::credentials`), and a client's
    /// environment never changes. Its rows then need no environment check of their own,
    /// which was a fifth of the cost of reading a page's tests on SQLite (docs/benchmarks-history.md).
    pub clients_in_environment: bool,
}

impl RowScope {
    pub fn unrestricted() -> Self {
        RowScope::default()
    }

    /// Whether a row with these coordinates is visible. Used for rows that are about to be
    /// written (the SQL conditions cover everything that is read).
    pub fn allows(&self, client_id: Uuid, location_id: Uuid, environment: Environment) -> bool {
        self.clients.as_ref().is_none_or(|c| c.contains(&client_id))
            && self
                .locations
                .as_ref()
                .is_none_or(|l| l.contains(&location_id))
            && self.environment.is_none_or(|e| e == environment)
    }

    /// Whether some rows of this client may be visible (its location aside).
    pub fn allows_client(&self, client_id: Uuid, environment: Environment) -> bool {
        self.clients.as_ref().is_none_or(|c| c.contains(&client_id))
            && self.environment.is_none_or(|e| e == environment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_combine() {
        let (c1, c2, l1, l2) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let scope = RowScope {
            clients: Some(vec![c1]),
            locations: Some(vec![l1]),
            environment: Some(Environment::Sandbox),
            clients_in_environment: false,
        };
        assert!(scope.allows(c1, l1, Environment::Sandbox));
        assert!(!scope.allows(c2, l1, Environment::Sandbox));
        assert!(!scope.allows(c1, l2, Environment::Sandbox));
        assert!(!scope.allows(c1, l1, Environment::Production));
        assert!(RowScope::unrestricted().allows(c2, l2, Environment::Production));
    }
}
