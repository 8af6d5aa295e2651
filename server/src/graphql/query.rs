use async_graphql::{Context, ID, MergedObject, Object, SelectionField};
use entity::{lab_test, patient};
use uuid::Uuid;

use super::ContextExt;
use super::ids::{page, parse_id};
use super::inputs::{AuditFilterInput, PatientFilterInput, TestFilterInput};
use super::loaders::Loaders;
use super::types::admin::{ApiKey, AuditEventConnection, Client, IntegrationSettings, Viewer};
use super::types::page::node_fields;
use super::types::patient::{Patient, PatientConnection};
use super::types::plain::Cleared;
use super::types::test::{Test, TestConnection};
use crate::store::columns::{Columns, Projected};

// Resolvers return async-graphql errors; `?` on an `AppError` goes through
// `graphql::error`, which sets the stable code.
type R<T> = async_graphql::Result<T>;

/// Reading patients, tests and settings.
#[derive(MergedObject, Default)]
pub struct Query(
    DataQuery,
    AdminQuery,
    super::directory::DirectoryQuery,
    super::webhooks::WebhookQuery,
    super::external_services::ExternalServiceQuery,
    super::outside_records::OutsideRecordsQuery,
    super::lab_intake::LabIntakeQuery,
    super::imports::ImportQuery,
    super::protection::ProtectionQuery,
    super::audit::AuditQuery,
);

#[derive(Default)]
pub struct DataQuery;

/// Whether the client asked for `totalCount`: counting is a second query, so only on demand.
fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// Reads ahead the tests of a page of patients, once per distinct `tests` selection, when
/// the request is cleared: every selected field then resolves, so each patient's `tests`
/// field will take exactly what was read (see `Loaders::prefetch_tests`). Otherwise, or if
/// it fails, the fields go to the loader as before, which reports any error in place.
async fn prefetch_tests(
    ctx: &Context<'_>,
    fields: &[SelectionField<'_>],
    page: &[Projected<patient::Entity>],
) {
    if page.is_empty() || ctx.data_opt::<Cleared>().is_none() {
        return;
    }
    let (Ok(access), Ok(loaders)) = (ctx.access(), ctx.data::<Loaders>()) else {
        return;
    };
    // Each distinct selection with the number of fields selecting it.
    let mut selections: Vec<(Columns<lab_test::Entity>, usize)> = Vec::new();
    for field in fields.iter().filter(|f| f.name() == "tests") {
        let columns = Test::columns(field.selection_set());
        match selections.iter_mut().find(|(c, _)| *c == columns) {
            Some((_, n)) => *n += 1,
            None => selections.push((columns, 1)),
        }
    }
    if selections.is_empty() {
        return;
    }
    let ids: Vec<Uuid> = page.iter().map(|p| p.id()).collect();
    for (columns, n) in selections {
        if let Err(err) = loaders.prefetch_tests(access, &ids, columns, n).await {
            tracing::debug!(error = ?err, "reading tests ahead failed; left to the loader");
            return;
        }
    }
}

#[Object]
impl DataQuery {
    /// One patient by Switchboard id; null if it does not exist or is outside the
    /// credential's clients and locations.
    async fn patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's Switchboard id.")] id: ID,
    ) -> R<Option<Patient>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.patients().get(id).await?.map(Patient::whole))
    }

    /// Patients visible to the caller, oldest first.
    async fn patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrows the list; all filters combine.")] filter: Option<
            PatientFilterInput,
        >,
        #[graphql(
            default = 50,
            desc = "Page size, 0 to `limits.max_page_size` (100 unless configured)."
        )]
        first: i32,
        #[graphql(desc = "A cursor from a previous page's `endCursor`.")] after: Option<String>,
    ) -> R<Option<PatientConnection>> {
        let filter = filter.unwrap_or_default().parse()?;
        let page = page(first, after.as_deref(), ctx.limits().max_page_size)?;
        let patients = ctx.access()?.patients();
        let total = if wants_total(ctx) {
            Some(patients.count(&filter).await?)
        } else {
            None
        };
        let fields = node_fields(ctx);
        let columns = Patient::columns(fields.iter().copied());
        let rows = patients.list(&filter, page, columns).await?;
        prefetch_tests(ctx, &fields, &rows.items).await;
        Ok(Some(PatientConnection::new(rows, total)))
    }

    /// One test by id; null if it does not exist or is outside the credential's scope.
    async fn test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test's id.")] id: ID,
    ) -> R<Option<Test>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.tests().get(id).await?.map(Test::whole))
    }

    /// Tests visible to the caller, oldest first.
    async fn tests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrows the list; all filters combine.")] filter: Option<TestFilterInput>,
        #[graphql(
            default = 50,
            desc = "Page size, 0 to `limits.max_page_size` (100 unless configured)."
        )]
        first: i32,
        #[graphql(desc = "A cursor from a previous page's `endCursor`.")] after: Option<String>,
    ) -> R<Option<TestConnection>> {
        let filter = filter.unwrap_or_default().parse()?;
        let page = page(first, after.as_deref(), ctx.limits().max_page_size)?;
        let tests = ctx.access()?.tests();
        let total = if wants_total(ctx) {
            Some(tests.count(&filter).await?)
        } else {
            None
        };
        let columns = Test::columns(node_fields(ctx));
        let rows = tests.list(&filter, page, columns).await?;
        Ok(Some(TestConnection::new(rows, total)))
    }
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The caller: kind of credential, scopes and restrictions.
    async fn viewer(&self, ctx: &Context<'_>) -> R<Option<Viewer>> {
        Ok(Some(Viewer(ctx.access()?.principal().clone())))
    }

    /// API keys, newest last.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false, desc = "Also list revoked keys.")] include_revoked: bool,
    ) -> R<Option<Vec<ApiKey>>> {
        let keys = ctx.access()?.admin().keys(include_revoked).await?;
        Ok(Some(keys.into_iter().map(ApiKey::listed).collect()))
    }

    /// The audit trail, newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrows the trail; all filters combine.")] filter: Option<
            AuditFilterInput,
        >,
        #[graphql(
            default = 50,
            desc = "Page size, 0 to `limits.max_page_size` (100 unless configured)."
        )]
        first: i32,
        #[graphql(desc = "A cursor from a previous page's `endCursor`.")] after: Option<String>,
    ) -> R<Option<AuditEventConnection>> {
        let filter = filter.unwrap_or_default().parse()?;
        let page = page(first, after.as_deref(), ctx.limits().max_page_size)?;
        let events = ctx.access()?.audit_trail().events(&filter, page).await?;
        Ok(Some(AuditEventConnection::new(events)))
    }

    /// Integration settings that every signed-in caller may read.
    async fn integration_settings(&self, ctx: &Context<'_>) -> R<Option<IntegrationSettings>> {
        let enabled = ctx.access()?.admin().developer_portal_enabled().await?;
        Ok(Some(IntegrationSettings {
            developer_portal_enabled: enabled,
        }))
    }

    /// Client organisations and their locations.
    async fn clients(&self, ctx: &Context<'_>) -> R<Option<Vec<Client>>> {
        let clients = ctx.access()?.admin().clients().await?;
        Ok(Some(clients.into_iter().map(Client::from).collect()))
    }
}
