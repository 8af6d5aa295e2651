//! API keys and partner apps may be held to their own allowed addresses (a JSON array of CIDR
//! ranges; null: anywhere) and their own request rate (null: the server-wide default).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["api_keys", "partner_apps"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            // One column per statement: SQLite's ALTER TABLE adds one at a time.
            for column in [
                ColumnDef::new("allowed_ips").text().null().to_owned(),
                ColumnDef::new("rate_per_minute")
                    .integer()
                    .null()
                    .to_owned(),
                ColumnDef::new("rate_burst").integer().null().to_owned(),
            ] {
                manager
                    .alter_table(Table::alter().table(table).add_column(column).to_owned())
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            for column in ["allowed_ips", "rate_per_minute", "rate_burst"] {
                manager
                    .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}
