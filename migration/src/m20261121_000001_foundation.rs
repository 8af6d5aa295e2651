use sea_orm_migration::prelude::*;

use crate::columns::{fk, id, index, text, text_null, ts, ts_null, uuid, uuid_null};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("clients")
                    .col(id())
                    .col(text("name"))
                    .col(text("environment"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("locations")
                    .col(id())
                    .col(uuid("client_id"))
                    .col(text("name"))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk("locations", "client_id", "clients"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("patients")
                    .col(id())
                    .col(uuid("client_id"))
                    .col(uuid("location_id"))
                    .col(text_null("external_patient_id"))
                    .col(text_null("first_name"))
                    .col(text_null("last_name"))
                    .col(ColumnDef::new("date_of_birth").date().null())
                    .col(text_null("sex"))
                    .col(text_null("email"))
                    .col(text_null("phone"))
                    .col(text_null("address"))
                    .col(text("diagnoses"))
                    .col(text("medications"))
                    .col(text_null("insurance"))
                    .col(text_null("billing_account"))
                    .col(text("account_status"))
                    .col(text_null("account_reason"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk("patients", "client_id", "clients"))
                    .foreign_key(&mut fk("patients", "location_id", "locations"))
                    .to_owned(),
            )
            .await?;
        // The duplicate rule of the LIS integration guide, enforced by the database so that
        // concurrent creates cannot both succeed. NULLs are distinct on both backends, so
        // patients without an external id do not collide.
        manager
            .create_index(
                index(
                    "patients",
                    "ux_patients_client_external",
                    &["client_id", "external_patient_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "patients",
                "ix_patients_scope",
                &["client_id", "location_id", "id"],
            ))
            .await?;
        manager
            .create_index(index("patients", "ix_patients_last_name", &["last_name"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("lab_tests")
                    .col(id())
                    .col(uuid("patient_id"))
                    .col(uuid("client_id"))
                    .col(uuid("location_id"))
                    .col(text("test_code"))
                    .col(text("test_name"))
                    .col(text("accession_number"))
                    .col(text("status"))
                    .col(text("results"))
                    .col(ts("ordered_at"))
                    .col(ts_null("collected_at"))
                    .col(ts_null("resulted_at"))
                    .col(ts_null("cancelled_at"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk("lab_tests", "patient_id", "patients"))
                    .foreign_key(&mut fk("lab_tests", "client_id", "clients"))
                    .foreign_key(&mut fk("lab_tests", "location_id", "locations"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "lab_tests",
                    "ux_lab_tests_client_accession",
                    &["client_id", "accession_number"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "lab_tests",
                "ix_lab_tests_patient",
                &["patient_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "lab_tests",
                "ix_lab_tests_scope",
                &["client_id", "location_id", "id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("admin_users")
                    .col(id())
                    .col(text("email").unique_key())
                    .col(text("role"))
                    .col(text("password_hash"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("admin_sessions")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(text("token_hash").unique_key())
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    .col(ts_null("revoked_at"))
                    .foreign_key(&mut fk("admin_sessions", "user_id", "admin_users"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(id())
                    .col(text("name"))
                    .col(text("prefix"))
                    .col(text("secret_hash").unique_key())
                    .col(text("scopes"))
                    .col(text("client_ids"))
                    .col(text("location_ids"))
                    .col(text("environment"))
                    .col(ts_null("expires_at"))
                    .col(ts_null("revoked_at"))
                    .col(ts_null("last_used_at"))
                    .col(uuid_null("rotated_to"))
                    .col(uuid_null("created_by"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(id())
                    .col(ts("occurred_at"))
                    .col(text("actor_kind"))
                    .col(text("actor_id"))
                    .col(text("actor_label"))
                    .col(text("action"))
                    .col(text("operation"))
                    .col(text("record_type"))
                    .col(text("record_ids"))
                    .col(text("fields"))
                    .col(text_null("ip"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "audit_events",
                "ix_audit_events_occurred",
                &["occurred_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("settings")
                    .col(
                        ColumnDef::new("key")
                            .text()
                            .not_null()
                            .primary_key()
                            .to_owned(),
                    )
                    .col(text("value"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        // Audit is append-only. The application never changes it; on PostgreSQL the database
        // also refuses to, so a bug or a stolen application credential cannot rewrite history.
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
            )
            .await?;
        } else if manager.get_database_backend() == DbBackend::Sqlite {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "settings",
            "audit_events",
            "api_keys",
            "admin_sessions",
            "admin_users",
            "lab_tests",
            "patients",
            "locations",
            "clients",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
