//! Who may read each field of the API. The fields of records (`Patient`, `Test`) declare
//! their rules where they are declared (`graphql::types::record`); every other object's fields
//! are in `FIELD_RULES` below. `graphql::field_rules` joins the two: `graphql::plan` checks
//! them once per request for the fields a query selects, `graphql::guard` field by field when
//! anything is refused, and a test walks the schema to prove no field lacks one. A field
//! without a rule is refused (fail closed).

use crate::domain::scope::Scope::{self, *};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, even without credentials (login), or a structural field (edges, pageInfo)
    /// whose data is guarded by the field that led to it.
    Public,
    /// Any valid credential.
    Authenticated,
    Scope(Scope),
    /// Any one of these; the first is named when none is held.
    AnyOf(&'static [Scope]),
    /// Every one of these; the first missing is named.
    AllOf(&'static [Scope]),
    /// A portal user with the System Administrator or Technical Lead role.
    SettingsAdmin,
    /// A settings administrator, or a partner app (which sees and changes only its own
    /// webhook endpoints; `access::webhooks` checks that).
    WebhookManager,
}

use Rule::{Authenticated, Public, SettingsAdmin, WebhookManager};

/// A patient's or test's id is also the answer of the write that made or changed it; every
/// other field, in a mutation's answer too, is a read and needs the read scope.
pub const PATIENT_ID: Rule = Rule::AnyOf(&[PatientsRead, PatientsCreate, PatientsUpdate]);
pub const DEMOGRAPHICS: Rule = Rule::AllOf(&[PatientsRead, DemographicsRead]);
pub const CONTACT: Rule = Rule::AllOf(&[PatientsRead, ContactRead]);
pub const CLINICAL: Rule = Rule::AllOf(&[PatientsRead, ClinicalRead]);
/// Outside records carry demographics and clinical information both ways.
pub const OUTSIDE_RECORDS: Rule = Rule::AllOf(&[PatientsRead, DemographicsRead, ClinicalRead]);
pub const BILLING: Rule = Rule::AllOf(&[PatientsRead, BillingRead]);
pub const PATIENT_TESTS: Rule = Rule::AllOf(&[PatientsRead, TestsRead]);
pub const TEST_ID: Rule = Rule::AnyOf(&[TestsRead, TestsCreate, TestsUpdate]);
pub const fn s(scope: Scope) -> Rule {
    Rule::Scope(scope)
}

type Entry = (&'static str, &'static [(&'static str, Rule)]);

pub const FIELD_RULES: &[Entry] = &[
    (
        "Query",
        &[
            ("patient", s(PatientsRead)),
            ("patients", s(PatientsRead)),
            ("test", s(TestsRead)),
            ("tests", s(TestsRead)),
            ("viewer", Authenticated),
            ("apiKeys", SettingsAdmin),
            ("auditEvents", SettingsAdmin),
            ("auditVerification", SettingsAdmin),
            ("auditExport", SettingsAdmin),
            ("clients", SettingsAdmin),
            ("integrationSettings", Authenticated),
            ("partnerApps", SettingsAdmin),
            ("partnerApp", SettingsAdmin),
            ("activeConnections", SettingsAdmin),
            ("webhookEndpoints", WebhookManager),
            ("webhookEndpoint", WebhookManager),
            ("webhookDeliveries", WebhookManager),
            ("serviceConnections", SettingsAdmin),
            ("serviceConnection", SettingsAdmin),
            ("integrationLog", SettingsAdmin),
            ("outsideRecordsRequests", OUTSIDE_RECORDS),
            ("labMessages", SettingsAdmin),
            ("labMessage", SettingsAdmin),
            // The caller's own jobs (all of them for a settings administrator).
            ("importJobs", Authenticated),
            ("importJob", Authenticated),
            ("protectionSettings", SettingsAdmin),
        ],
    ),
    (
        "Mutation",
        &[
            ("login", Public),
            ("logout", Authenticated),
            ("createPatient", s(PatientsCreate)),
            ("updatePatient", s(PatientsUpdate)),
            ("createTest", s(TestsCreate)),
            ("updateTest", s(TestsUpdate)),
            ("createApiKey", SettingsAdmin),
            ("rotateApiKey", SettingsAdmin),
            ("revokeApiKey", SettingsAdmin),
            ("endApiKeyRotation", SettingsAdmin),
            ("renameApiKey", SettingsAdmin),
            ("createClient", SettingsAdmin),
            ("createLocation", SettingsAdmin),
            ("setDeveloperPortalEnabled", SettingsAdmin),
            ("registerPartnerApp", SettingsAdmin),
            ("createWebhookEndpoint", WebhookManager),
            ("updateWebhookEndpoint", WebhookManager),
            ("enableWebhookEndpoint", WebhookManager),
            ("disableWebhookEndpoint", WebhookManager),
            ("deleteWebhookEndpoint", WebhookManager),
            ("rotateWebhookSecret", WebhookManager),
            ("resendWebhookDelivery", WebhookManager),
            ("replayWebhookDeliveries", WebhookManager),
            ("sendTestWebhookEvent", WebhookManager),
            ("updatePartnerApp", SettingsAdmin),
            ("suspendPartnerApp", SettingsAdmin),
            ("reactivatePartnerApp", SettingsAdmin),
            ("revokePartnerApp", SettingsAdmin),
            ("rotatePartnerAppSecret", SettingsAdmin),
            ("revokePartnerAppGrant", SettingsAdmin),
            ("createServiceConnection", SettingsAdmin),
            ("updateServiceConnection", SettingsAdmin),
            ("deleteServiceConnection", SettingsAdmin),
            ("testConnection", SettingsAdmin),
            ("setServiceConnectionDebugCapture", SettingsAdmin),
            ("requestOutsideRecords", OUTSIDE_RECORDS),
            ("rotateServiceInboundSecret", SettingsAdmin),
            ("revealLabMessage", SettingsAdmin),
            ("reprocessLabMessage", SettingsAdmin),
            ("setServicePolling", SettingsAdmin),
            ("pollServiceNow", SettingsAdmin),
            ("discardLabMessage", SettingsAdmin),
            ("setCodeMappings", SettingsAdmin),
            ("importCodeMappings", SettingsAdmin),
            ("deleteCodeMapping", SettingsAdmin),
            ("importPatients", s(PatientsCreate)),
            ("cancelImportJob", Authenticated),
            ("setProtectionSettings", SettingsAdmin),
            ("setApiKeyLimits", SettingsAdmin),
            ("setPartnerAppLimits", SettingsAdmin),
        ],
    ),
    (
        "TestResult",
        &[
            ("code", Public),
            ("name", Public),
            ("value", Public),
            ("unit", Public),
            ("referenceRange", Public),
            ("abnormalFlag", Public),
        ],
    ),
    (
        "PatientConnection",
        &[
            ("edges", Public),
            ("nodes", Public),
            ("pageInfo", Public),
            ("totalCount", Public),
        ],
    ),
    ("PatientEdge", &[("cursor", Public), ("node", Public)]),
    (
        "TestConnection",
        &[
            ("edges", Public),
            ("nodes", Public),
            ("pageInfo", Public),
            ("totalCount", Public),
        ],
    ),
    ("TestEdge", &[("cursor", Public), ("node", Public)]),
    (
        "PageInfo",
        &[("hasNextPage", Public), ("endCursor", Public)],
    ),
    (
        "PatientAccount",
        &[
            ("hasAccount", Public),
            ("status", Public),
            ("reason", Public),
        ],
    ),
    (
        "CreatePatientPayload",
        &[("patient", Public), ("account", Public)],
    ),
    (
        "UpdatePatientPayload",
        // The account of a patient the caller did not just give an email tells whether the
        // patient has a valid one: a read.
        &[("patient", Public), ("account", s(PatientsRead))],
    ),
    (
        "ApiKey",
        &[
            ("id", SettingsAdmin),
            ("name", SettingsAdmin),
            ("prefix", SettingsAdmin),
            ("scopes", SettingsAdmin),
            ("clientIds", SettingsAdmin),
            ("locationIds", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("status", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("expiresAt", SettingsAdmin),
            ("revokedAt", SettingsAdmin),
            ("lastUsedAt", SettingsAdmin),
            ("rotatedToId", SettingsAdmin),
            ("createdBy", SettingsAdmin),
            ("allowedIps", SettingsAdmin),
            ("rateLimit", SettingsAdmin),
        ],
    ),
    (
        "ApiKeySecretPayload",
        &[("apiKey", SettingsAdmin), ("secret", SettingsAdmin)],
    ),
    (
        "PartnerApp",
        &[
            ("id", SettingsAdmin),
            ("name", SettingsAdmin),
            ("category", SettingsAdmin),
            ("description", SettingsAdmin),
            ("homepage", SettingsAdmin),
            ("redirectUris", SettingsAdmin),
            ("clientId", SettingsAdmin),
            ("clientType", SettingsAdmin),
            ("scopes", SettingsAdmin),
            ("clientIds", SettingsAdmin),
            ("locationIds", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("status", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("createdBy", SettingsAdmin),
            ("lastUsedAt", SettingsAdmin),
            ("secrets", SettingsAdmin),
            ("grants", SettingsAdmin),
            ("allowedIps", SettingsAdmin),
            ("rateLimit", SettingsAdmin),
        ],
    ),
    (
        "ClientSecret",
        &[
            ("prefix", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("expiresAt", SettingsAdmin),
            ("active", SettingsAdmin),
        ],
    ),
    (
        "PartnerAppGrant",
        &[
            ("id", SettingsAdmin),
            ("kind", SettingsAdmin),
            ("scopes", SettingsAdmin),
            ("grantedBy", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("lastUsedAt", SettingsAdmin),
            ("revokedAt", SettingsAdmin),
        ],
    ),
    (
        "PartnerAppSecretPayload",
        &[
            ("partnerApp", SettingsAdmin),
            ("clientSecret", SettingsAdmin),
        ],
    ),
    (
        "Connection",
        &[
            ("kind", SettingsAdmin),
            ("id", SettingsAdmin),
            ("name", SettingsAdmin),
            ("category", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("status", SettingsAdmin),
            ("scopes", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("lastUsedAt", SettingsAdmin),
            ("activeGrants", SettingsAdmin),
            ("partnerApp", SettingsAdmin),
            ("apiKey", SettingsAdmin),
        ],
    ),
    (
        "LoginPayload",
        &[("token", Public), ("expiresAt", Public), ("user", Public)],
    ),
    (
        "AdminUser",
        &[("id", Public), ("email", Public), ("role", Public)],
    ),
    (
        "Viewer",
        &[
            ("kind", Authenticated),
            ("id", Authenticated),
            ("name", Authenticated),
            ("role", Authenticated),
            ("scopes", Authenticated),
            ("clientIds", Authenticated),
            ("locationIds", Authenticated),
            ("environment", Authenticated),
        ],
    ),
    (
        "AuditEvent",
        &[
            ("id", SettingsAdmin),
            ("occurredAt", SettingsAdmin),
            ("actorKind", SettingsAdmin),
            ("actorId", SettingsAdmin),
            ("actorLabel", SettingsAdmin),
            ("onBehalfOf", SettingsAdmin),
            ("actorRole", SettingsAdmin),
            ("action", SettingsAdmin),
            ("operation", SettingsAdmin),
            ("operationName", SettingsAdmin),
            ("recordType", SettingsAdmin),
            ("recordIds", SettingsAdmin),
            ("fields", SettingsAdmin),
            ("ip", SettingsAdmin),
        ],
    ),
    (
        "AuditVerification",
        &[
            ("intact", SettingsAdmin),
            ("eventsChecked", SettingsAdmin),
            ("linksChecked", SettingsAdmin),
            ("headHash", SettingsAdmin),
            ("brokenAt", SettingsAdmin),
            ("verifiedAt", SettingsAdmin),
        ],
    ),
    (
        "AuditChainBreak",
        &[
            ("position", SettingsAdmin),
            ("eventId", SettingsAdmin),
            ("eventIds", SettingsAdmin),
            ("problem", SettingsAdmin),
            ("message", SettingsAdmin),
        ],
    ),
    (
        "AuditEventConnection",
        &[
            ("edges", SettingsAdmin),
            ("nodes", SettingsAdmin),
            ("pageInfo", SettingsAdmin),
        ],
    ),
    (
        "AuditEventEdge",
        &[("cursor", SettingsAdmin), ("node", SettingsAdmin)],
    ),
    (
        "Client",
        &[
            ("id", SettingsAdmin),
            ("name", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("locations", SettingsAdmin),
        ],
    ),
    (
        "RateLimit",
        &[("perMinute", SettingsAdmin), ("burst", SettingsAdmin)],
    ),
    (
        "ProtectionSettings",
        &[
            ("allowedIps", SettingsAdmin),
            ("credentialRateLimit", SettingsAdmin),
            ("addressRateLimit", SettingsAdmin),
            ("trustedProxies", SettingsAdmin),
        ],
    ),
    (
        "IntegrationSettings",
        &[("developerPortalEnabled", Authenticated)],
    ),
    (
        "Location",
        &[
            ("id", SettingsAdmin),
            ("clientId", SettingsAdmin),
            ("name", SettingsAdmin),
        ],
    ),
    (
        "WebhookEndpoint",
        &[
            ("id", WebhookManager),
            ("url", WebhookManager),
            ("description", WebhookManager),
            ("eventTypes", WebhookManager),
            ("environment", WebhookManager),
            ("enabled", WebhookManager),
            ("disabledReason", WebhookManager),
            ("failingSince", WebhookManager),
            ("partnerAppId", WebhookManager),
            ("secrets", WebhookManager),
            ("createdAt", WebhookManager),
            ("updatedAt", WebhookManager),
        ],
    ),
    (
        "WebhookSecret",
        &[
            ("prefix", WebhookManager),
            ("createdAt", WebhookManager),
            ("expiresAt", WebhookManager),
        ],
    ),
    (
        "WebhookEndpointSecretPayload",
        &[
            ("webhookEndpoint", WebhookManager),
            ("signingSecret", WebhookManager),
        ],
    ),
    (
        "WebhookDelivery",
        &[
            ("id", WebhookManager),
            ("eventId", WebhookManager),
            ("eventType", WebhookManager),
            ("status", WebhookManager),
            ("payload", WebhookManager),
            ("attemptCount", WebhookManager),
            ("nextAttemptAt", WebhookManager),
            ("createdAt", WebhookManager),
            ("deliveredAt", WebhookManager),
            ("attempts", WebhookManager),
        ],
    ),
    (
        "WebhookAttempt",
        &[
            ("attemptedAt", WebhookManager),
            ("httpStatus", WebhookManager),
            ("latencyMs", WebhookManager),
            ("error", WebhookManager),
            ("detail", WebhookManager),
        ],
    ),
    (
        "ServiceConnection",
        &[
            ("id", SettingsAdmin),
            ("name", SettingsAdmin),
            ("description", SettingsAdmin),
            ("serviceType", SettingsAdmin),
            ("protocol", SettingsAdmin),
            ("address", SettingsAdmin),
            ("healthPath", SettingsAdmin),
            ("identifiers", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("enabled", SettingsAdmin),
            ("timeoutMs", SettingsAdmin),
            ("caCertificates", SettingsAdmin),
            ("authKind", SettingsAdmin),
            ("credentialsSet", SettingsAdmin),
            ("credentialsChangedAt", SettingsAdmin),
            ("lastTest", SettingsAdmin),
            ("debugCaptureUntil", SettingsAdmin),
            ("health", SettingsAdmin),
            ("healthHistory", SettingsAdmin),
            ("validationAddress", SettingsAdmin),
            ("validationMode", SettingsAdmin),
            ("clientId", SettingsAdmin),
            ("intakeAddress", SettingsAdmin),
            ("deadLetters", SettingsAdmin),
            ("codeMappings", SettingsAdmin),
            ("validatedRequests", SettingsAdmin),
            ("inbound", SettingsAdmin),
            ("polling", SettingsAdmin),
            ("createdAt", SettingsAdmin),
            ("updatedAt", SettingsAdmin),
        ],
    ),
    (
        "HealthBucket",
        &[
            ("start", SettingsAdmin),
            ("exchanges", SettingsAdmin),
            ("failures", SettingsAdmin),
            ("averageLatencyMs", SettingsAdmin),
        ],
    ),
    (
        "ValidatedRequests",
        &[("succeeded", SettingsAdmin), ("failed", SettingsAdmin)],
    ),
    (
        "InboundAddress",
        &[
            ("url", SettingsAdmin),
            ("secretSet", SettingsAdmin),
            ("secretChangedAt", SettingsAdmin),
        ],
    ),
    (
        "InboundSecret",
        &[("secret", SettingsAdmin), ("url", SettingsAdmin)],
    ),
    // Reached only through the lab-intake root fields, which need a settings administrator.
    (
        "LabMessage",
        &[
            ("id", Public),
            ("connectionId", Public),
            ("transport", Public),
            ("sendingFacility", Public),
            ("controlId", Public),
            ("messageType", Public),
            ("status", Public),
            ("ackCode", Public),
            ("ack", Public),
            ("errorCode", Public),
            ("errorMessage", Public),
            ("maskedMessage", Public),
            ("size", Public),
            ("testIds", Public),
            ("attempts", Public),
            ("ip", Public),
            ("receivedAt", Public),
            ("resolvedAt", Public),
            ("resolvedBy", Public),
            ("resolution", Public),
        ],
    ),
    (
        "LabProblem",
        &[("code", Public), ("message", Public), ("location", Public)],
    ),
    (
        "ServicePolling",
        &[
            ("everySeconds", SettingsAdmin),
            ("cron", SettingsAdmin),
            ("path", SettingsAdmin),
            ("enabled", SettingsAdmin),
            ("cursor", SettingsAdmin),
            ("nextPollAt", SettingsAdmin),
            ("consecutiveFailures", SettingsAdmin),
            ("lastPolledAt", SettingsAdmin),
            ("lastOutcome", SettingsAdmin),
            ("lastMessage", SettingsAdmin),
            ("pollingNow", SettingsAdmin),
        ],
    ),
    (
        "PollResult",
        &[
            ("ok", SettingsAdmin),
            ("pages", SettingsAdmin),
            ("fetched", SettingsAdmin),
            ("accepted", SettingsAdmin),
            ("deadLettered", SettingsAdmin),
            ("more", SettingsAdmin),
            ("logEntry", SettingsAdmin),
            ("polling", SettingsAdmin),
        ],
    ),
    (
        "LabMessageReprocess",
        &[("message", Public), ("problem", Public)],
    ),
    // Reached only through the import root fields, which show a job to whoever started it
    // and to settings administrators; a job holds counts and reasons, no patient values.
    (
        "ImportJob",
        &[
            ("id", Public),
            ("status", Public),
            ("format", Public),
            ("clientId", Public),
            ("locationId", Public),
            ("totalRows", Public),
            ("processed", Public),
            ("created", Public),
            ("duplicates", Public),
            ("failed", Public),
            ("testsCreated", Public),
            ("error", Public),
            ("startedBy", Public),
            ("createdAt", Public),
            ("startedAt", Public),
            ("finishedAt", Public),
            ("refusedRowsUrl", Public),
            ("refusedRows", Public),
        ],
    ),
    (
        "ImportRefusal",
        &[
            ("line", Public),
            ("code", Public),
            ("field", Public),
            ("message", Public),
        ],
    ),
    (
        "CodeMapping",
        &[
            ("kind", Public),
            ("localCode", Public),
            ("code", Public),
            ("loinc", Public),
            ("name", Public),
            ("updatedAt", Public),
        ],
    ),
    // Reached only through the two root fields above, which need OUTSIDE_RECORDS.
    (
        "OutsideRecordsRequest",
        &[
            ("id", Public),
            ("patientId", Public),
            ("connectionId", Public),
            ("environment", Public),
            ("validation", Public),
            ("status", Public),
            ("errorCode", Public),
            ("message", Public),
            ("attempts", Public),
            ("requestedBy", Public),
            ("requestedAt", Public),
            ("answeredAt", Public),
            ("records", Public),
        ],
    ),
    (
        "OutsideRecord",
        &[
            ("kind", Public),
            ("title", Public),
            ("date", Public),
            ("source", Public),
            ("text", Public),
        ],
    ),
    (
        "ConnectionHealth",
        &[
            ("status", SettingsAdmin),
            ("lastSuccessAt", SettingsAdmin),
            ("exchanges24h", SettingsAdmin),
            ("errorRate24h", SettingsAdmin),
            ("averageLatencyMs24h", SettingsAdmin),
            ("p95LatencyMs24h", SettingsAdmin),
            ("uptime24h", SettingsAdmin),
            ("uptime7d", SettingsAdmin),
        ],
    ),
    (
        "ServiceIdentifiers",
        &[
            ("sendingApplication", SettingsAdmin),
            ("sendingFacility", SettingsAdmin),
            ("receivingApplication", SettingsAdmin),
            ("receivingFacility", SettingsAdmin),
            ("submitterId", SettingsAdmin),
            ("assigningAuthority", SettingsAdmin),
        ],
    ),
    (
        "ConnectionTestStep",
        &[
            ("step", SettingsAdmin),
            ("ok", SettingsAdmin),
            ("latencyMs", SettingsAdmin),
            ("detail", SettingsAdmin),
        ],
    ),
    (
        "ConnectionTestResult",
        &[
            ("ok", SettingsAdmin),
            ("code", SettingsAdmin),
            ("message", SettingsAdmin),
            ("fix", SettingsAdmin),
            ("retryable", SettingsAdmin),
            ("steps", SettingsAdmin),
            ("latencyMs", SettingsAdmin),
            ("logEntry", SettingsAdmin),
        ],
    ),
    (
        "IntegrationLogEntry",
        &[
            ("id", SettingsAdmin),
            ("connectionId", SettingsAdmin),
            ("webhookEndpointId", SettingsAdmin),
            ("direction", SettingsAdmin),
            ("operation", SettingsAdmin),
            ("outcome", SettingsAdmin),
            ("errorCode", SettingsAdmin),
            ("message", SettingsAdmin),
            ("latencyMs", SettingsAdmin),
            ("correlationId", SettingsAdmin),
            ("environment", SettingsAdmin),
            ("steps", SettingsAdmin),
            ("occurredAt", SettingsAdmin),
            ("capture", SettingsAdmin),
        ],
    ),
];

/// A human sentence for the schema documentation.
pub fn describe(rule: Rule) -> String {
    match rule {
        Rule::Public => "Requires: nothing beyond access to the enclosing field.".into(),
        Rule::Authenticated => "Requires: any valid credential.".into(),
        Rule::Scope(scope) => format!("Requires scope: `{scope}`."),
        Rule::AnyOf(scopes) => format!(
            "Requires one of the scopes: {}.",
            scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Rule::AllOf(scopes) => format!(
            "Requires all of the scopes: {}.",
            scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Rule::SettingsAdmin => {
            "Requires: a portal session with role SYSTEM_ADMINISTRATOR or TECHNICAL_LEAD.".into()
        }
        Rule::WebhookManager => "Requires: a portal session with role SYSTEM_ADMINISTRATOR or TECHNICAL_LEAD, or a partner app's access token (its own endpoints only).".into(),
    }
}
