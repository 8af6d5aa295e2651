//! The records-exchange flow: a connection's validation mode (requests go to the service's
//! production test address), the secret that signs what a service sends back (sealed, in its
//! own table so its `key_id` stands beside it), and the requests for outside records with
//! what came back.

use sea_orm_migration::prelude::*;

use crate::columns::{boolean, id, index, text, text_null, ts, ts_null, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("service_connections")
                    .add_column(
                        ColumnDef::new("validation_mode")
                            .boolean()
                            .not_null()
                            .default(false)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("service_connections")
                    .add_column(text_null("validation_address"))
                    .to_owned(),
            )
            .await?;
        // `id` is the connection's id.
        manager
            .create_table(
                Table::create()
                    .table("service_inbound_secrets")
                    .col(id())
                    .col(text("secret"))
                    .col(text_null("key_id"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("outside_records_requests")
                    .col(id())
                    .col(uuid("connection_id"))
                    .col(uuid("patient_id"))
                    .col(uuid("client_id"))
                    .col(text("environment"))
                    .col(boolean("validation"))
                    .col(text("status"))
                    .col(text_null("error_code"))
                    .col(text("message"))
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(text("requested_by"))
                    .col(ts("requested_at"))
                    .col(ts_null("answered_at"))
                    .col(text_null("answer_id"))
                    .col(text_null("records"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "outside_records_requests",
                "ix_outside_records_patient",
                &["patient_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "outside_records_requests",
                "ix_outside_records_connection",
                &["connection_id", "validation", "status"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["outside_records_requests", "service_inbound_secrets"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for column in ["validation_mode", "validation_address"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("service_connections")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
