use sea_orm::entity::prelude::*;

/// One entry of a lab connection's code mapping: the lab's local code of a test or an
/// observation (`kind`), and Switchboard's code (and LOINC, where known) it stands for.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_code_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub connection_id: Uuid,
    pub kind: String,
    pub local_code: String,
    pub code: String,
    pub loinc: Option<String>,
    pub name: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
