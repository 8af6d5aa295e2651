//! A lab's side of MLLP for the tests: a client that sends framed HL7 v2 messages (whole,
//! split across writes, several in one write, or raw bytes) and reads the acknowledgements.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const START: u8 = 0x0b;
pub const END: [u8; 2] = [0x1c, 0x0d];

/// `message` in an MLLP frame.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![START];
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

/// A plain or TLS stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct MllpClient {
    stream: Box<dyn Stream>,
    buffer: Vec<u8>,
}

impl MllpClient {
    pub async fn connect(addr: SocketAddr) -> MllpClient {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connecting to the MLLP listener");
        stream.set_nodelay(true).unwrap();
        MllpClient {
            stream: Box::new(stream),
            buffer: vec![],
        }
    }

    /// Connects over TLS to `localhost` at `addr`, trusting `ca_pem`, presenting `client`
    /// (certificate and key, PEM) if given. The error is the handshake's.
    pub async fn connect_tls(
        addr: SocketAddr,
        ca_pem: &str,
        client: Option<(&str, &str)>,
    ) -> Result<MllpClient, String> {
        crate::tls();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut stream = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        // TLS 1.3 tells a client its certificate was refused only on its first read: a short
        // wait for that alert before the client is handed out.
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut probe)).await {
            Err(_) => {}
            Ok(Ok(0)) => return Err("closed by the server".into()),
            Ok(Ok(_)) => return Err("unexpected bytes".into()),
            Ok(Err(e)) => return Err(e.to_string()),
        }
        Ok(MllpClient {
            stream: Box::new(stream),
            buffer: vec![],
        })
    }

    /// Writes bytes as they are (frames, pieces of frames, garbage).
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("writing");
        self.stream.flush().await.unwrap();
    }

    /// Sends one message and reads its acknowledgement.
    pub async fn send(&mut self, message: &str) -> String {
        self.write(&frame(message.as_bytes())).await;
        self.ack().await.expect("an acknowledgement")
    }

    /// The next acknowledgement; `None` when the server closed the connection first.
    pub async fn ack(&mut self) -> Option<String> {
        loop {
            if let Some(start) = self.buffer.iter().position(|&b| b == START)
                && let Some(end) = self.buffer[start..]
                    .windows(2)
                    .position(|w| w == END)
                    .map(|e| e + start)
            {
                let ack = String::from_utf8_lossy(&self.buffer[start + 1..end]).into_owned();
                self.buffer.drain(..end + 2);
                return Some(ack);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut chunk))
                .await
                .expect("an answer within 30 s")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closed the connection (reads end) within 10 s.
    pub async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// MSA-1 and MSA-2 of an acknowledgement.
pub fn msa(ack: &str) -> (String, String) {
    let line = ack
        .split('\r')
        .find(|l| l.starts_with("MSA|"))
        .unwrap_or_else(|| panic!("no MSA in {ack:?}"));
    let fields: Vec<&str> = line.split('|').collect();
    (
        fields.get(1).copied().unwrap_or("").to_owned(),
        fields.get(2).copied().unwrap_or("").to_owned(),
    )
}

/// The ERR segment of an acknowledgement, if it has one.
pub fn err(ack: &str) -> Option<String> {
    ack.split('\r')
        .find(|l| l.starts_with("ERR|"))
        .map(str::to_owned)
}
