//! Polling: a LAB connection whose system cannot push results is asked for them on a
//! schedule (every so many seconds, or a cron expression). The row keeps the feed's cursor,
//! so that a restart neither fetches again nor skips, the failures that push the next poll
//! back, and the lease that lets one replica poll a connection at a time.

use sea_orm_migration::prelude::*;

use crate::columns::{boolean, index, int, int_null, text, text_null, ts, ts_null, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_polls")
                    .col(
                        ColumnDef::new("connection_id")
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    // One of the two is set.
                    .col(int_null("every_seconds"))
                    .col(text_null("cron"))
                    .col(text("path"))
                    .col(boolean("enabled"))
                    .col(text_null("cursor"))
                    .col(ts("next_at"))
                    .col(int("failures"))
                    .col(ts_null("last_polled_at"))
                    .col(text_null("last_outcome"))
                    .col(text_null("last_message"))
                    .col(uuid_null("lease_owner"))
                    .col(ts_null("lease_until"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("service_polls", "ix_service_polls_due", &["next_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("service_polls").if_exists().to_owned())
            .await
    }
}
