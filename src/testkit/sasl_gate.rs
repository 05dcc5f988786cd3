//! A Kafka-aware SASL front end for tests: it authenticates clients itself (PLAIN and SCRAM
//! with real credential checks) and then relays raw frames to an upstream broker (the fake
//! broker), so that SASL tests can run against a broker without SASL of its own and count
//! authentications, or see a server signature forged on purpose (tests against Apache Kafka
//! use its own SASL listeners).
//!
//! Per connection: ApiVersions is relayed to the upstream (which advertises SaslHandshake
//! and SaslAuthenticate), SaslHandshake and SaslAuthenticate are answered here, any other
//! request before authentication closes the connection (as Kafka does), and after success
//! the two sockets are joined.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::scram_server::{ScramServer, Step};
use crate::net::scram::ScramHash;
use crate::protocol::frame;
use crate::security::SaslMechanism;

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Who may log in, and how.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub mechanisms: Vec<SaslMechanism>,
    pub users: Vec<(String, String)>,
    /// Sent as `session_lifetime_ms` (KIP-368); the gate closes the connection when it ends.
    pub session_lifetime: Option<Duration>,
    /// Send a wrong SCRAM server signature (a server that does not know the password).
    pub forge_server_signature: bool,
}

impl GateConfig {
    pub fn new(mechanisms: &[SaslMechanism], user: &str, password: &str) -> Self {
        Self {
            mechanisms: mechanisms.to_vec(),
            users: vec![(user.to_owned(), password.to_owned())],
            session_lifetime: None,
            forge_server_signature: false,
        }
    }

    fn password_of(&self, user: &str) -> Option<String> {
        self.users.iter().find(|(u, _)| u == user).map(|(_, p)| p.clone())
    }
}

/// A running gate; dropping it stops the listener (open connections end with their peers).
#[derive(Debug)]
pub struct SaslGate {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    authenticated: Arc<AtomicUsize>,
}

impl Drop for SaslGate {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SaslGate {
    pub async fn start(upstream: &str, config: GateConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        Self::serve(listener, upstream, config)
    }

    /// Serves on a listener the caller bound (to know the port before the upstream starts).
    pub fn serve(listener: TcpListener, upstream: &str, config: GateConfig) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let authenticated = Arc::new(AtomicUsize::new(0));
        let (config, upstream, count) = (Arc::new(config), upstream.to_owned(), authenticated.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (config, upstream, count) = (config.clone(), upstream.clone(), count.clone());
                drop(tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let _ = gate(client, server, &config, &count).await;
                    }
                }));
            }
        });
        Self {
            addr,
            accept,
            authenticated,
        }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Connections that authenticated so far.
    pub fn authenticated(&self) -> usize {
        self.authenticated.load(Ordering::SeqCst)
    }
}

/// Runs one connection through authentication, then joins it to the upstream.
pub async fn gate<C>(
    mut client: C,
    mut server: TcpStream,
    config: &GateConfig,
    count: &AtomicUsize,
) -> Option<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::new();
    let mut mechanism = None;
    let mut scram = None;
    loop {
        let request = read_frame(&mut client, &mut buf).await?;
        let mut body = request.clone();
        let header = decode_request_header_from_buffer(&mut body).ok()?;
        let (api, version, cid) = (
            ApiKey::try_from(header.request_api_key).ok()?,
            header.request_api_version,
            header.correlation_id,
        );
        match api {
            ApiKey::ApiVersions => {
                write_frame(&mut server, &request).await?;
                let mut upstream_buf = BytesMut::new();
                let response = read_frame(&mut server, &mut upstream_buf).await?;
                write_frame(&mut client, &response).await?;
            }
            ApiKey::SaslHandshake => {
                let req = SaslHandshakeRequest::decode(&mut body, version).ok()?;
                let wanted =
                    SaslMechanism::parse(req.mechanism.as_str()).filter(|m| config.mechanisms.contains(m));
                let response = SaslHandshakeResponse::default()
                    .with_error_code(if wanted.is_some() {
                        0
                    } else {
                        UNSUPPORTED_SASL_MECHANISM
                    })
                    .with_mechanisms(
                        config
                            .mechanisms
                            .iter()
                            .map(|m| StrBytes::from_static_str(m.name()))
                            .collect(),
                    );
                mechanism = wanted;
                scram = match wanted {
                    Some(SaslMechanism::ScramSha256) => {
                        Some(ScramServer::new(ScramHash::Sha256, config.forge_server_signature))
                    }
                    Some(SaslMechanism::ScramSha512) => {
                        Some(ScramServer::new(ScramHash::Sha512, config.forge_server_signature))
                    }
                    _ => None,
                };
                write_frame(&mut client, &encode(cid, version, &response)?).await?;
            }
            ApiKey::SaslAuthenticate => {
                let req = SaslAuthenticateRequest::decode(&mut body, version).ok()?;
                let step = match (mechanism?, scram.as_mut()) {
                    (SaslMechanism::Plain, _) => plain(&req.auth_bytes, config),
                    (_, Some(server)) => server.step(&req.auth_bytes, |u| config.password_of(u)),
                    (_, None) => return None,
                };
                let lifetime = config.session_lifetime.map_or(0, |d| d.as_millis() as i64);
                let (response, done) = match step {
                    Step::Continue(bytes) => (
                        SaslAuthenticateResponse::default().with_auth_bytes(bytes.into()),
                        false,
                    ),
                    Step::Success(bytes) => (
                        SaslAuthenticateResponse::default()
                            .with_auth_bytes(bytes.into())
                            .with_session_lifetime_ms(lifetime),
                        true,
                    ),
                    Step::Failure(message) => (
                        SaslAuthenticateResponse::default()
                            .with_error_code(SASL_AUTHENTICATION_FAILED)
                            .with_error_message(Some(StrBytes::from_string(message))),
                        false,
                    ),
                };
                let failed = response.error_code != 0;
                write_frame(&mut client, &encode(cid, version, &response)?).await?;
                if failed {
                    return None;
                }
                if done {
                    count.fetch_add(1, Ordering::SeqCst);
                    server.write_all(&buf).await.ok()?;
                    let join = tokio::io::copy_bidirectional(&mut client, &mut server);
                    match config.session_lifetime {
                        Some(l) => {
                            let _ = tokio::time::timeout(l, join).await;
                        }
                        None => {
                            let _ = join.await;
                        }
                    }
                    return Some(());
                }
            }
            // Anything else before authentication ends the connection, as in Kafka.
            _ => return None,
        }
    }
}

fn plain(message: &[u8], config: &GateConfig) -> Step {
    let mut parts = message.split(|b| *b == 0);
    let (Some(_authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::Failure("malformed PLAIN message".to_owned());
    };
    let user = String::from_utf8_lossy(user);
    match config.password_of(&user) {
        Some(p) if p.as_bytes() == password => Step::Success(Vec::new()),
        _ => Step::Failure("Authentication failed: Invalid username or password".to_owned()),
    }
}

async fn read_frame<R: AsyncRead + Unpin>(read: &mut R, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        if let Some(frame) = frame::split(buf, 64 * 1024 * 1024).ok()? {
            return Some(frame);
        }
        if read.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(write: &mut W, body: &[u8]) -> Option<()> {
    let len = i32::try_from(body.len()).ok()?;
    write.write_all(&len.to_be_bytes()).await.ok()?;
    write.write_all(body).await.ok()
}

/// A response body with its header (no length prefix).
fn encode<R: Encodable + HeaderVersion>(cid: i32, version: i16, body: &R) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(cid)
        .encode(&mut buf, R::header_version(version))
        .ok()?;
    body.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}
