use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::static_files::{Caching, serve};
use crate::store::settings::developer_portal_enabled;

const PAGE: &str = include_str!("graphiql.html");

/// The files GraphiQL needs, by the name the page asks for and their place under the
/// installed npm packages (the minified builds; scripts/lib/toolchain.sh precompresses the same
/// list). Nothing else under that directory is served.
const ASSETS: &[(&str, &str)] = &[
    ("react.js", "react/umd/react.production.min.js"),
    ("react-dom.js", "react-dom/umd/react-dom.production.min.js"),
    ("graphiql.js", "graphiql/graphiql.min.js"),
    ("graphiql.css", "graphiql/graphiql.min.css"),
];

async fn enabled(state: &AppState) -> Result<bool, HttpResponse> {
    developer_portal_enabled(state.services.store.conn())
        .await
        .map_err(|_| HttpResponse::ServiceUnavailable().body("database unavailable"))
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("not found")
}

/// What `/graphiql` says while the developer portal is switched off.
const SWITCHED_OFF: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Developer documentation is switched off</title></head><body><main>\
<h1>Developer documentation is switched off</h1>\
<p>An administrator of this Switchboard has switched off the GraphQL playground and the schema \
documentation. The API itself keeps working for your keys; ask an administrator to switch the \
documentation on (Settings, Developer portal).</p></main></body></html>";

/// GraphiQL, while the developer portal is switched on; otherwise a page saying so in words
/// (still a 404: there is no playground to reach).
pub async fn page(state: web::Data<AppState>) -> HttpResponse {
    match enabled(&state).await {
        Ok(true) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(PAGE),
        Ok(false) => HttpResponse::NotFound()
            .content_type("text/html; charset=utf-8")
            .body(SWITCHED_OFF),
        Err(resp) => resp,
    }
}

pub async fn asset(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> HttpResponse {
    match enabled(&state).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(resp) => return resp,
    }
    let Some((_, rel)) = ASSETS.iter().find(|(n, _)| *n == name.as_str()) else {
        return not_found();
    };
    let path = state.settings.server.graphiql_assets_dir.join(rel);
    match serve(&req, &path, Caching::Day).await {
        Ok(res) => res,
        Err(_) => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("GraphiQL assets are not installed; run scripts/setup.sh"),
    }
}
