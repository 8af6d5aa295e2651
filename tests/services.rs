//! External services for the tests, real servers on loopback: an HTTP service with a health
//! resource that checks an API key (put behind `receiver::tls_front` for HTTPS), an MLLP peer
//! that acknowledges or rejects, a port that accepts connections and never answers, and a
//! port nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request header's value as text; empty when it is missing or not text.
pub fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Serves `routes` on a new loopback port with one worker: its address and a handle to stop
/// it. Every fake HTTP service of the tests starts here.
pub fn serve(
    routes: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listening")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (addr, handle)
}

/// An HTTP service: `GET /health` answers 200 when the request carries `X-Api-Key: <key>`
/// (401 otherwise), `GET /broken` answers 500, and `POST /hl7` acknowledges an HL7 v2 message
/// (`AA`, echoing its control id; `AR` when its receiving facility is `NOWHERE`).
pub struct HttpService {
    pub addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    hits: Arc<AtomicUsize>,
    /// The API keys requests carried, as received.
    pub keys: Arc<Mutex<Vec<String>>>,
}

impl HttpService {
    pub async fn start(key: &str) -> HttpService {
        let hits = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(Mutex::new(vec![]));
        let state = (key.to_owned(), hits.clone(), keys.clone());
        let (addr, handle) = serve(move |cfg| {
            cfg.app_data(web::Data::new(state.clone()))
                .route("/health", web::get().to(health))
                .route("/hl7", web::post().to(hl7))
                .route(
                    "/broken",
                    web::get()
                        .to(|| async { HttpResponse::InternalServerError().body("database down") }),
                );
        });
        HttpService {
            addr,
            server: handle,
            hits,
            keys,
        }
    }

    /// Stops it: its port refuses connections from then on.
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    /// Requests that reached the health resource.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

type State = (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

async fn hl7(req: HttpRequest, body: String) -> HttpResponse {
    let msh: Vec<&str> = body.split('\r').next().unwrap_or("").split('|').collect();
    let field = |i: usize| msh.get(i).copied().unwrap_or("");
    let typed = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("x-application/hl7-v2+er7"));
    if !typed || field(0) != "MSH" {
        return HttpResponse::UnsupportedMediaType().finish();
    }
    let code = if field(5) == "NOWHERE" { "AR" } else { "AA" };
    HttpResponse::Ok()
        .content_type("x-application/hl7-v2+er7")
        .body(format!(
            "MSH|^~\\&|LIS|LAB|{}|{}|20261130||ACK^N01|A1|{}|2.5.1\rMSA|{code}|{}|{}\r",
            field(2),
            field(3),
            field(10),
            field(9),
            if code == "AR" {
                "unknown receiving facility"
            } else {
                ""
            },
        ))
}

async fn health(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let (key, hits, keys) = state.get_ref();
    hits.fetch_add(1, Ordering::Relaxed);
    let given = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    keys.lock().unwrap().push(given.clone());
    if &given == key {
        HttpResponse::Ok().json(serde_json::json!({ "status": "up" }))
    } else {
        HttpResponse::Unauthorized().body("bad key")
    }
}

/// How an MLLP peer answers.
#[derive(Clone, Copy, Debug)]
pub enum MllpAnswer {
    /// `MSA|AA|<control id>`.
    Accept,
    /// `MSA|AR|<control id>|unknown sending facility`.
    Reject,
    /// Bytes that are not an MLLP frame.
    Garbage,
}

/// An MLLP peer on loopback answering each message as told; its address and the messages it
/// received.
pub async fn mllp_peer(answer: MllpAnswer) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(vec![]));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.ends_with(&[0x1c, 0x0d]) {
                        break;
                    }
                }
                let message = String::from_utf8_lossy(&buf[1..buf.len() - 2]).into_owned();
                let control_id = message
                    .split('\r')
                    .next()
                    .and_then(|msh| msh.split('|').nth(9))
                    .unwrap_or("")
                    .to_owned();
                log.lock().unwrap().push(message);
                let reply = match answer {
                    MllpAnswer::Accept => format!(
                        "\x0bMSH|^~\\&|LIS|LAB|SWITCHBOARD||20261130||ACK^N01|A1|T|2.5.1\rMSA|AA|{control_id}\r\x1c\r"
                    ),
                    MllpAnswer::Reject => format!(
                        "\x0bMSH|^~\\&|LIS|LAB|SWITCHBOARD||20261130||ACK^N01|A1|T|2.5.1\rMSA|AR|{control_id}|unknown sending facility\r\x1c\r"
                    ),
                    MllpAnswer::Garbage => "HTTP/1.1 400 Bad Request\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, received)
}

