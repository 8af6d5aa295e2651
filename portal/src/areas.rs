// The portal's areas: each is an app of its own (portal/src/lib.rs), named after its page
// (`<name>.html`), and shows the paths under its prefix; every other path is the main app's
// (`index.html`). Plain constants so that the server includes this file to serve each path's
// page (server/src/http/portal.rs).

/// (path prefix, area name), besides the main one.
pub const AREAS: &[(&str, &str)] = &[
    ("/settings/connections", "connections"),
    // Who may connect, server-wide: beside the directory of what is connected.
    ("/settings/general", "connections"),
    ("/settings/api-console/webhooks", "webhooks"),
    ("/settings/services", "services"),
    ("/settings/audit", "audit"),
];

/// The main app's name.
pub const MAIN: &str = "index";

/// The area that shows `path`.
pub fn area_of(path: &str) -> &'static str {
    AREAS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(MAIN, |(_, name)| name)
}
