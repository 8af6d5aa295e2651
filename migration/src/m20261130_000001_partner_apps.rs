//! Partner applications and the OAuth 2.0 authorization server's state: apps and their client
//! secrets, the grants users (or a backend, by client credentials) gave them, single-use
//! authorization codes, rotating refresh tokens, and the keys access tokens are signed with.
//! Secrets, codes and refresh tokens are stored as SHA-256 hashes only (256 random bits each).

use sea_orm_migration::prelude::*;

use crate::columns::{fk, id, index, text, text_null, ts, ts_null, uuid, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("partner_apps")
                    .col(id())
                    .col(text("name"))
                    .col(text("category"))
                    .col(text("description"))
                    .col(text_null("homepage"))
                    .col(text("redirect_uris"))
                    .col(text("client_id").unique_key())
                    .col(text("client_type"))
                    .col(text("scopes"))
                    .col(text("client_ids"))
                    .col(text("location_ids"))
                    .col(text("environment"))
                    .col(text("status"))
                    .col(uuid_null("created_by"))
                    .col(ts("created_at"))
                    .col(ts_null("last_used_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("partner_app_secrets")
                    .col(id())
                    .col(uuid("app_id"))
                    .col(text("prefix"))
                    .col(text("secret_hash").unique_key())
                    .col(ts("created_at"))
                    .col(ts_null("expires_at"))
                    .foreign_key(&mut fk("partner_app_secrets", "app_id", "partner_apps"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "partner_app_secrets",
                "ix_partner_app_secrets_app",
                &["app_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oauth_grants")
                    .col(id())
                    .col(uuid("app_id"))
                    .col(text("kind"))
                    .col(uuid_null("user_id"))
                    .col(uuid_null("secret_id"))
                    .col(text("scopes"))
                    .col(ts("created_at"))
                    .col(ts_null("last_used_at"))
                    .col(ts_null("revoked_at"))
                    .foreign_key(&mut fk("oauth_grants", "app_id", "partner_apps"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("oauth_grants", "ix_oauth_grants_app", &["app_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oauth_codes")
                    .col(id())
                    .col(text("code_hash").unique_key())
                    .col(uuid("grant_id"))
                    .col(text_null("redirect_uri"))
                    .col(text("code_challenge"))
                    .col(ts("expires_at"))
                    .col(ts_null("used_at"))
                    .foreign_key(&mut fk("oauth_codes", "grant_id", "oauth_grants"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oauth_refresh_tokens")
                    .col(id())
                    .col(text("token_hash").unique_key())
                    .col(uuid("grant_id"))
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    .col(ts_null("used_at"))
                    .foreign_key(&mut fk("oauth_refresh_tokens", "grant_id", "oauth_grants"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("oauth_signing_keys")
                    .col(id())
                    .col(text("algorithm"))
                    .col(text("private_key"))
                    .col(text("public_key"))
                    .col(ts("created_at"))
                    .col(ts_null("retired_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "oauth_signing_keys",
            "oauth_refresh_tokens",
            "oauth_codes",
            "oauth_grants",
            "partner_app_secrets",
            "partner_apps",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
