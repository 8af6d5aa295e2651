use sea_orm::entity::prelude::*;

/// A sample/order in the lab's order index. `results` is a JSON array of result lines.
///
/// `Default` and `serde(default)` serve lists that fetch only the columns a request reads
/// (see the server's `store::columns`): a column not fetched is never read.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "lab_tests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub test_code: String,
    pub test_name: String,
    pub accession_number: String,
    pub status: String,
    pub results: String,
    pub ordered_at: DateTimeUtc,
    pub collected_at: Option<DateTimeUtc>,
    pub resulted_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
