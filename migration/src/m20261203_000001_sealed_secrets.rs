//! The key that sealed each secret kept at rest (`keyring`): a webhook endpoint's signing
//! secret and an access-token signing key's private key. Empty for a value written before
//! secrets were sealed; the server seals those when it starts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpointSecrets {
    Table,
    KeyId,
}

#[derive(DeriveIden)]
enum OauthSigningKeys {
    Table,
    KeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpointSecrets::Table)
                    .add_column(
                        ColumnDef::new(WebhookEndpointSecrets::KeyId)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthSigningKeys::Table)
                    .add_column(ColumnDef::new(OauthSigningKeys::KeyId).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpointSecrets::Table)
                    .drop_column(WebhookEndpointSecrets::KeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthSigningKeys::Table)
                    .drop_column(OauthSigningKeys::KeyId)
                    .to_owned(),
            )
            .await
    }
}
