//! "What did this key do?" walks an index of the actor's events backwards by id and stops
//! after a page, instead of scanning the trail (time ranges use `ix_audit_events_occurred`
//! from the foundation). Action and record type have a dozen values each and get no index of
//! their own: every audited request pays for each index of this table, and indexes on them
//! too measurably slowed every scenario (BENCHMARKS.md); narrowed by time, they are
//! served by the time index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 1] = [("ix_audit_events_actor", "actor_id")];

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
