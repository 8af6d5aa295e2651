//! The system events webhooks deliver: their catalogue (the wire names are part of the
//! contract receivers code against) and what one event records. No patient data: a receiver
//! fetches what it is entitled to through the API.

use uuid::Uuid;

use super::environment::Environment;

/// A kind of system event, as webhooks deliver it (the payload's `type` is its wire name,
/// e.g. `patient.created`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
#[graphql(name = "WebhookEventType")]
pub enum EventType {
    /// `patient.created`: a patient was registered. Data: the patient's id, client and
    /// location, and the fields given.
    PatientCreated,
    /// `patient.updated`: a patient's details changed. Data: the names of the fields changed.
    PatientUpdated,
    /// `test.created`: a lab test was ordered.
    TestCreated,
    /// `test.updated`: a lab test changed (status, result, notes). Data: the fields changed.
    TestUpdated,
    /// `test.resulted`: a lab test's result is in (status `RESULTED`); sent with its
    /// `test.updated`.
    TestResulted,
    /// `api_key.expiring`: an API key expires within the configured lead time. Data: the
    /// key's id and expiry; its environment.
    ApiKeyExpiring,
    /// `partner_app.revoked`: a partner app was revoked, with every grant. Its own endpoints
    /// receive this last event, then are disabled.
    PartnerAppRevoked,
    /// `integration.connection_failed`: a connection to an external service failed.
    IntegrationConnectionFailed,
    /// `integration.status_changed`: an integration changed state, e.g. a webhook endpoint
    /// disabled after failing for the configured period.
    IntegrationStatusChanged,
    /// `webhook.test`: a ping sent on request (`sendTestWebhookEvent`) to one endpoint.
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
    /// The environment when the record has no client (with a client, the client's).
    pub environment: Option<Environment>,
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
            environment: None,
        }
    }

    /// An event about a record that belongs to no client (a key, an app, an endpoint).
    pub fn about_setting(
        event_type: EventType,
        record_type: &'static str,
        record_id: Uuid,
        environment: Environment,
        fields: Vec<String>,
    ) -> Self {
        NewEvent {
            event_type,
            record_type,
            record_id: Some(record_id),
            client_id: None,
            location_id: None,
            fields,
            environment: Some(environment),
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

    mod portal {
        include!("../../../portal/src/webhook_events.rs");
    }

    /// The portal's subscription form lists every event type by its schema and wire names.
    #[test]
    fn the_portal_offers_every_event_type() {
        let schema: Vec<(String, &str)> = EventType::ALL
            .iter()
            .map(|t| {
                let name = match async_graphql::InputType::to_value(t) {
                    async_graphql::Value::Enum(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                (name, t.as_str())
            })
            .collect();
        let portal: Vec<(String, &str)> = portal::WEBHOOK_EVENTS
            .iter()
            .map(|(g, wire, _)| ((*g).to_owned(), *wire))
            .collect();
        assert_eq!(portal, schema);
    }
}
