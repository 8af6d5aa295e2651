//! The MLLP listener (`intake.mllp_bind`): labs' systems connect over TCP (or TLS, mutual
//! where `intake.mllp_client_ca_file` is set) and send framed HL7 v2 messages (a 0x0B start
//! byte, the message, 0x1C 0x0D), one acknowledgement answered per message in order. A
//! frame may arrive in pieces and several in one read. The listener is shared: MSH-3 and
//! MSH-4 choose the LAB connection (its identifiers' receiving application and facility: the
//! lab as Switchboard addresses it). Bytes outside a frame close the connection; so does a
//! database failure, without an acknowledgement, so that the sender sends the message again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use entity::service_connection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::{Arrival, acknowledge, route, take, unassigned, unroutable};
use crate::config::IntakeSettings;
use crate::domain::hl7::{self, Ack, MAX_MESSAGE_BYTES, Problem, ProblemCode};
use crate::domain::lab_intake::Transport;
use crate::error::AppResult;
use crate::store::Store;

const START: u8 = 0x0b;
const END: u8 = 0x1c;
const CR: u8 = 0x0d;

/// The running listener.
pub struct MllpListener {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MllpListener {
    /// Starts listening when `intake.mllp_bind` is set.
    pub async fn start(settings: &IntakeSettings, store: Store) -> anyhow::Result<Option<Self>> {
        let Some(bind) = &settings.mllp_bind else {
            return Ok(None);
        };
        let tls = tls_acceptor(settings)?;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding intake.mllp_bind {bind}"))?;
        let addr = listener.local_addr()?;
        let idle = Duration::from_secs(settings.mllp_idle_seconds.unwrap_or(300).max(1));
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "MLLP: accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let store = store.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let served = match tls {
                        None => serve(stream, peer, &store, idle).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(idle, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve(stream, peer, &store, idle).await,
                                Ok(Err(e)) => Err(Closed::Handshake(e.to_string())),
                                Err(_) => Err(Closed::Idle),
                            }
                        }
                    };
                    match served {
                        Ok(()) | Err(Closed::Idle) => {}
                        Err(why) => tracing::info!(%peer, reason = %why, "MLLP connection closed"),
                    }
                });
            }
        });
        Ok(Some(MllpListener { addr, task }))
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

