use sea_orm::entity::prelude::*;

/// A batch import of patients: where they go, who started it (`authority`: the scopes and
/// rows it runs with), how far it got (`next_chunk` and the counts, moved in each batch's
/// transaction) and who runs it now (`lease_owner` until `lease_until`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub environment: String,
    pub client_id: Uuid,
    pub location_id: Uuid,
    pub format: String,
    pub status: String,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    /// The audit trail's `Who`, as JSON.
    pub actor: String,
    /// Scopes and row limits, as JSON.
    pub authority: String,
    pub ip: Option<String>,
    pub header: Option<String>,
    pub total_rows: i32,
    pub processed: i32,
    pub created: i32,
    pub duplicates: i32,
    pub failed: i32,
    pub tests_created: i32,
    pub next_chunk: i32,
    pub chunks: i32,
    pub error: Option<String>,
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
