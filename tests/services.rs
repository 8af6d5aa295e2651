//! External services for the tests, real servers on loopback: an HTTP service with a health
//! resource that checks an API key (put behind `receiver::tls_front` for HTTPS), an MLLP peer
//! that acknowledges or rejects, a port that accepts connections and never answers, and a
//! port nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP service: `GET /health` answers 200 when the request carries `X-Api-Key: <key>`
/// (401 otherwise), `GET /broken` answers 500.
pub struct HttpService {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// The API keys requests carried, as received.
    pub keys: Arc<Mutex<Vec<String>>>,
}

impl HttpService {
    pub async fn start(key: &str) -> HttpService {
        let hits = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(Mutex::new(vec![]));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = (key.to_owned(), hits.clone(), keys.clone());
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new()
                .app_data(web::Data::new(state))
                .route("/health", web::get().to(health))
                .route(
                    "/broken",
                    web::get()
                        .to(|| async { HttpResponse::InternalServerError().body("database down") }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listening")
        .run();
        tokio::spawn(server);
        HttpService { addr, hits, keys }
    }

    /// Requests that reached the health resource.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

type State = (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

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