fn tls_acceptor(settings: &IntakeSettings) -> anyhow::Result<Option<TlsAcceptor>> {
    let (cert, key) = match (&settings.mllp_tls_cert_file, &settings.mllp_tls_key_file) {
        (None, None) => {
            anyhow::ensure!(
                settings.mllp_client_ca_file.is_none(),
                "intake.mllp_client_ca_file needs intake.mllp_tls_cert_file and intake.mllp_tls_key_file"
            );
            return Ok(None);
        }
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!("intake.mllp_tls_cert_file and intake.mllp_tls_key_file go together"),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &settings.mllp_client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading {}", ca.display()))?
            {
                roots.add(c.with_context(|| format!("reading {}", ca.display()))?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .context("intake.mllp_client_ca_file")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .context("intake.mllp_tls_cert_file and intake.mllp_tls_key_file")?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Why a connection was closed.
#[derive(Debug)]
enum Closed {
    Idle,
    Handshake(String),
    Framing(&'static str),
    Io(std::io::Error),
    Store(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Idle => f.write_str("idle"),
            Closed::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Closed::Framing(e) => write!(f, "framing error: {e}"),
            Closed::Io(e) => write!(f, "{e}"),
            Closed::Store(e) => write!(f, "the message could not be stored: {e}"),
        }
    }
}

/// One frame read: a message, or one too large to keep (read to its end and dropped).
enum Frame {
    Message(Vec<u8>),
    TooLarge(usize),
}

/// Reads frames from `stream` and answers each; returns when the peer closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    store: &Store,
    idle: Duration,
) -> Result<(), Closed> {
    let mut reader = Frames::default();
    let mut chunk = vec![0u8; 64 * 1024];
    // The connection this session's messages went to.
    let mut session = None;
    loop {
        while let Some(frame) = reader.next_frame() {
            let ack = match frame {
                Frame::TooLarge(size) => {
                    tracing::warn!(%peer, size, "MLLP: a message over the size limit was dropped");
                    acknowledge(
                        None,
                        Some(&Problem::new(
                            ProblemCode::TooLarge,
                            format!("messages are taken up to {MAX_MESSAGE_BYTES} bytes"),
                        )),
                        None,
                    )
                }
                Frame::Message(raw) => answer(store, &raw, peer, &mut session)
                    .await
                    .map_err(|e| Closed::Store(e.message()))?,
            };
            let mut framed = Vec::with_capacity(ack.text.len() + 3);
            framed.push(START);
            framed.extend_from_slice(ack.text.as_bytes());
            framed.extend_from_slice(&[END, CR]);
            stream.write_all(&framed).await.map_err(Closed::Io)?;
            stream.flush().await.map_err(Closed::Io)?;
        }
        let n = match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
            Err(_) => {
                let _ = stream.shutdown().await;
                return Err(Closed::Idle);
            }
            Ok(read) => read.map_err(Closed::Io)?,
        };
        if n == 0 {
            return if reader.is_between_frames() {
                Ok(())
            } else {
                Err(Closed::Framing(
                    "the peer closed in the middle of a message",
                ))
            };
        }
        if let Err(e) = reader.push(&chunk[..n]) {
            let _ = stream.shutdown().await;
            return Err(Closed::Framing(e));
        }
    }
}

/// The acknowledgement of one message: through the connection that takes its sender, or
/// (no readable header) the connection this session's earlier messages went to. A message
/// no connection takes is kept all the same, and rejected.
async fn answer(
    store: &Store,
    raw: &[u8],
    peer: SocketAddr,
    session: &mut Option<service_connection::Model>,
) -> AppResult<Ack> {
    let arrival = Arrival {
        transport: Transport::Mllp,
        ip: Some(peer.ip().to_string()),
    };
    let header = hl7::header_of(raw);
    let connection = match &header {
        Some(h) => route(store, h).await?,
        None => session.clone(),
    };
    let Some(connection) = connection else {
        let problem = unroutable(header.as_ref());
        tracing::warn!(%peer, code = problem.code.as_str(), "MLLP: a message no connection takes was kept and rejected");
        return unassigned(store, raw, header, problem, arrival).await;
    };
    let ack = take(store, &connection, raw, arrival).await?;
    *session = Some(connection);
    Ok(ack)
}

/// MLLP framing over a byte stream.
#[derive(Default)]
struct Frames {
    /// Inside a frame: its bytes so far (none while between frames).
    current: Option<Vec<u8>>,
    /// Inside a frame too large to keep: how many bytes it had.
    dropping: Option<usize>,
    /// The end byte was seen; the carriage return must follow.
    ending: bool,
    ready: std::collections::VecDeque<Frame>,
}

impl Frames {
    fn is_between_frames(&self) -> bool {
        self.current.is_none() && self.dropping.is_none()
    }

    fn next_frame(&mut self) -> Option<Frame> {
        self.ready.pop_front()
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        for &b in bytes {
            if self.ending {
                if b != CR {
                    return Err("the end byte was not followed by a carriage return");
                }
                self.ending = false;
                if let Some(size) = self.dropping.take() {
                    self.ready.push_back(Frame::TooLarge(size));
                } else if let Some(message) = self.current.take() {
                    self.ready.push_back(Frame::Message(message));
                }
                continue;
            }
            let inside = self.current.is_some() || self.dropping.is_some();
            match b {
                START if inside => return Err("a start byte inside a message"),
                START => self.current = Some(Vec::new()),
                END if inside => self.ending = true,
                // Between frames, line ends and spaces some senders add are ignored.
                b'\r' | b'\n' | b' ' if !inside => {}
                _ if !inside => return Err("bytes outside a frame"),
                _ => {
                    if let Some(size) = self.dropping.as_mut() {
                        *size += 1;
                    } else if let Some(message) = self.current.as_mut() {
                        message.push(b);
                        if message.len() > MAX_MESSAGE_BYTES {
                            self.dropping = Some(message.len());
                            self.current = None;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), &'static str>) {
        let mut f = Frames::default();
        let mut out = vec![];
        for c in chunks {
            if let Err(e) = f.push(c) {
                return (out, Err(e));
            }
            while let Some(frame) = f.next_frame() {
                match frame {
                    Frame::Message(m) => out.push(m),
                    Frame::TooLarge(n) => out.push(format!("too large {n}").into_bytes()),
                }
            }
        }
        (out, Ok(()))
    }

    #[test]
    fn frames_split_across_reads_and_several_in_one_read_are_found() {
        let (out, ok) = frames(&[
            b"\x0bMSH|a",
            b"bc\x1c",
            b"\x0d\x0bMSH|2\x1c\x0d\x0bMSH|3\x1c\x0d",
        ]);
        assert!(ok.is_ok());
        assert_eq!(
            out,
            vec![b"MSH|abc".to_vec(), b"MSH|2".to_vec(), b"MSH|3".to_vec()]
        );
    }

    #[test]
    fn bytes_outside_a_frame_and_a_start_inside_one_are_framing_errors() {
        assert!(frames(&[b"GET / HTTP/1.1\r\n"]).1.is_err());
        assert!(frames(&[b"\x0bMSH\x0bMSH\x1c\x0d"]).1.is_err());
        assert!(frames(&[b"\x0bMSH\x1cX"]).1.is_err());
        assert!(frames(&[b"\r\n\x0bMSH\x1c\x0d\r\n"]).1.is_ok());
    }

    #[test]
    fn a_message_over_the_limit_is_read_to_its_end_and_reported() {
        let big = vec![b'x'; MAX_MESSAGE_BYTES + 10];
        let (out, ok) = frames(&[b"\x0b", &big, b"\x1c\x0d\x0bMSH|next\x1c\x0d"]);
        assert!(ok.is_ok());
        assert_eq!(out.len(), 2);
        assert!(String::from_utf8_lossy(&out[0]).starts_with("too large"));
        assert_eq!(out[1], b"MSH|next".to_vec());
    }
}
