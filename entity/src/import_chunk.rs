use sea_orm::entity::prelude::*;

/// Part of an import's upload, as sent (whole records, `rows` of them from line
/// `first_line`), sealed since it names patients; deleted when imported.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_chunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_id: Uuid,
    pub seq: i32,
    pub first_line: i32,
    pub rows: i32,
    pub data: String,
    pub key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Without `data`: it names patients, and debug output ends up in logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportChunk")
            .field("id", &self.id)
            .field("job_id", &self.job_id)
            .field("seq", &self.seq)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}
