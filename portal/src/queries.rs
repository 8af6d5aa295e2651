//! The portal's operations (`operations.graphql`), each a type whose variables and answer are
//! generated from the committed schema at compile time: a field the server renames or removes
//! fails this build instead of showing a dash.

use graphql_client::GraphQLQuery;

/// The schema's timestamps, as the API sends them (RFC 3339, UTC).
pub type DateTime = String;

macro_rules! operations {
    ($($name:ident),* $(,)?) => {$(
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../schema.graphql",
            query_path = "src/operations.graphql",
            response_derives = "Debug, Clone, PartialEq",
            variables_derives = "Debug, Clone"
        )]
        pub struct $name;
    )*};
}

operations!(
    Login,
    Logout,
    ApiKeys,
    CreateApiKey,
    RotateApiKey,
    RenameApiKey,
    RevokeApiKey,
    SetApiKeyLimits,
    SetPartnerAppLimits,
    ProtectionSettings,
    SetProtectionSettings,
    EndApiKeyRotation,
    Settings,
    SetDeveloperPortal,
    Audit,
    AuditVerification,
    Connections,
    PartnerApp,
    RegisterPartnerApp,
    UpdatePartnerApp,
    SuspendPartnerApp,
    ReactivatePartnerApp,
    RevokePartnerApp,
    RotatePartnerAppSecret,
    RevokePartnerAppGrant,
    WebhookEndpoints,
    WebhookEndpoint,
    CreateWebhookEndpoint,
    EnableWebhookEndpoint,
    DisableWebhookEndpoint,
    DeleteWebhookEndpoint,
    RotateWebhookSecret,
    ResendWebhookDelivery,
    ReplayWebhookDeliveries,
    SendTestWebhookEvent,
    ServiceConnections,
    CreateServiceConnection,
    TestConnection,
    IntegrationLog,
    ServiceConnection,
    UpdateServiceConnection,
    DeleteServiceConnection,
    SetServiceConnectionDebugCapture,
    RotateServiceInboundSecret,
    LabMessages,
    RevealLabMessage,
    ReprocessLabMessage,
    DiscardLabMessage,
    CodeMappings,
    SetServicePolling,
    PollServiceNow,
    ImportCodeMappings,
    DeleteCodeMapping,
    ImportJobs,
    ImportJob,
    CancelImportJob,
);
