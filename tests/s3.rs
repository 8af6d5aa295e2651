//! A small S3-compatible object store on loopback for the tests: path-style buckets, objects
//! put, got and deleted in memory, and every request's AWS Signature Version 4 checked here,
//! from the specification, against the one access key it knows — so a wrong key or secret is
//! refused as S3 refuses it (403 `InvalidAccessKeyId` / `SignatureDoesNotMatch`), and an
//! unknown bucket is 404 `NoSuchBucket`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

struct State {
    access_key_id: String,
    secret: String,
    buckets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Every request: method, path and the answer's status.
    log: Vec<(String, String, u16)>,
}

pub struct S3Store {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: actix_web::dev::ServerHandle,
}

impl S3Store {
    /// A store with `bucket`, taking requests signed with this access key.
    pub async fn start(access_key_id: &str, secret: &str, bucket: &str) -> S3Store {
        let state = Arc::new(Mutex::new(State {
            access_key_id: access_key_id.to_owned(),
            secret: secret.to_owned(),
            buckets: HashMap::from([(bucket.to_owned(), BTreeMap::new())]),
            log: vec![],
        }));
        let shared = state.clone();
        let (addr, server) = crate::services::serve(move |cfg| {
            cfg.app_data(web::Data::new(shared.clone()))
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle));
        });
        S3Store {
            addr,
            state,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The objects in `bucket`, by key.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.buckets
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests received: (method, path, status answered).
    pub fn log(&self) -> Vec<(String, String, u16)> {
        self.state.lock().unwrap().log.clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/xml")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
        ))
}

/// Checks the request's SigV4 `Authorization`: `None` if it is right, else the S3 error code.
fn refused(req: &HttpRequest, body: &[u8], s: &State) -> Option<&'static str> {
    let header = |name: &str| crate::services::header(req, name);
    let auth = header("authorization");
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Some("AccessDenied");
    };
    let part = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_owned()
    };
    let credential = part("Credential");
    let mut scope = credential.splitn(2, '/');
    let key_id = scope.next().unwrap_or("");
    let scope = scope.next().unwrap_or("").to_owned();
    if key_id != s.access_key_id {
        return Some("InvalidAccessKeyId");
    }
    let signed_headers = part("SignedHeaders");
    let payload_hash = header("x-amz-content-sha256");
    if payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != hex(&Sha256::digest(body)) {
        return Some("XAmzContentSHA256Mismatch");
    }
    let mut query: Vec<(String, String)> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|h| format!("{h}:{}\n", header(h).trim()))
        .collect();
    let canonical = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        req.method(),
        req.uri().path(),
    );
    let date = header("x-amz-date");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut parts = scope.split('/');
    let (day, region, service) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let k = hmac(format!("AWS4{}", s.secret).as_bytes(), day);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    let k = hmac(&k, "aws4_request");
    (hex(&hmac(&k, &to_sign)) != part("Signature")).then_some("SignatureDoesNotMatch")
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let mut s = state.lock().unwrap();
    let path = req.uri().path().to_owned();
    let answer = answer(&req, &body, &mut s, &path);
    s.log
        .push((req.method().to_string(), path, answer.status().as_u16()));
    answer
}

fn answer(req: &HttpRequest, body: &[u8], s: &mut State, path: &str) -> HttpResponse {
    if req.headers().get("authorization").is_none() {
        return error(403, "AccessDenied");
    }
    if let Some(code) = refused(req, body, s) {
        return error(403, code);
    }
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let Some(objects) = s.buckets.get_mut(bucket) else {
        return error(404, "NoSuchBucket");
    };
    match req.method().as_str() {
        "PUT" => {
            objects.insert(key.to_owned(), body.to_vec());
            HttpResponse::Ok()
                .insert_header(("etag", format!("\"{}\"", hex(&Sha256::digest(body)))))
                .finish()
        }
        "GET" | "HEAD" => match objects.get(key) {
            Some(data) => HttpResponse::Ok()
                .insert_header(("etag", format!("\"{}\"", hex(&Sha256::digest(data)))))
                .insert_header(("last-modified", "Mon, 30 Nov 2026 00:00:00 GMT"))
                .body(if req.method() == "GET" {
                    data.clone()
                } else {
                    vec![]
                }),
            None => error(404, "NoSuchKey"),
        },
        "DELETE" => {
            objects.remove(key);
            HttpResponse::NoContent().finish()
        }
        // DeleteObjects: `<Delete><Object><Key>…</Key></Object>…</Delete>`.
        "POST" if req.query_string() == "delete" => {
            let text = String::from_utf8_lossy(body);
            let mut deleted = String::new();
            for part in text.split("<Key>").skip(1) {
                let k = part.split("</Key>").next().unwrap_or("");
                objects.remove(k);
                deleted.push_str(&format!("<Deleted><Key>{k}</Key></Deleted>"));
            }
            HttpResponse::Ok()
                .content_type("application/xml")
                .body(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>{deleted}</DeleteResult>"
                ))
        }
        _ => error(405, "MethodNotAllowed"),
    }
}
