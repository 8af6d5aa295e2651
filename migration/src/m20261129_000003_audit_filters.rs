//! The audit trail is searched by who acted, by action and by record type, newest first:
//! each of those filters walks its own index backwards by id and stops after a page, instead of
//! scanning the trail. (Time ranges use `ix_audit_events_occurred` from the foundation.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 3] = [
    ("ix_audit_events_actor", "actor_id"),
    ("ix_audit_events_action", "action"),
    ("ix_audit_events_record_type", "record_type"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new("audit_events"))
                        .col(Alias::new(column))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Alias::new("audit_events"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
