// The scopes offered in the key form, grouped as the README's scope table, each with the one
// line the form shows, and the common sets offered as presets. Plain constants so that the
// server's tests can include this file and check it against the server's own list.

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

/// What each scope lets a key do, in one line.
pub const SCOPE_HELP: &[(&str, &str)] = &[
    (
        "patients:read",
        "Find patients and read their ids and external ids.",
    ),
    ("patients:create", "Register new patients."),
    (
        "patients:update",
        "Change patients (with the category scopes of the fields).",
    ),
    (
        "tests:read",
        "Read lab test orders, their status and results.",
    ),
    ("tests:create", "Order lab tests for patients."),
    (
        "tests:update",
        "Change test orders and record their results.",
    ),
    (
        "patients.demographics:read",
        "Names, date of birth and sex.",
    ),
    (
        "patients.demographics:write",
        "Set names, date of birth and sex.",
    ),
    (
        "patients.contact:read",
        "Email address, phone number and postal address.",
    ),
    (
        "patients.contact:write",
        "Set email address, phone number and postal address.",
    ),
    ("patients.clinical:read", "Diagnoses and medications."),
    ("patients.clinical:write", "Set diagnoses and medications."),
    ("patients.billing:read", "Insurance and billing account."),
    (
        "patients.billing:write",
        "Set insurance and billing account.",
    ),
];

/// Common sets of scopes: an id for the page, a name, and the scopes.
pub const PRESETS: &[(&str, &str, &[&str])] = &[
    (
        "results-feed",
        "Results feed: read tests, update tests",
        &["tests:read", "tests:update"],
    ),
    (
        "order-entry",
        "Order entry: find patients, order and read tests",
        &[
            "patients:read",
            "patients.demographics:read",
            "tests:read",
            "tests:create",
        ],
    ),
    (
        "patient-directory",
        "Patient directory: read patients with names and contact details",
        &[
            "patients:read",
            "patients.demographics:read",
            "patients.contact:read",
        ],
    ),
    (
        "billing-export",
        "Billing export: read patients with names and billing details",
        &[
            "patients:read",
            "patients.demographics:read",
            "patients.billing:read",
        ],
    ),
];
