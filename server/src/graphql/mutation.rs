use async_graphql::{Context, ID, MergedObject, Object, SelectionField};

use super::ContextExt;
use super::ids::parse_id;
use super::inputs::{
    CreateApiKeyInput, CreatePatientInput, CreateTestInput, UpdatePatientInput, UpdateTestInput,
    key_name, organisation_name,
};
use super::types::admin::IntegrationSettings;
use super::types::admin::{AdminUser, ApiKey, ApiKeySecretPayload, Client, Location, LoginPayload};
use super::types::patient::{CreatePatientPayload, Patient, PatientAccount, UpdatePatientPayload};
use super::types::test::Test;
use crate::domain::environment::Environment;
use crate::domain::scope::Scope;
use crate::error::AppError;

// Resolvers return async-graphql errors; `?` on an `AppError` goes through
// `graphql::error`, which sets the stable code.
type R<T> = async_graphql::Result<T>;

/// Changing patients, tests and settings.
#[derive(MergedObject, Default)]
pub struct Mutation(
    DataMutation,
    AdminMutation,
    super::directory::DirectoryMutation,
    super::webhooks::WebhookMutation,
    super::external_services::ExternalServiceMutation,
    super::outside_records::OutsideRecordsMutation,
    super::lab_intake::LabIntakeMutation,
    super::imports::ImportMutation,
    super::service_polls::ServicePollsMutation,
    super::protection::ProtectionMutation,
);

#[derive(Default)]
pub struct DataMutation;

/// Whether the answer selects anything of the written record (below `field`, if given) but
/// its id: that is a read of the record, audited like one (`Access::finish`).
fn selects_beyond_id(ctx: &Context<'_>, field: Option<&str>) -> bool {
    let here = ctx.field();
    let beyond = |f: SelectionField<'_>| !matches!(f.name(), "id" | "__typename");
    match field {
        None => here.selection_set().any(beyond),
        Some(name) => here
            .selection_set()
            .filter(|f| f.name() == name)
            .any(|f| f.selection_set().any(beyond)),
    }
}

/// A test a mutation answers with more than its id is read, if the caller may read tests
/// (otherwise the guard refuses those fields and nothing is disclosed).
fn answered_test(
    ctx: &Context<'_>,
    access: &crate::access::Access,
    test: &entity::lab_test::Model,
) {
    if access.principal().grant.scopes.contains(Scope::TestsRead) && selects_beyond_id(ctx, None) {
        access.answered_test(test.id);
    }
}

