//! The audit trail's "who" gains two columns: the user on whose behalf the acting credential
//! acted (a partner app's token acts for the clinic user who granted it; empty for credentials
//! that act for themselves), and a portal user's role when the event was recorded (a STAFF
//! user's reads are not an administrator's).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    ActorOnBehalfOf,
    ActorRole,
}

const COLUMNS: [AuditEvents; 2] = [AuditEvents::ActorOnBehalfOf, AuditEvents::ActorRole];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS.into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
