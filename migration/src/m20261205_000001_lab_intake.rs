//! Lab results intake: the client a LAB connection's results belong to, every HL7 v2 message
//! received (sealed, since it names a patient; with its acknowledgement and what became of
//! it: the dead-letter queue is the messages not taken), and each connection's code mapping.

use sea_orm_migration::prelude::*;

use crate::columns::{id, index, int, text, text_null, ts, ts_null, uuid, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("service_connections")
                    .add_column(uuid_null("client_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("lab_messages")
                    .col(id())
                    // NULL: no connection takes it (an unknown sender, or no readable
                    // header on a listener session that named no connection yet).
                    .col(uuid_null("connection_id"))
                    .col(text("transport"))
                    // MSH-4 and MSH-10; NULL control id: a message whose header could not be
                    // read (each such one is kept apart).
                    .col(text("sending_facility"))
                    .col(text_null("control_id"))
                    .col(text("message_type"))
                    .col(text("status"))
                    .col(text("ack_code"))
                    .col(text("ack"))
                    .col(text_null("error_code"))
                    .col(text_null("error_message"))
                    .col(text("raw"))
                    .col(text_null("key_id"))
                    .col(int("size"))
                    .col(text("test_ids"))
                    .col(int("attempts"))
                    .col(text_null("ip"))
                    .col(ts("received_at"))
                    .col(ts_null("resolved_at"))
                    .col(text_null("resolved_by"))
                    .col(text_null("resolution"))
                    .to_owned(),
            )
            .await?;
        // A resend (same control id from the same facility over the same connection) finds
        // the first; concurrent ones cannot both be taken.
        manager
            .create_index(
                index(
                    "lab_messages",
                    "ux_lab_messages_control",
                    &["connection_id", "sending_facility", "control_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "lab_messages",
                "ix_lab_messages_connection",
                &["connection_id", "status", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "lab_messages",
                "ix_lab_messages_status",
                &["status", "id"],
            ))
            .await?;
        // Start-up and `keys rotate` ask which master keys sealed the messages: an index
        // answers without reading every message.
        manager
            .create_index(index("lab_messages", "ix_lab_messages_key", &["key_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("lab_code_mappings")
                    .col(id())
                    .col(uuid("connection_id"))
                    .col(text("kind"))
                    .col(text("local_code"))
                    .col(text("code"))
                    .col(text_null("loinc"))
                    .col(text_null("name"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "lab_code_mappings",
                    "ux_lab_code_mappings",
                    &["connection_id", "kind", "local_code"],
                )
                .unique()
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["lab_code_mappings", "lab_messages"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("service_connections")
                    .drop_column("client_id")
                    .to_owned(),
            )
            .await
    }
}