/// A port that accepts connections (the kernel does, from its backlog) and never answers;
/// held open while the listener lives.
pub fn silent_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().unwrap().port()
}

/// A service that takes OAuth 2.0 bearer tokens from its own token endpoint (client
/// credentials, the client authenticated by HTTP basic): `POST /token` issues a token valid
/// an hour, `GET /health` answers 200 for a token it issued and has not revoked.
pub struct OAuthService {
    pub addr: SocketAddr,
    state: Arc<OAuthState>,
}

#[derive(Default)]
struct OAuthState {
    client: (String, String),
    tokens: Mutex<Vec<String>>,
    token_requests: AtomicUsize,
}

impl OAuthService {
    pub async fn start(client_id: &str, client_secret: &str) -> OAuthService {
        let state = Arc::new(OAuthState {
            client: (client_id.to_owned(), client_secret.to_owned()),
            ..Default::default()
        });
        let shared = state.clone();
        let (addr, _) = serve(move |cfg| {
            cfg.app_data(web::Data::new(shared.clone()))
                .route("/token", web::post().to(issue))
                .route("/health", web::get().to(protected));
        });
        OAuthService { addr, state }
    }

    /// Requests the token endpoint has had.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::Relaxed)
    }

    /// Revokes every token issued so far.
    pub fn revoke_all(&self) {
        self.state.tokens.lock().unwrap().clear();
    }
}

async fn issue(
    req: HttpRequest,
    form: web::Form<std::collections::HashMap<String, String>>,
    state: web::Data<Arc<OAuthState>>,
) -> HttpResponse {
    use base64::Engine;
    state.token_requests.fetch_add(1, Ordering::Relaxed);
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let (id, secret) = &state.client;
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before they are joined.
    let expected = format!(
        "{}:{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
    );
    if basic.as_deref() != Some(expected.as_str()) {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "invalid_client" }));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({ "error": "unsupported_grant_type" }));
    }
    let token = format!("tok_{}", uuid::Uuid::now_v7().simple());
    state.tokens.lock().unwrap().push(token.clone());
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": token, "token_type": "bearer", "expires_in": 3600
    }))
}

async fn protected(req: HttpRequest, state: web::Data<Arc<OAuthState>>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if state.tokens.lock().unwrap().iter().any(|t| t == token) {
        HttpResponse::Ok().json(serde_json::json!({ "status": "up" }))
    } else {
        HttpResponse::Unauthorized().finish()
    }
}

/// One request a records service received.
#[derive(Clone, Debug)]
pub struct RecordsRequest {
    pub body: serde_json::Value,
    pub idempotency_key: String,
    pub api_key: String,
}

#[derive(Default)]
struct RecordsState {
    key: String,
    /// Answer the next this-many requests 503.
    unavailable: usize,
    /// Answer every request 422.
    reject: bool,
    received: Vec<RecordsRequest>,
}

/// A records-exchange service: `POST /records-requests` takes a patient's request when it
/// carries `X-Api-Key: <key>` (202; 401 otherwise), or answers 503 or 422 when told to. It
/// answers later (`answer`) by POSTing to the request's callback URL, signed with the
/// connection's inbound secret by the tests' own code (`receiver::expected_signature`).
pub struct RecordsService {
    pub addr: SocketAddr,
    state: Arc<Mutex<RecordsState>>,
    _server: actix_web::dev::ServerHandle,
}

