//! Batch imports of patients: a job per upload, the upload itself in sealed chunks until each
//! is imported (a chunk is one batch, deleted in the batch's transaction, so the cursor and the
//! patients it covers commit together), and each refused row with its line and reason.

use sea_orm_migration::prelude::*;

use crate::columns::{id, index, int, text, text_null, ts, ts_null, uuid, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("import_jobs")
                    .col(id())
                    .col(text("environment"))
                    .col(uuid("client_id"))
                    .col(uuid("location_id"))
                    .col(text("format"))
                    .col(text("status"))
                    // Who started it and what they could do then (`access::imports`): the
                    // job runs with exactly that, after a restart too.
                    .col(text("actor_kind"))
                    .col(uuid_null("actor_id"))
                    .col(text("actor"))
                    .col(text("authority"))
                    .col(text_null("ip"))
                    // A CSV upload's header line (column names only).
                    .col(text_null("header"))
                    .col(int("total_rows"))
                    .col(int("processed"))
                    .col(int("created"))
                    .col(int("duplicates"))
                    .col(int("failed"))
                    .col(int("next_chunk"))
                    .col(int("chunks"))
                    .col(text_null("error"))
                    .col(uuid_null("lease_owner"))
                    .col(ts_null("lease_until"))
                    .col(ts("created_at"))
                    .col(ts_null("started_at"))
                    .col(ts_null("finished_at"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("import_jobs", "ix_import_jobs_status", &["status"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("import_chunks")
                    .col(id())
                    .col(uuid("job_id"))
                    .col(int("seq"))
                    .col(int("first_line"))
                    .col(int("rows"))
                    .col(text("data"))
                    .col(text_null("key_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("import_chunks", "ux_import_chunks_seq", &["job_id", "seq"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("import_chunks", "ix_import_chunks_key", &["key_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("import_refusals")
                    .col(uuid("job_id"))
                    .col(int("line"))
                    .col(text("code"))
                    .col(text_null("field"))
                    .col(text("message"))
                    .primary_key(Index::create().col("job_id").col("line"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["import_refusals", "import_chunks", "import_jobs"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
