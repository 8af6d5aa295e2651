//! The audit trail's "who" gains two columns: the user on whose behalf the acting credential
//! acted (a partner app's token acts for the clinic user who granted it; empty for credentials
//! that act for themselves), and a portal user's role when the event was recorded (a STAFF
//! user's reads are not an administrator's).
//!
//! A database may already have the first column from `m20261129_000002_audit_on_behalf_of`,
//! which this migration grew out of; each column is added only where it is missing, so that
//! databases from before and after the change, and new ones, all end with both.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "audit_events";
const COLUMNS: [&str; 2] = ["actor_on_behalf_of", "actor_role"];

/// Adds nullable text `columns` to the audit table where they are missing.
pub(crate) async fn add_missing(
    manager: &SchemaManager<'_>,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    for column in columns {
        if manager.has_column(TABLE, column).await? {
            continue;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(ColumnDef::new(*column).string().null())
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` from the audit table where they exist.
pub(crate) async fn drop_present(
    manager: &SchemaManager<'_>,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    for column in columns.iter().rev() {
        if !manager.has_column(TABLE, column).await? {
            continue;
        }
        manager
            .alter_table(Table::alter().table(TABLE).drop_column(*column).to_owned())
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_missing(manager, &COLUMNS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_present(manager, &COLUMNS).await
    }
}
