use sea_orm::entity::prelude::*;

/// A patient. List-valued clinical fields are stored as JSON arrays in text columns so the
/// same schema works on SQLite and PostgreSQL.
///
/// `Default` and `serde(default)` serve lists that fetch only the columns a request reads
/// (see the server's `store::columns`): a column not fetched is never read.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub external_patient_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub sex: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub diagnoses: String,
    pub medications: String,
    pub insurance: Option<String>,
    pub billing_account: Option<String>,
    pub account_status: String,
    pub account_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
