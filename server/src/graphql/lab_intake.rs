//! Lab results intake for settings administrators: the messages received and the
//! dead-letter queue, reprocess and discard, and each connection's code mapping.

use async_graphql::{Context, ID, InputObject, Object};

use super::ContextExt;
use super::ids::parse_id;
use super::types::lab_intake::{CodeMapping, LabMessage, LabMessageReprocess};
use crate::access::lab_intake::parse_mapping_csv;
use crate::domain::lab_intake::{LabMessageStatus, MappingKind};
use crate::store::lab_code_mappings::Entry;
use crate::store::lab_messages::MessageFilter;

type R<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct LabIntakeQuery;

#[Object]
impl LabIntakeQuery {
    /// Lab messages received, newest first: all, one connection's, or by status (`DEAD`:
    /// the dead-letter queue).
    async fn lab_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this connection's messages.")] connection_id: Option<ID>,
        #[graphql(desc = "Only messages with this status (DEAD: the dead-letter queue).")]
        status: Option<LabMessageStatus>,
        #[graphql(default = 50, desc = "How many, at most 200.")] first: i32,
        #[graphql(desc = "Messages older than this one (the last of the previous page).")]
        before: Option<ID>,
    ) -> R<Option<Vec<LabMessage>>> {
        let filter = MessageFilter {
            connection_id: connection_id
                .map(|id| parse_id("connectionId", &id))
                .transpose()?,
            status: status.map(|s| s.as_str().to_owned()),
            before: before.map(|id| parse_id("before", &id)).transpose()?,
        };
        let first = u64::try_from(first).unwrap_or(0);
        let list = ctx.access()?.lab_intake().list(&filter, first).await?;
        Ok(Some(list.into_iter().map(LabMessage).collect()))
    }

    /// One lab message.
    async fn lab_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id.")] id: ID,
    ) -> R<Option<LabMessage>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.access()?.lab_intake().get(id).await?.map(LabMessage))
    }
}

/// One code-mapping entry to add or replace.
#[derive(InputObject)]
pub struct CodeMappingInput {
    /// TEST (an OBR-4 code) or OBSERVATION (an OBX-3 code).
    pub kind: MappingKind,
    /// The lab's code (OBR-4 for a test, OBX-3 for an observation).
    pub local_code: String,
    /// Switchboard's code it stands for.
    pub code: String,
    /// The LOINC code, where known.
    pub loinc: Option<String>,
    /// A name for people.
    pub name: Option<String>,
}

#[derive(Default)]
pub struct LabIntakeMutation;

#[Object]
impl LabIntakeMutation {
    /// A lab message whole, patient data included. Audited before it is answered.
    async fn reveal_lab_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id.")] id: ID,
    ) -> R<Option<String>> {
        let id = parse_id("id", &id)?;
        Ok(Some(ctx.access()?.lab_intake().reveal(id).await?))
    }

    /// Processes a message of the dead-letter queue again, after a fix (the patient or order
    /// now exists, the code mapping lists the code). Taken: its results are stored and it
    /// becomes REPROCESSED; not: it stays DEAD with the new reason. Audited either way.
    async fn reprocess_lab_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id.")] id: ID,
    ) -> R<Option<LabMessageReprocess>> {
        let id = parse_id("id", &id)?;
        let done = ctx.access()?.lab_intake().reprocess(id).await?;
        Ok(Some(LabMessageReprocess {
            message: LabMessage(done.message),
            problem: done.problem.map(Into::into),
        }))
    }

    /// Removes a message from the dead-letter queue without processing it (it is kept, as
    /// DISCARDED, with the reason). Audited.
    async fn discard_lab_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id.")] id: ID,
        #[graphql(desc = "Why (1 to 500 characters).")] reason: String,
    ) -> R<Option<LabMessage>> {
        let id = parse_id("id", &id)?;
        let message = ctx.access()?.lab_intake().discard(id, &reason).await?;
        Ok(Some(LabMessage(message)))
    }

    /// Adds or replaces entries of a LAB connection's code mapping (all or none). Answers
    /// the whole mapping.
    async fn set_code_mappings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The LAB connection.")] connection_id: ID,
        #[graphql(desc = "The entries (at most 10000).")] entries: Vec<CodeMappingInput>,
    ) -> R<Option<Vec<CodeMapping>>> {
        let connection_id = parse_id("connectionId", &connection_id)?;
        let entries = entries
            .into_iter()
            .map(|e| Entry {
                kind: e.kind.as_str().into(),
                local_code: e.local_code.trim().to_owned(),
                code: e.code.trim().to_owned(),
                loinc: e
                    .loinc
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty()),
                name: e
                    .name
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty()),
            })
            .collect();
        let all = ctx
            .access()?
            .lab_intake()
            .set_mappings(connection_id, entries, "setCodeMappings")
            .await?;
        Ok(Some(all.into_iter().map(CodeMapping).collect()))
    }

    /// Adds or replaces code-mapping entries from CSV: a header naming `kind`, `localCode`,
    /// `code` (and optionally `loinc`, `name`), then one entry per line. All or none; an
    /// error names the line.
    async fn import_code_mappings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The LAB connection.")] connection_id: ID,
        #[graphql(desc = "The CSV text, header first.")] csv: String,
    ) -> R<Option<Vec<CodeMapping>>> {
        let connection_id = parse_id("connectionId", &connection_id)?;
        let access = ctx.access()?;
        access.principal().require_settings_admin()?;
        let entries = parse_mapping_csv(&csv)?;
        let all = access
            .lab_intake()
            .set_mappings(connection_id, entries, "importCodeMappings")
            .await?;
        Ok(Some(all.into_iter().map(CodeMapping).collect()))
    }

    /// Removes one code-mapping entry; whether it was there.
    async fn delete_code_mapping(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The LAB connection.")] connection_id: ID,
        #[graphql(desc = "The entry's kind.")] kind: MappingKind,
        #[graphql(desc = "The entry's local code.")] local_code: String,
    ) -> R<Option<bool>> {
        let connection_id = parse_id("connectionId", &connection_id)?;
        Ok(Some(
            ctx.access()?
                .lab_intake()
                .delete_mapping(connection_id, kind, &local_code)
                .await?,
        ))
    }
}
