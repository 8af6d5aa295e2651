//! Proving the audit trail untampered and exporting it (settings administrators). The trail
//! itself is read through `auditEvents`.

use async_graphql::{Context, Enum, Object};

use super::ContextExt;
use super::inputs::AuditFilterInput;
use super::types::audit_chain::AuditVerification;
use crate::audit::export::Format;

type R<T> = async_graphql::Result<T>;

/// The shape of an exported trail.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AuditExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// A header row, then one row per event.
    Csv,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Walks the audit trail's hash chain from the first event to the last, recomputing every
    /// hash: whether it is intact, or where it first breaks. Reads the whole trail.
    async fn audit_verification(&self, ctx: &Context<'_>) -> R<Option<AuditVerification>> {
        let found = ctx.access()?.audit_trail().verify().await?;
        Ok(Some(found.into()))
    }

    /// Every audit event the filter finds (at most 100000), newest first, as one document; the
    /// export is itself recorded (`EXPORT`). `GET /audit/export` serves the same as a file.
    async fn audit_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Narrows the trail, as in `auditEvents` (a time range, most often).")]
        filter: Option<AuditFilterInput>,
        #[graphql(
            default_with = "AuditExportFormat::Ndjson",
            desc = "NDJSON unless asked."
        )]
        format: AuditExportFormat,
    ) -> R<Option<String>> {
        let search = filter.unwrap_or_default().parse()?;
        let format = match format {
            AuditExportFormat::Ndjson => Format::Ndjson,
            AuditExportFormat::Csv => Format::Csv,
        };
        Ok(Some(
            ctx.access()?.audit_trail().export(&search, format).await?,
        ))
    }
}
