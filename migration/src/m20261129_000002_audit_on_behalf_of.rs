//! Restored under its original name: databases that applied it must find it in the list, or
//! every later start-up fails ("this migration has been applied but its file is missing").
//! It adds `actor_on_behalf_of` where missing; `m20261129_000002_audit_actor`, which it grew
//! into, adds the role beside it and skips what exists.

use sea_orm_migration::prelude::*;

use super::m20261129_000002_audit_actor::{add_missing, drop_present};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 1] = ["actor_on_behalf_of"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_missing(manager, &COLUMNS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_present(manager, &COLUMNS).await
    }
}
