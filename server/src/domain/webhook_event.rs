//! The system events webhooks deliver: their catalogue (the wire names are part of the
//! contract receivers code against) and what one event records. No patient data: a receiver
//! fetches what it is entitled to through the API.

use uuid::Uuid;

/// A kind of system event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    PatientCreated,
    PatientUpdated,
    TestCreated,
    TestUpdated,
    TestResulted,
    ApiKeyExpiring,
    PartnerAppRevoked,
    IntegrationConnectionFailed,
    IntegrationStatusChanged,
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::PatientCreated,
        EventType::PatientUpdated,
        EventType::TestCreated,
        EventType::TestUpdated,
        EventType::TestResulted,
        EventType::ApiKeyExpiring,
        EventType::PartnerAppRevoked,
        EventType::IntegrationConnectionFailed,
        EventType::IntegrationStatusChanged,
        EventType::WebhookTest,
    ];

    /// The name receivers see (`type` of the payload).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::PatientCreated => "patient.created",
            EventType::PatientUpdated => "patient.updated",
            EventType::TestCreated => "test.created",
            EventType::TestUpdated => "test.updated",
            EventType::TestResulted => "test.resulted",
            EventType::ApiKeyExpiring => "api_key.expiring",
            EventType::PartnerAppRevoked => "partner_app.revoked",
            EventType::IntegrationConnectionFailed => "integration.connection_failed",
            EventType::IntegrationStatusChanged => "integration.status_changed",
            EventType::WebhookTest => "webhook.test",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| format!("unknown event type `{raw}`"))
    }
}

/// One event, as a change records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub record_type: &'static str,
    pub record_id: Option<Uuid>,
    /// Where the record belongs; the environment is the client's.
    pub client_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    /// The names of the fields that changed.
    pub fields: Vec<String>,
}

impl NewEvent {
    /// An event about a patient or a test.
    pub fn about(
        event_type: EventType,
        record_type: &'static str,
        record_id: Uuid,
        client_id: Uuid,
        location_id: Uuid,
        fields: Vec<String>,
    ) -> Self {
        NewEvent {
            event_type,
            record_type,
            record_id: Some(record_id),
            client_id: Some(client_id),
            location_id: Some(location_id),
            fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_through_its_wire_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        assert!("patient.deleted".parse::<EventType>().is_err());
    }
}