impl RecordsService {
    pub async fn start(key: &str) -> RecordsService {
        let state = Arc::new(Mutex::new(RecordsState {
            key: key.to_owned(),
            ..Default::default()
        }));
        let shared = state.clone();
        let (addr, handle) = serve(move |cfg| {
            cfg.app_data(web::Data::new(shared.clone()))
                .route("/health", web::get().to(HttpResponse::Ok))
                .route("/records-requests", web::post().to(take_request));
        });
        RecordsService {
            addr,
            state,
            _server: handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    /// Answers the next `n` requests 503 (Service Unavailable).
    pub fn unavailable_for(&self, n: usize) {
        self.state.lock().unwrap().unavailable = n;
    }

    /// Answers every request 422 from now on.
    pub fn reject_all(&self) {
        self.state.lock().unwrap().reject = true;
    }

    /// Requests received, 503s and refusals included.
    pub fn received(&self) -> Vec<RecordsRequest> {
        self.state.lock().unwrap().received.clone()
    }

    /// POSTs `answer` to the callback URL of the request it names, signed with `secret` as
    /// message `msg_id` at `timestamp`: the HTTP status and body Switchboard answered.
    pub async fn answer(
        callback_url: &str,
        secret: &str,
        msg_id: &str,
        timestamp: i64,
        answer: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let body = answer.to_string();
        let signature = crate::receiver::expected_signature(
            secret,
            msg_id,
            &timestamp.to_string(),
            body.as_bytes(),
        );
        let resp = reqwest::Client::new()
            .post(callback_url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .expect("Switchboard answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

async fn take_request(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<RecordsState>>>,
) -> HttpResponse {
    let header = |name: &str| header(&req, name);
    let mut s = state.lock().unwrap();
    s.received.push(RecordsRequest {
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        idempotency_key: header("idempotency-key"),
        api_key: header("x-api-key"),
    });
    if header("x-api-key") != s.key {
        return HttpResponse::Unauthorized().body("bad key");
    }
    if s.unavailable > 0 {
        s.unavailable -= 1;
        return HttpResponse::ServiceUnavailable().body("busy");
    }
    if s.reject {
        return HttpResponse::UnprocessableEntity().body("dateOfBirth is required");
    }
    HttpResponse::Accepted().json(serde_json::json!({ "accepted": true }))
}

#[derive(Default)]
struct FeedState {
    key: String,
    /// Everything the lab has to give, in order; a message's cursor is its position after it.
    messages: Vec<serde_json::Value>,
    /// Answer the next this-many requests 503; or every request, while `down`.
    failing: usize,
    down: bool,
    /// How long each answer takes.
    delay_ms: u64,
    /// The `after` of every request that got a page, in order (`None`: from the start).
    afters: Vec<Option<String>>,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    most_in_flight: usize,
    requests: usize,
}

/// A lab's results feed: `GET /results?limit=n[&after=cursor]` answers the messages after the
/// cursor (`{"messages": [...], "cursor": "<position>", "more": bool}`) when the request
/// carries `X-Api-Key: <key>` (401 otherwise). Its watermark moves as the test `push`es
/// messages; it can fail for a while, answer slowly, and tell whether two requests were ever
/// answered at once.
pub struct ResultsFeed {
    pub addr: SocketAddr,
    state: Arc<Mutex<FeedState>>,
    _server: actix_web::dev::ServerHandle,
}

impl ResultsFeed {
    pub async fn start(key: &str) -> ResultsFeed {
        let state = Arc::new(Mutex::new(FeedState {
            key: key.to_owned(),
            ..Default::default()
        }));
        let shared = state.clone();
        let (addr, handle) = serve(move |cfg| {
            cfg.app_data(web::Data::new(shared.clone()))
                .route("/health", web::get().to(HttpResponse::Ok))
                .route("/results", web::get().to(feed_page));
        });
        ResultsFeed {
            addr,
            state,
            _server: handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    /// Adds messages to the feed (the lab has new results).
    pub fn push(&self, messages: impl IntoIterator<Item = serde_json::Value>) {
        self.state.lock().unwrap().messages.extend(messages);
    }

    /// Answers the next `n` requests 503.
    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().failing = n;
    }

    /// Answers every request 503 (true) until told otherwise.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn set_delay_ms(&self, ms: u64) {
        self.state.lock().unwrap().delay_ms = ms;
    }

    /// The `after` of every request that got a page, in order.
    pub fn afters(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().afters.clone()
    }

    /// Every request, failed ones included.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// The most requests ever answered at once.
    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }
}

async fn feed_page(
    req: HttpRequest,
    query: web::Query<std::collections::HashMap<String, String>>,
    state: web::Data<Arc<Mutex<FeedState>>>,
) -> HttpResponse {
    let delay = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
        s.delay_ms
    };
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    let mut s = state.lock().unwrap();
    s.in_flight -= 1;
    if header(&req, "x-api-key") != s.key {
        return HttpResponse::Unauthorized().body("bad key");
    }
    if s.down || s.failing > 0 {
        s.failing = s.failing.saturating_sub(1);
        return HttpResponse::ServiceUnavailable().body("results database down");
    }
    let after = query.get("after").cloned();
    let from: usize = match after.as_deref().map(str::parse) {
        None => 0,
        Some(Ok(position)) => position,
        Some(Err(_)) => return HttpResponse::BadRequest().body("bad cursor"),
    };
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    s.afters.push(after);
    let from = from.min(s.messages.len());
    let to = (from + limit).min(s.messages.len());
    HttpResponse::Ok().json(serde_json::json!({
        "messages": s.messages[from..to],
        "cursor": to.to_string(),
        "more": to < s.messages.len(),
    }))
}
