//! The key that sealed each secret kept at rest (`keyring`): a webhook endpoint's signing
//! secret and an access-token signing key's private key. Empty for a value written before
//! secrets were sealed; the server seals those when it starts.

use sea_orm_migration::prelude::*;

use crate::columns::text_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["webhook_endpoint_secrets", "oauth_signing_keys"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text_null("key_id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(Table::alter().table(table).drop_column("key_id").to_owned())
                .await?;
        }
        Ok(())
    }
}