#[Object]
impl DataMutation {
    /// Creates a patient. With an `externalPatientId` that the client already uses, nothing is
    /// created and the error DUPLICATE_PATIENT carries the existing patient's id (when the
    /// caller may see it).
    async fn create_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient to create.")] input: CreatePatientInput,
    ) -> R<Option<CreatePatientPayload>> {
        let req = input.parse()?;
        let access = ctx.access()?;
        let (patient, decision) = access.patients().create(req).await?;
        if selects_beyond_id(ctx, Some("patient")) {
            access.answered_patient(patient.id);
        }
        Ok(Some(CreatePatientPayload {
            account: PatientAccount::of(&patient, decision),
            patient: Patient::whole(patient),
        }))
    }

    /// Changes a patient. Adding a valid email to a patient without an account invites them.
    async fn update_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's id.")] id: ID,
        #[graphql(desc = "The fields to change.")] input: UpdatePatientInput,
    ) -> R<Option<UpdatePatientPayload>> {
        let id = parse_id("id", &id)?;
        let write = input.parse()?;
        let access = ctx.access()?;
        let (patient, decision) = access.patients().update(id, write).await?;
        if selects_beyond_id(ctx, Some("patient")) {
            access.answered_patient(patient.id);
        }
        Ok(Some(UpdatePatientPayload {
            account: Some(PatientAccount::of(&patient, decision)),
            patient: Patient::whole(patient),
        }))
    }

    /// Orders a test for a visible patient.
    async fn create_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test to order.")] input: CreateTestInput,
    ) -> R<Option<Test>> {
        let req = input.parse()?;
        let access = ctx.access()?;
        let test = access.tests().create(req).await?;
        answered_test(ctx, access, &test);
        Ok(Some(Test::whole(test)))
    }

    /// Moves a test along its lifecycle and/or records results.
    async fn update_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateTestInput,
    ) -> R<Option<Test>> {
        let id = parse_id("id", &id)?;
        let change = input.parse()?;
        let access = ctx.access()?;
        let test = access.tests().update(id, change).await?;
        answered_test(ctx, access, &test);
        Ok(Some(Test::whole(test)))
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Logs a portal user in and returns a session token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The portal user's email.")] email: String,
        #[graphql(desc = "The portal user's password.", secret)] password: String,
    ) -> R<Option<LoginPayload>> {
        if email.len() > 254 || password.len() > 1024 {
            return Err(AppError::Unauthenticated("invalid email or password").into());
        }
        let (token, expires_at, user) = ctx.access()?.sessions().login(&email, password).await?;
        Ok(Some(LoginPayload {
            token,
            expires_at,
            user: AdminUser::from_model(&user),
        }))
    }

    /// Ends the current portal session.
    async fn logout(&self, ctx: &Context<'_>) -> R<Option<bool>> {
        Ok(Some(ctx.access()?.sessions().logout().await?))
    }

    /// Creates an API key. The secret is in this answer only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Name, grants and environment of the key.")] input: CreateApiKeyInput,
    ) -> R<Option<ApiKeySecretPayload>> {
        let req = input.parse()?;
        let (key, secret) = ctx.access()?.admin().create_key(req).await?;
        Ok(Some(ApiKeySecretPayload {
            api_key: ApiKey::from(key),
            secret,
        }))
    }

    /// Issues a new secret with the same grants. The old secret keeps working for the grace
    /// period (default one day, at most 30 days), then expires.
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to rotate.")] id: ID,
        #[graphql(
            default = 86400,
            desc = "How long the old secret keeps working, in seconds (0 to 2592000)."
        )]
        grace_period_seconds: i64,
    ) -> R<Option<ApiKeySecretPayload>> {
        let id = parse_id("id", &id)?;
        let grace = chrono::Duration::try_seconds(grace_period_seconds)
            .ok_or_else(|| AppError::invalid("gracePeriodSeconds", "out of range"))?;
        let (key, secret) = ctx.access()?.admin().rotate_key(id, grace).await?;
        Ok(Some(ApiKeySecretPayload {
            api_key: ApiKey::from(key),
            secret,
        }))
    }

    /// Renames a key, with every secret of its rotation (they are one key). Its grants and
    /// secrets are unchanged.
    async fn rename_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to rename (any key of its rotation).")] id: ID,
        #[graphql(desc = "The new name, 1 to 100 characters.")] name: String,
    ) -> R<Option<ApiKey>> {
        let id = parse_id("id", &id)?;
        let name = key_name("name", &name)?;
        Ok(Some(ApiKey::from(
            ctx.access()?.admin().rename_key(id, name).await?,
        )))
    }

    /// Revokes a key at once, with every secret of its rotation (old and new): `id` may be
    /// either.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] id: ID,
    ) -> R<Option<ApiKey>> {
        let id = parse_id("id", &id)?;
        Ok(Some(ApiKey::from(
            ctx.access()?.admin().revoke_key(id).await?,
        )))
    }

    /// Ends a rotation now: the old secrets of the key's rotation stop working at once and the
    /// newest keeps working. Answers with the newest key. `id` may be any key of the rotation.
    async fn end_api_key_rotation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Any key of the rotation (old or new).")] id: ID,
    ) -> R<Option<ApiKey>> {
        let id = parse_id("id", &id)?;
        Ok(Some(ApiKey::from(
            ctx.access()?.admin().end_rotation(id).await?,
        )))
    }

    /// Turns the developer documentation (GraphiQL at `/graphiql` and schema introspection
    /// for non-admin credentials) on or off.
    async fn set_developer_portal_enabled(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "True to offer GraphiQL and introspection to developers.")] enabled: bool,
    ) -> R<Option<IntegrationSettings>> {
        let enabled = ctx
            .access()?
            .admin()
            .set_developer_portal_enabled(enabled)
            .await?;
        Ok(Some(IntegrationSettings {
            developer_portal_enabled: enabled,
        }))
    }

    /// Adds a client organisation.
    async fn create_client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organisation's name.")] name: String,
        #[graphql(desc = "Where its data lives; never changes.")] environment: Environment,
    ) -> R<Option<Client>> {
        let name = organisation_name("name", &name)?;
        let client = ctx
            .access()?
            .admin()
            .create_client(&name, environment)
            .await?;
        Ok(Some(client.into()))
    }

    /// Adds a location to a client.
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client the location belongs to.")] client_id: ID,
        #[graphql(desc = "The location's name.")] name: String,
    ) -> R<Option<Location>> {
        let client_id = parse_id("clientId", &client_id)?;
        let name = organisation_name("name", &name)?;
        let location = ctx
            .access()?
            .admin()
            .create_location(client_id, &name)
            .await?;
        Ok(Some(location.into()))
    }
}
