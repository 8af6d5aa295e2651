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
