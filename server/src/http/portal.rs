use std::path::Path;

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpResponse, web};

/// The built portal at `/` (client-side routes fall back to `index.html`, so a reload on
/// `/settings/api-console` works), or a page that says how to build it.
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    let index = dir.join("index.html");
    if index.is_file() {
        cfg.service(
            Files::new("/", dir)
                .index_file("index.html")
                .default_handler(fn_service(move |req: ServiceRequest| {
                    let index = index.clone();
                    async move {
                        let (req, _) = req.into_parts();
                        let file = NamedFile::open_async(&index).await?;
                        let res = file.into_response(&req);
                        Ok(ServiceResponse::new(req, res))
                    }
                })),
        );
    } else {
        cfg.route("/", web::get().to(not_built));
    }
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
