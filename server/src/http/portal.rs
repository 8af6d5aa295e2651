use std::path::{Path, PathBuf};

use actix_web::{HttpRequest, HttpResponse, web};

use super::static_files::{Caching, is_hashed, serve};

/// The built portal at `/`: its files (one flat directory), and the page of the app that shows
/// every other path without a file extension (`page_of`), so that a reload on a client-side
/// route such as `/settings/api-console` works. Or, when it is not built, a page that says how to build it.
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    if dir.join("index.html").is_file() {
        let dir = dir.to_path_buf();
        cfg.route(
            "/{tail:.*}",
            web::get().to(move |req: HttpRequest| file(req, dir.clone())),
        );
    } else {
        cfg.route("/", web::get().to(not_built));
    }
}

/// A built file's name from the request path, if the path can name one: one segment, not
/// hidden, not a precompressed copy (those are chosen by `Accept-Encoding`, not by name).
fn file_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    let plain = !name.is_empty()
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && !name.ends_with(".gz")
        && !name.ends_with(".br");
    plain.then_some(name)
}

async fn file(req: HttpRequest, dir: PathBuf) -> HttpResponse {
    let name = file_name(req.path());
    let (path, caching) = match name {
        Some(name)
            if tokio::fs::metadata(dir.join(name))
                .await
                .is_ok_and(|m| m.is_file()) =>
        {
            let caching = if name.ends_with(".html") {
                Caching::Revalidate
            } else if is_hashed(name) {
                Caching::Immutable
            } else {
                Caching::Day
            };
            (dir.join(name), caching)
        }
        // A missing file (an old build's script, a mistyped asset) is a 404, not the portal:
        // answering it with HTML would hide the mistake behind a parse error.
        _ if req
            .path()
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.')) =>
        {
            return HttpResponse::NotFound()
                .content_type("text/plain")
                .body("not found");
        }
        _ => (dir.join(page_of(req.path())), Caching::Revalidate),
    };
    serve(&req, &path, caching).await.unwrap_or_else(|_| {
        HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found")
    })
}

/// The portal's areas, one app each (`portal/src/areas.rs`, shared with the portal).
#[allow(dead_code)]
mod areas {
    include!("../../../portal/src/areas.rs");
}

/// The page of the portal app that shows `path`: the portal is one app per area, so that a
/// first visit loads only the main one.
fn page_of(path: &str) -> String {
    format!("{}.html", areas::area_of(path))
}

async fn not_built() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(
            "Switchboard is running, but the admin portal has not been built.\n\
         Build it with scripts/build-portal.sh (scripts/run.sh does this for you).\n\
         The GraphQL API is at POST /graphql.\n",
        )
}

#[cfg(test)]
mod tests {
    use super::{file_name, page_of};

    #[test]
    fn each_area_has_its_page() {
        assert_eq!(page_of("/settings/connections"), "connections.html");
        assert_eq!(page_of("/settings/connections/apps/x"), "connections.html");
        assert_eq!(page_of("/settings/general"), "connections.html");
        assert_eq!(page_of("/settings/audit"), "audit.html");
        assert_eq!(page_of("/settings/api-console"), "index.html");
        assert_eq!(page_of("/login"), "index.html");
    }

    #[test]
    fn only_plain_names_in_the_directory_are_files() {
        assert_eq!(file_name("/index.html"), Some("index.html"));
        assert_eq!(file_name("/settings/api-console"), None);
        assert_eq!(file_name("/../Cargo.toml"), None);
        assert_eq!(file_name("/.env"), None);
        assert_eq!(file_name("/portal_bg.wasm.br"), None);
        assert_eq!(file_name("/"), None);
    }
}
