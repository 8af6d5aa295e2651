// Every GraphQL document the portal sends. Plain constants so that the server's tests can
// include this file and validate each one against the schema: a server change that breaks
// the portal fails the build's tests.

pub const LOGIN: &str = "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token expiresAt user { id email role } } }";

pub const LOGOUT: &str = "mutation Logout { logout }";

pub const API_KEYS: &str = "query ApiKeys { apiKeys(includeRevoked: true) { id name prefix scopes clientIds locationIds environment status createdAt expiresAt revokedAt lastUsedAt } clients { id name environment } }";

pub const CREATE_API_KEY: &str = "mutation CreateApiKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name } } }";

pub const ROTATE_API_KEY: &str = "mutation RotateApiKey($id: ID!, $grace: Int!) { rotateApiKey(id: $id, gracePeriodSeconds: $grace) { secret apiKey { id name } } }";

pub const REVOKE_API_KEY: &str =
    "mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id status } }";

pub const END_API_KEY_ROTATION: &str =
    "mutation EndApiKeyRotation($id: ID!) { endApiKeyRotation(id: $id) { id status } }";

pub const SETTINGS: &str = "query Settings { integrationSettings { developerPortalEnabled } }";

pub const SET_DEVELOPER_PORTAL: &str = "mutation SetDeveloperPortal($enabled: Boolean!) { setDeveloperPortalEnabled(enabled: $enabled) { developerPortalEnabled } }";

pub const AUDIT: &str = "query Audit { auditEvents(first: 50) { nodes { id occurredAt actorKind actorLabel action operation recordType recordIds fields ip } } }";

/// All documents, for the schema check (the server's tests include this file).
#[allow(dead_code)]
pub const ALL: &[(&str, &str)] = &[
    ("LOGIN", LOGIN),
    ("LOGOUT", LOGOUT),
    ("API_KEYS", API_KEYS),
    ("CREATE_API_KEY", CREATE_API_KEY),
    ("ROTATE_API_KEY", ROTATE_API_KEY),
    ("REVOKE_API_KEY", REVOKE_API_KEY),
    ("END_API_KEY_ROTATION", END_API_KEY_ROTATION),
    ("SETTINGS", SETTINGS),
    ("SET_DEVELOPER_PORTAL", SET_DEVELOPER_PORTAL),
    ("AUDIT", AUDIT),
];

/// The scopes offered in the key form, grouped as the README's scope table.
pub const PERMISSION_SCOPES: &[&str] = &[
    "patients:read",
    "patients:create",
    "patients:update",
    "tests:read",
    "tests:create",
    "tests:update",
];

pub const CATEGORY_SCOPES: &[&str] = &[
    "patients.demographics:read",
    "patients.demographics:write",
    "patients.contact:read",
    "patients.contact:write",
    "patients.clinical:read",
    "patients.clinical:write",
    "patients.billing:read",
    "patients.billing:write",
];
