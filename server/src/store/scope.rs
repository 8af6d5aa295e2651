use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition};

use crate::domain::row_scope::RowScope;

/// The SQL form of a row scope over a table's client and location columns.
pub fn condition<C: ColumnTrait>(scope: &RowScope, client_col: C, location_col: C) -> Condition {
    let mut cond = Condition::all();
    if let Some(clients) = &scope.clients {
        cond = cond.add(client_col.is_in(clients.iter().copied()));
    }
    if let Some(locations) = &scope.locations {
        cond = cond.add(location_col.is_in(locations.iter().copied()));
    }
    // Listed clients already checked to be in the environment restrict the rows to it.
    let confined = scope.clients.is_some() && scope.clients_in_environment;
    if let Some(env) = scope.environment.filter(|_| !confined) {
        cond = cond.add(
            client_col.in_subquery(
                Query::select()
                    .column(entity::client::Column::Id)
                    .from(entity::client::Entity)
                    .and_where(entity::client::Column::Environment.eq(env.as_str()))
                    .to_owned(),
            ),
        );
    }
    cond
}

#[cfg(test)]
mod tests {
    use entity::patient::{Column, Entity};
    use sea_orm::sea_query::{Asterisk, Query, SqliteQueryBuilder};
    use uuid::Uuid;

    use super::condition;
    use crate::domain::environment::Environment;
    use crate::domain::row_scope::RowScope;

    fn checks_environment(scope: &RowScope) -> bool {
        Query::select()
            .column(Asterisk)
            .from(Entity)
            .cond_where(condition(scope, Column::ClientId, Column::LocationId))
            .to_string(SqliteQueryBuilder)
            .contains("\"environment\"")
    }

    /// Rows skip their environment check only for a client list checked against it: the
    /// flag alone, without such a list, must not lift the check.
    #[test]
    fn only_a_checked_client_list_lifts_the_environment_check() {
        let scope = |clients: Option<Vec<Uuid>>, checked| RowScope {
            clients,
            environment: Some(Environment::Sandbox),
            clients_in_environment: checked,
            ..RowScope::default()
        };
        let listed = Some(vec![Uuid::now_v7()]);
        assert!(!checks_environment(&scope(listed.clone(), true)));
        assert!(checks_environment(&scope(listed, false)));
        assert!(
            checks_environment(&scope(None, true)),
            "no list: every row is checked"
        );
        assert!(checks_environment(&scope(None, false)));
    }
}
