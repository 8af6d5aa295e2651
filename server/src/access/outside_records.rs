//! Requests for a patient's outside records (records exchange). Asking sends the patient's
//! demographics and clinical information to an outside service, so it needs what reading them
//! needs (`patients:read`, `patients.demographics:read`, `patients.clinical:read`) and the
//! patient within the caller's rows. Environments never mix: a production patient never goes
//! to a sandbox connection, nor a sandbox patient to a production one; a refusal is logged
//! and audited. The secret services sign their answers with is settings administrators'.

use chrono::Utc;
use entity::{outside_records_request as request, service_connection};
use uuid::Uuid;

use super::Access;
use crate::domain::environment::Environment;
use crate::domain::integration::{Direction, IntegrationErrorCode, Operation, Outcome};
use crate::domain::records_exchange::{OutgoingRequest, PatientSummary, RecordsRequestStatus};
use crate::domain::scope::Scope;
use crate::domain::service_connection::ServiceType;
use crate::domain::webhook_endpoint::new_signing_secret;
use crate::error::{AppError, AppResult};
use crate::integrations::exchanges;
use crate::integrations::services::Outgoing;
use crate::store::Effects;
use crate::store::{clients, outside_records as store, service_connections};

/// Requests listed per patient at most.
pub const MAX_PAGE: u64 = 100;

pub struct OutsideRecords<'a> {
    access: &'a Access,
}

/// A new inbound secret, shown once, and where the service sends to.
pub struct InboundSecret {
    pub secret: String,
    pub url: String,
}

/// Where `connection`'s service sends its answers.
pub fn inbound_url(public_base: &str, connection: Uuid) -> String {
    format!("{public_base}/services/{connection}/inbound")
}

/// Where a connection's service sends Switchboard signed messages, if it does: a records
/// service its answers (`/inbound`), an HTTPS_JSON lab its results (`/results`).
pub fn signed_inbound_url(
    public_base: &str,
    connection: &service_connection::Model,
) -> Option<String> {
    let id = connection.id;
    if connection.service_type == ServiceType::RecordsExchange.as_str() {
        Some(inbound_url(public_base, id))
    } else if connection.service_type == ServiceType::Lab.as_str()
        && connection.protocol == crate::domain::service_connection::Protocol::HttpsJson.as_str()
    {
        Some(format!("{public_base}/services/{id}/results"))
    } else {
        None
    }
}

impl<'a> OutsideRecords<'a> {
    pub(super) fn new(access: &'a Access) -> Self {
        OutsideRecords { access }
    }

    fn require_reader(&self) -> AppResult<()> {
        let p = self.access.principal();
        for scope in [
            Scope::PatientsRead,
            Scope::DemographicsRead,
            Scope::ClinicalRead,
        ] {
            p.require(scope)?;
        }
        Ok(())
    }

    async fn records_connection(&self, id: Uuid) -> AppResult<service_connection::Model> {
        let row = service_connections::find(self.access.store().conn(), id)
            .await?
            .ok_or(AppError::NotFound("service connection"))?;
        if row.service_type != ServiceType::RecordsExchange.as_str() {
            return Err(AppError::invalid(
                "connectionId",
                "not a RECORDS_EXCHANGE connection",
            ));
        }
        Ok(row)
    }

    /// Sends the patient's request to the connection's service (tried again after retryable
    /// failures). The request comes back whatever happened: `SENT` (or `VALIDATED`), or
    /// `FAILED` with the code.
    pub async fn request(
        &self,
        patient_id: Uuid,
        connection_id: Uuid,
    ) -> AppResult<request::Model> {
        self.require_reader()?;
        let patient = self
            .access
            .patients()
            .get(patient_id)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        let connection = self.records_connection(connection_id).await?;
        if !connection.enabled {
            return Err(AppError::invalid(
                "connectionId",
                "the connection is disabled",
            ));
        }
        let store = self.access.store();
        let production =
            !clients::in_environment(store.conn(), &[patient.client_id], Environment::Production)
                .await?
                .is_empty();
        let patient_env = if production {
            Environment::Production
        } else {
            Environment::Sandbox
        };
        let connection_env = Environment::from_stored(&connection.environment);
        if patient_env != connection_env {
            return Err(self
                .refuse_mixed(&connection, patient_id, patient_env, connection_env)
                .await);
        }
        let list = |raw: &str| serde_json::from_str::<Vec<String>>(raw).unwrap_or_default();
        let outgoing = OutgoingRequest {
            request_id: Uuid::now_v7(),
            environment: connection_env.as_str(),
            validation: connection.validation_mode,
            callback_url: inbound_url(self.access.public_base(), connection.id),
            patient: PatientSummary {
                external_patient_id: patient.external_patient_id.clone(),
                first_name: patient.first_name.clone(),
                last_name: patient.last_name.clone(),
                date_of_birth: patient.date_of_birth,
                sex: patient.sex.clone(),
                diagnoses: list(&patient.diagnoses),
                medications: list(&patient.medications),
            },
        };
        let request_id = outgoing.request_id;
        let validation = outgoing.validation;
        let (report, tries) = exchanges::send(
            store,
            self.access.reach(),
            &connection,
            &Outgoing::RecordsRequest(outgoing),
        )
        .await?;
        let status = match (&report.failure, validation) {
            (Some(_), _) => RecordsRequestStatus::Failed,
            (None, true) => RecordsRequestStatus::Validated,
            (None, false) => RecordsRequestStatus::Sent,
        };
        let tried = if tries > 1 {
            format!(" (after {tries} tries)")
        } else {
            String::new()
        };
        let mut entry = exchanges::entry(
            &connection,
            Operation::RequestRecords,
            &report,
            if validation {
                "the service's test address accepted the request (validation)"
            } else {
                "the service accepted the request"
            },
        );
        entry.message.push_str(&tried);
        let row = request::Model {
            id: request_id,
            connection_id: connection.id,
            patient_id,
            client_id: patient.client_id,
            environment: connection_env.as_str().into(),
            validation,
            status: status.as_str().into(),
            error_code: report.failure.as_ref().map(|f| f.code.as_str().into()),
            message: entry.message.clone(),
            attempts: i32::try_from(tries).unwrap_or(i32::MAX),
            requested_by: self.access.principal().label().to_owned(),
            requested_at: Utc::now(),
            answered_at: None,
            answer_id: None,
            records: None,
        };
        let event = self.access.event(
            "CREATE",
            "requestOutsideRecords",
            "outside_records_request",
            vec![request_id, patient_id],
            vec![],
        );
        let status = exchanges::health_after(store, &connection, &entry).await?;
        let txn = store.begin_write().await?;
        let row = store::insert(&txn.txn, row).await?;
        let (_, effects) = exchanges::record(
            &txn.txn,
            &connection,
            entry,
            status,
            Effects::audited(event),
        )
        .await?;
        txn.commit(effects).await?;
        Ok(row)
    }

