// The scopes offered in the key form, grouped as the README's scope table. Plain constants so
// that the server's tests can include this file and check it against the server's own list.

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
