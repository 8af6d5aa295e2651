// The webhook event types a portal user subscribes endpoints to: (GraphQL name, the name
// receivers see, plain words). Plain constants so that the server's tests include this file
// and prove it names every event type the schema has (server/src/domain/webhook_event.rs).

/// (GraphQL name, wire name, what it means).
pub const WEBHOOK_EVENTS: &[(&str, &str, &str)] = &[
    (
        "PATIENT_CREATED",
        "patient.created",
        "A patient was registered.",
    ),
    (
        "PATIENT_UPDATED",
        "patient.updated",
        "A patient's details changed.",
    ),
    ("TEST_CREATED", "test.created", "A lab test was ordered."),
    (
        "TEST_UPDATED",
        "test.updated",
        "A lab test changed (status, results, notes).",
    ),
    (
        "TEST_RESULTED",
        "test.resulted",
        "A lab test's results are in.",
    ),
    (
        "API_KEY_EXPIRING",
        "api_key.expiring",
        "An API key expires within a week.",
    ),
    (
        "PARTNER_APP_REVOKED",
        "partner_app.revoked",
        "A partner app was revoked.",
    ),
    (
        "INTEGRATION_CONNECTION_FAILED",
        "integration.connection_failed",
        "A connection to an external service failed.",
    ),
    (
        "INTEGRATION_STATUS_CHANGED",
        "integration.status_changed",
        "An integration changed state (an endpoint was disabled).",
    ),
    (
        "WEBHOOK_TEST",
        "webhook.test",
        "A test ping, sent on request.",
    ),
];