    /// Logs and audits a request refused because environments would mix; the error to answer.
    async fn refuse_mixed(
        &self,
        connection: &service_connection::Model,
        patient_id: Uuid,
        patient_env: Environment,
        connection_env: Environment,
    ) -> AppError {
        let message = format!(
            "a {} patient cannot be sent to a {} connection",
            patient_env.as_str().to_lowercase(),
            connection_env.as_str().to_lowercase()
        );
        let entry = entity::integration_log::Model {
            id: Uuid::now_v7(),
            connection_id: Some(connection.id),
            direction: Direction::Outbound.as_str().into(),
            operation: Operation::RequestRecords.as_str().into(),
            outcome: Outcome::Refused.as_str().into(),
            error_code: Some(IntegrationErrorCode::EnvironmentMismatch.as_str().into()),
            message: message.clone(),
            latency_ms: 0,
            correlation_id: Uuid::now_v7().simple().to_string(),
            environment: connection.environment.clone(),
            detail: "[]".into(),
            capture: None,
            occurred_at: Utc::now(),
        };
        let event = self.access.event(
            "REFUSE",
            "requestOutsideRecords",
            "service_connection",
            vec![connection.id, patient_id],
            vec![],
        );
        let store = self.access.store();
        let written = async {
            let txn = store.begin_write().await?;
            service_connections::log(&txn.txn, entry).await?;
            txn.commit(Effects::audited(event)).await
        }
        .await;
        match written {
            Ok(()) => AppError::EnvironmentMismatch(format!(
                "{message}: live patient data must not reach a staging system, nor test data a live one"
            )),
            Err(e) => e,
        }
    }

    /// A patient's requests, newest first.
    pub async fn for_patient(
        &self,
        patient_id: Uuid,
        first: u64,
    ) -> AppResult<Vec<request::Model>> {
        self.require_reader()?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(AppError::invalid(
                "first",
                format!("between 1 and {MAX_PAGE}"),
            ));
        }
        self.access
            .patients()
            .get(patient_id)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        store::for_patient(self.access.store().conn(), patient_id, first).await
    }

    /// A new secret for the service to sign its answers with, replacing the old at once;
    /// shown this once.
    pub async fn rotate_inbound_secret(&self, connection_id: Uuid) -> AppResult<InboundSecret> {
        self.access.principal().require_settings_admin()?;
        let connection = service_connections::find(self.access.store().conn(), connection_id)
            .await?
            .ok_or(AppError::NotFound("service connection"))?;
        let Some(url) = signed_inbound_url(self.access.public_base(), &connection) else {
            return Err(AppError::invalid(
                "id",
                "only a RECORDS_EXCHANGE connection, or a LAB connection over HTTPS_JSON, takes signed messages",
            ));
        };
        let (secret, _) = new_signing_secret();
        let store = self.access.store();
        let txn = store.begin_write().await?;
        store::set_inbound_secret(&txn.txn, store.keyring(), connection.id, &secret).await?;
        let event = self.access.event(
            "UPDATE",
            "rotateServiceInboundSecret",
            "service_connection",
            vec![connection.id],
            vec!["inboundSecret".into()],
        );
        txn.commit(Effects::audited(event)).await?;
        Ok(InboundSecret { secret, url })
    }

    /// How many validation requests the connection's test address accepted, and how many
    /// failed (settings administrators).
    pub async fn validation_counts(&self, connection_id: Uuid) -> AppResult<(u64, u64)> {
        self.access.principal().require_settings_admin()?;
        store::validation_counts(self.access.store().conn(), connection_id).await
    }

    /// When the connection's inbound secret was set, if it is (settings administrators).
    pub async fn inbound_secret_set_at(
        &self,
        connection_id: Uuid,
    ) -> AppResult<Option<chrono::DateTime<Utc>>> {
        self.access.principal().require_settings_admin()?;
        store::inbound_secret_set_at(self.access.store().conn(), connection_id).await
    }
}
