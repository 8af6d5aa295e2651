//! The connection directory's queries and mutations (settings administrators only; the
//! handle checks).

use async_graphql::{Context, ID, Object};

use super::ContextExt;
use super::app_inputs::{ConnectionFilterInput, PartnerAppInput, RegisterPartnerAppInput};
use super::ids::parse_id;
use super::types::partner_app::{Connection, PartnerApp, PartnerAppGrant, PartnerAppSecretPayload};
use crate::domain::partner_app::AppStatus;
use crate::error::AppError;

type R<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Partner apps, oldest first.
    async fn partner_apps(&self, ctx: &Context<'_>) -> R<Option<Vec<PartnerApp>>> {
        let apps = ctx.access()?.directory().apps().await?;
        Ok(Some(apps.into_iter().map(PartnerApp).collect()))
    }

    /// One partner app.
    async fn partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app's id.")] id: ID,
    ) -> R<Option<PartnerApp>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.directory().app(id).await?.map(PartnerApp))
    }

    /// Everything that can reach patient data, partner apps and API keys side by side,
    /// newest first.
    async fn active_connections(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "Keep only these connections.")] filter: ConnectionFilterInput,
    ) -> R<Option<Vec<Connection>>> {
        let all = ctx
            .access()?
            .directory()
            .connections(&filter.into())
            .await?;
        Ok(Some(all.into_iter().map(Connection).collect()))
    }
}

#[derive(Default)]
pub struct DirectoryMutation;

async fn set_status(ctx: &Context<'_>, id: &ID, status: AppStatus) -> R<Option<PartnerApp>> {
    let id = parse_id("id", id)?;
    let view = ctx.access()?.directory().set_status(id, status).await?;
    Ok(Some(PartnerApp(view)))
}

#[Object]
impl DirectoryMutation {
    /// Registers a partner app. A confidential app's client secret is in this answer only.
    async fn register_partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to register.")] input: RegisterPartnerAppInput,
    ) -> R<Option<PartnerAppSecretPayload>> {
        let form = input.app.parse()?;
        let (view, secret) = ctx
            .access()?
            .directory()
            .register(form, input.environment, input.client_type)
            .await?;
        Ok(Some(PartnerAppSecretPayload {
            partner_app: PartnerApp(view),
            client_secret: secret,
        }))
    }

    /// Changes what is registered for an app. A lowered ceiling applies to its tokens from
    /// their next request.
    async fn update_partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
        #[graphql(desc = "Everything registered for it, replaced.")] input: PartnerAppInput,
    ) -> R<Option<PartnerApp>> {
        let id = parse_id("id", &id)?;
        let form = input.parse()?;
        let view = ctx.access()?.directory().update(id, form).await?;
        Ok(Some(PartnerApp(view)))
    }

    /// Suspends an app: every token of it is refused from its next request, until it is
    /// reactivated.
    async fn suspend_partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
    ) -> R<Option<PartnerApp>> {
        set_status(ctx, &id, AppStatus::Suspended).await
    }

    /// Lets a suspended app's grants work again.
    async fn reactivate_partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
    ) -> R<Option<PartnerApp>> {
        set_status(ctx, &id, AppStatus::Active).await
    }

    /// Revokes an app for good, with every grant and secret, at once.
    async fn revoke_partner_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
    ) -> R<Option<PartnerApp>> {
        set_status(ctx, &id, AppStatus::Revoked).await
    }

    /// Issues a new client secret. The old ones keep working for the overlap (default one
    /// day, at most 30 days), then stop, with the backend tokens issued under them.
    async fn rotate_partner_app_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app.")] id: ID,
        #[graphql(
            default = 86400,
            desc = "How long the old secrets keep working, in seconds (0 to 2592000)."
        )]
        overlap_seconds: i64,
    ) -> R<Option<PartnerAppSecretPayload>> {
        let id = parse_id("id", &id)?;
        let overlap = chrono::Duration::try_seconds(overlap_seconds)
            .ok_or_else(|| AppError::invalid("overlapSeconds", "out of range"))?;
        let (view, secret) = ctx.access()?.directory().rotate_secret(id, overlap).await?;
        Ok(Some(PartnerAppSecretPayload {
            partner_app: PartnerApp(view),
            client_secret: Some(secret),
        }))
    }

    /// Revokes one grant: its access and refresh tokens are refused from their next request.
    async fn revoke_partner_app_grant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The grant.")] id: ID,
    ) -> R<Option<PartnerAppGrant>> {
        let id = parse_id("id", &id)?;
        let grant = ctx.access()?.directory().revoke_grant(id).await?;
        Ok(Some(PartnerAppGrant(grant)))
    }
}
