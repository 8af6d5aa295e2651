//! Lab results intake for settings administrators: the messages received and the
//! dead-letter queue (masked; revealing a message whole is audited), reprocessing and
//! discarding a dead message (audited), and each connection's code mapping.

use entity::{lab_code_mapping, lab_message, service_connection};
use uuid::Uuid;

use super::Access;
use crate::domain::csv;
use crate::domain::lab_intake::{LabMessageStatus, MAPPED_CODE_MAX, MappingKind};
use crate::error::{AppError, AppResult};
use crate::integrations::intake;
use crate::store::lab_code_mappings::{self, Entry};
use crate::store::lab_messages::{self, MessageFilter};
use crate::store::{Effects, service_connections};

/// Messages per page at most.
pub const MAX_PAGE: u64 = 200;
/// Entries in one mapping change at most (a CSV import included).
pub const MAX_MAPPING_ENTRIES: usize = 10_000;
/// The longest reason a discard takes.
pub const MAX_REASON: usize = 500;

pub struct LabIntake<'a> {
    access: &'a Access,
}

impl<'a> LabIntake<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        LabIntake { access }
    }

    fn allowed(&self) -> AppResult<()> {
        self.access.principal().require_settings_admin()
    }

    async fn connection(&self, id: Uuid) -> AppResult<service_connection::Model> {
        service_connections::find(self.access.store().conn(), id)
            .await?
            .filter(|c| self.access.sees_environment(&c.environment))
            .ok_or(AppError::NotFound("service connection"))
    }

    /// A message of a connection in the caller's environment.
    async fn message(&self, id: Uuid) -> AppResult<lab_message::Model> {
        let message = lab_messages::find(self.access.store().conn(), id)
            .await?
            .ok_or(AppError::NotFound("lab message"))?;
        if self.access.environment().is_some() {
            // A message of no connection (or of a connection of the other environment) is
            // outside every one environment, as in `lab_messages::list`.
            let id = message
                .connection_id
                .ok_or(AppError::NotFound("lab message"))?;
            match self.connection(id).await {
                Err(AppError::NotFound(_)) => return Err(AppError::NotFound("lab message")),
                other => other?,
            };
        }
        Ok(message)
    }

    pub async fn list(
        &self,
        filter: &MessageFilter,
        first: u64,
    ) -> AppResult<Vec<lab_message::Model>> {
        self.allowed()?;
        let env = self.access.environment();
        lab_messages::list(self.access.store().conn(), filter, env, first.min(MAX_PAGE)).await
    }

    pub async fn get(&self, id: Uuid) -> AppResult<Option<lab_message::Model>> {
        self.allowed()?;
        match self.message(id).await {
            Ok(message) => Ok(Some(message)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The message with its personal segments masked (no audit: it shows no patient data).
    pub fn masked(&self, message: &lab_message::Model) -> AppResult<String> {
        self.allowed()?;
        let raw = lab_messages::raw(self.access.store().keyring(), message)?;
        Ok(crate::domain::hl7::mask(&raw))
    }

    /// The message whole, patient data included: audited before it is answered.
    pub async fn reveal(&self, id: Uuid) -> AppResult<String> {
        self.allowed()?;
        let message = self.message(id).await?;
        let raw = lab_messages::raw(self.access.store().keyring(), &message)?;
        let event = self.access.event(
            "READ",
            "revealLabMessage",
            "lab_message",
            vec![message.id],
            vec!["raw".into()],
        );
        self.access.store().insert_audit_events(&[event]).await?;
        Ok(raw)
    }

    pub async fn reprocess(&self, id: Uuid) -> AppResult<intake::Reprocessed> {
        self.allowed()?;
        let message = self.message(id).await?;
        if message.status != LabMessageStatus::Dead.as_str() {
            return Err(AppError::Conflict(format!(
                "only a message in the dead-letter queue is reprocessed; this one is {}",
                message.status
            )));
        }
        let by = self.access.principal().label().to_owned();
        let message_id = message.id;
        let done = intake::reprocess(
            self.access.store(),
            message,
            |test_ids| {
                let mut ids = vec![message_id];
                ids.extend(test_ids);
                self.access.event(
                    "UPDATE",
                    "reprocessLabMessage",
                    "lab_message",
                    ids,
                    vec!["status".into(), "results".into()],
                )
            },
            &by,
        )
        .await?;
        if done.problem.is_some() {
            // Tried and still dead: the attempt is audited too.
            let event = self.access.event(
                "UPDATE",
                "reprocessLabMessage",
                "lab_message",
                vec![message_id],
                vec!["errorCode".into()],
            );
            self.access.store().insert_audit_events(&[event]).await?;
        }
        Ok(done)
    }

    pub async fn discard(&self, id: Uuid, reason: &str) -> AppResult<lab_message::Model> {
        self.allowed()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(AppError::invalid(
                "reason",
                format!("1 to {MAX_REASON} characters"),
            ));
        }
        let message = self.message(id).await?;
        if message.status != LabMessageStatus::Dead.as_str() {
            return Err(AppError::Conflict(format!(
                "only a message in the dead-letter queue is discarded; this one is {}",
                message.status
            )));
        }
        let by = self.access.principal().label().to_owned();
        let store = self.access.store();
        let txn = store.begin_write().await?;
        let done = lab_messages::settle(
            &txn.txn,
            &message,
            LabMessageStatus::Dead.as_str(),
            lab_messages::Outcome {
                status: LabMessageStatus::Discarded.as_str(),
                ack_code: &message.ack_code,
                ack: &message.ack,
                error_code: message.error_code.as_deref(),
                error_message: message.error_message.as_deref(),
                test_ids: &message.test_ids,
                resolved: Some((chrono::Utc::now(), &by, reason)),
                connection_id: None,
            },
            false,
        )
        .await?;
        if !done {
            drop(txn);
            return Err(AppError::Conflict(
                "the message was reprocessed or discarded meanwhile".into(),
            ));
        }
        let event = self.access.event(
            "UPDATE",
            "discardLabMessage",
            "lab_message",
            vec![message.id],
            vec!["status".into(), "resolution".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        self.message(id).await
    }

    /// How many of a connection's messages wait in the dead-letter queue.
    pub async fn dead_count(&self, connection_id: Uuid) -> AppResult<u64> {
        self.allowed()?;
        lab_messages::count(
            self.access.store().conn(),
            connection_id,
            LabMessageStatus::Dead.as_str(),
        )
        .await
    }

    pub async fn mappings(&self, connection_id: Uuid) -> AppResult<Vec<lab_code_mapping::Model>> {
        self.allowed()?;
        lab_code_mappings::of_connection(self.access.store().conn(), connection_id).await
    }

    /// Adds or replaces mapping entries (all or none: one bad entry refuses the change,
    /// naming it).
    pub async fn set_mappings(
        &self,
        connection_id: Uuid,
        entries: Vec<Entry>,
        operation: &str,
    ) -> AppResult<Vec<lab_code_mapping::Model>> {
        self.allowed()?;
        self.connection(connection_id).await?;
        if entries.len() > MAX_MAPPING_ENTRIES {
            return Err(AppError::invalid(
                "entries",
                format!("at most {MAX_MAPPING_ENTRIES} entries at once"),
            ));
        }
        for (i, e) in entries.iter().enumerate() {
            check_entry(e).map_err(|(field, message)| {
                AppError::invalid(format!("entries[{i}].{field}"), message)
            })?;
        }
        let count = entries.len();
        let store = self.access.store();
        let txn = store.begin_write().await?;
        lab_code_mappings::upsert(&txn.txn, connection_id, entries).await?;
        let event = self.access.event(
            "UPDATE",
            operation,
            "service_connection",
            vec![connection_id],
            vec![format!("codeMappings ({count})")],
        );
        txn.commit(Effects::audited(event)).await?;
        self.mappings(connection_id).await
    }

    pub async fn delete_mapping(
        &self,
        connection_id: Uuid,
        kind: MappingKind,
        local_code: &str,
    ) -> AppResult<bool> {
        self.allowed()?;
        let store = self.access.store();
        let txn = store.begin_write().await?;
        let done =
            lab_code_mappings::delete(&txn.txn, connection_id, kind.as_str(), local_code).await?;
        let event = self.access.event(
            "UPDATE",
            "deleteCodeMapping",
            "service_connection",
            vec![connection_id],
            vec!["codeMappings".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(done)
    }
}

fn check_entry(e: &Entry) -> Result<(), (&'static str, String)> {
    let code = |field: &'static str, v: &str| {
        if v.is_empty() || v.chars().count() > MAPPED_CODE_MAX {
            return Err((field, format!("1 to {MAPPED_CODE_MAX} characters")));
        }
        if v.chars().any(char::is_control) {
            return Err((field, "must not contain control characters".into()));
        }
        Ok(())
    };
    code("localCode", &e.local_code)?;
    code("code", &e.code)?;
    if let Some(loinc) = &e.loinc {
        code("loinc", loinc)?;
    }
    if let Some(name) = &e.name
        && (name.chars().count() > 200 || name.chars().any(char::is_control))
    {
        return Err((
            "name",
            "at most 200 characters, without control characters".into(),
        ));
    }
    Ok(())
}

/// Reads a mapping CSV: a header row naming the columns `kind`, `localCode`, `code` and
/// optionally `loinc` and `name` (in any order), then one entry per row. Fields may be
/// quoted (`"…"`, with `""` for a quote). An error names the line.
pub fn parse_mapping_csv(csv: &str) -> AppResult<Vec<Entry>> {
    let mut lines = csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(AppError::invalid("csv", "is empty"));
    };
    let columns: Vec<String> = csv::fields(header)
        .map_err(|e| AppError::invalid("csv", format!("line 1: {e}")))?
        .into_iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let at = |name: &str| columns.iter().position(|c| c == name);
    let (Some(kind), Some(local), Some(code)) = (at("kind"), at("localcode"), at("code")) else {
        return Err(AppError::invalid(
            "csv",
            "the header must name the columns kind, localCode and code (loinc and name are optional)",
        ));
    };
    let (loinc, name) = (at("loinc"), at("name"));
    let mut entries = vec![];
    for (i, line) in lines {
        let n = i + 1;
        let fields =
            csv::fields(line).map_err(|e| AppError::invalid("csv", format!("line {n}: {e}")))?;
        let get = |c: usize| {
            fields
                .get(c)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let opt = |c: Option<usize>| c.map(get).filter(|v| !v.is_empty());
        let kind: MappingKind = get(kind).to_ascii_uppercase().parse().map_err(|_| {
            AppError::invalid("csv", format!("line {n}: kind must be TEST or OBSERVATION"))
        })?;
        let entry = Entry {
            kind: kind.as_str().into(),
            local_code: get(local),
            code: get(code),
            loinc: opt(loinc),
            name: opt(name),
        };
        check_entry(&entry).map_err(|(field, message)| {
            AppError::invalid("csv", format!("line {n}: {field} {message}"))
        })?;
        entries.push(entry);
        if entries.len() > MAX_MAPPING_ENTRIES {
            return Err(AppError::invalid(
                "csv",
                format!("at most {MAX_MAPPING_ENTRIES} entries at once"),
            ));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_csv_is_read_by_its_header_and_errors_name_the_line() {
        let entries = parse_mapping_csv(
            "code,kind,localCode,name\nCBC,test,CBC-L,\"Blood count, complete\"\n718-7,OBSERVATION,HGB,\"Hb \"\"total\"\"\"\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, "TEST");
        assert_eq!(entries[0].name.as_deref(), Some("Blood count, complete"));
        assert_eq!(entries[1].name.as_deref(), Some("Hb \"total\""));
        let err = parse_mapping_csv("kind,localCode,code\nTEST,A,B\nPANEL,C,D\n").unwrap_err();
        assert!(err.message().contains("line 3"), "{}", err.message());
        assert!(parse_mapping_csv("a,b\n").is_err());
        assert!(parse_mapping_csv("kind,localCode,code\nTEST,,B\n").is_err());
    }
}
