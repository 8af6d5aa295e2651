//! Files served as they are on disk (the portal, GraphiQL's assets): in the compressed form the
//! client accepts when one was made at build time (`FILE.br`, `FILE.gz` beside `FILE`, written
//! by scripts/lib/toolchain.sh's `precompress`), with caching headers and validators.

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// How long a browser may keep a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// The name carries a hash of the content, so a changed file has a new name: keep it a
    /// year without asking.
    Immutable,
    /// Keep it, but ask every time whether it changed (`index.html`, which names the hashed
    /// files of the current build).
    Revalidate,
    /// Unhashed files that change only with an upgrade: a day, then ask.
    Day,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Revalidate => "no-cache",
            Caching::Day => "public, max-age=86400",
        }
    }
}

/// Whether an `Accept-Encoding` value accepts `coding` (a `q=0` refuses it).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut params = part.split(';');
        let name = params.next().unwrap_or("").trim();
        let refused = params.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !refused
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The precompressed variant the client accepts, best first, if one exists and is not older
/// than the file itself (a stale one would serve an old build).
async fn compressed(req: &HttpRequest, path: &Path) -> Option<NamedFile> {
    let accept = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())?;
    let original = tokio::fs::metadata(path).await.ok()?.modified().ok()?;
    for (coding, suffix, encoding) in [
        ("br", "br", ContentEncoding::Brotli),
        ("gzip", "gz", ContentEncoding::Gzip),
    ] {
        if !accepts(accept, coding) {
            continue;
        }
        if let Ok(file) = NamedFile::open_async(with_suffix(path, suffix)).await
            && file.modified().is_some_and(|m| m >= original)
        {
            return Some(file.set_content_encoding(encoding));
        }
    }
    None
}

/// Serves `path` (which the caller has vetted) with its media type, compressed when possible.
pub async fn serve(
    req: &HttpRequest,
    path: &Path,
    caching: Caching,
) -> std::io::Result<HttpResponse> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mime = actix_files::file_extension_to_mime(ext);
    let file = match compressed(req, path).await {
        Some(file) => file,
        None => NamedFile::open_async(path).await?,
    };
    let mut res = file
        .set_content_type(mime)
        .disable_content_disposition()
        .into_response(req);
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(caching.header()),
    );
    // Caches must keep the compressed and the plain answer apart.
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Ok(res)
}

/// Whether a built file's name carries a content hash: Trunk's `portal-<hash>_bg.wasm`, the
/// hash a 64-bit number in hex without leading zeros (so usually 16 digits, sometimes fewer).
pub fn is_hashed(name: &str) -> bool {
    name.split(['-', '_', '.'])
        .any(|part| (8..=16).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::{accepts, is_hashed};

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip;q=1.0, br;q=0.5", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("gzip", "br"));
        assert!(accepts("GZIP", "gzip"));
        assert!(!accepts("", "gzip"));
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("portal-ce4d8c77c459d410_bg.wasm"));
        assert!(is_hashed("style-fbc20eea7691ae53.css"));
        assert!(is_hashed("portal-8781aaf530ca161.js"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("favicon.ico"));
    }
}
