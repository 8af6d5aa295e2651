//! Partner applications and the OAuth 2.0 authorization server's state: apps and their client
//! secrets, the grants users (or a backend, by client credentials) gave them, single-use
//! authorization codes, rotating refresh tokens, and the keys access tokens are signed with.
//! Secrets, codes and refresh tokens are stored as SHA-256 hashes only (256 random bits each).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id() -> ColumnDef {
    ColumnDef::new("id")
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}
fn uuid(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().to_owned()
}
fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().null().to_owned()
}
fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}
fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}
fn ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
fn ts_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}
fn fk(from: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(from, col)
        .to(to, "id")
        .to_owned()
}
fn index(table: &'static str, name: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(*c);
    }
    stmt.to_owned()
}

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
