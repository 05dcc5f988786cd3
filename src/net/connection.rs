//! A handshaken broker connection: typed requests at negotiated versions over a
//! [`Pipeline`].

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::Request;

use super::ConnectionError;
use super::pipeline::{OutFrame, Pipeline};
use super::transport::{self, BoxedStream};
use crate::config::ClientConfig;
use crate::protocol::codec::{self, CodecError};
use crate::protocol::errors::{self, ErrorCode};
use crate::protocol::frame::FrameError;
use crate::protocol::versions::{self, ApiVersionTable};

/// A connection to one broker, cheap to clone; all clones share the socket. Requests from
/// any number of tasks are pipelined on it.
#[derive(Clone, Debug)]
pub struct Connection {
    pipeline: Arc<Pipeline>,
    versions: Arc<ApiVersionTable>,
    client_id: Arc<str>,
    /// The SASL session's lifetime (KIP-368), if the broker set one.
    session: Option<Session>,
}

/// A SASL session with an end (KIP-368). A broker closes a connection whose session has ended
/// when it next *reads* a request on it, dropping the answers to requests it was still
/// processing (apache/kafka: `SocketServer.Processor.processCompletedReceives`, which checks
/// `KafkaChannel.serverAuthenticationSessionExpired` for every request received and closes the
/// channel). A request queued behind a slow one (a long-polling fetch) is read late, so kmirror
/// keeps a margin: it stops handing the connection out at 85% of the session, as Kafka's
/// clients re-authenticate between 85% and 95% of it, and stops writing on it at 95%.
#[derive(Clone, Copy, Debug)]
struct Session {
    retire_at: tokio::time::Instant,
    close_at: tokio::time::Instant,
}

impl Session {
    fn starting_now(lifetime: std::time::Duration) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            retire_at: now + lifetime.mul_f64(0.85),
            close_at: now + lifetime.mul_f64(0.95),
        }
    }
}

impl Connection {
    /// Connects (TCP, TLS if configured), performs the ApiVersions handshake and
    /// authenticates with SASL if configured.
    pub async fn connect(addr: &str, config: &ClientConfig) -> Result<Self, ConnectionError> {
        Self::connect_for("", addr, config).await
    }

    /// [`connect`](Self::connect) for a connection of `cluster` (the label of its metrics).
    pub async fn connect_for(
        cluster: &str,
        addr: &str,
        config: &ClientConfig,
    ) -> Result<Self, ConnectionError> {
        let stream = transport::open(addr, &config.security, config.connect_timeout).await?;
        Self::handshake_for(cluster, stream, addr, config).await
    }

    /// Runs the ApiVersions handshake and, if the configuration asks for it, SASL
    /// authentication over an already open stream.
    pub async fn handshake(
        stream: BoxedStream,
        addr: &str,
        config: &ClientConfig,
    ) -> Result<Self, ConnectionError> {
        Self::handshake_for("", stream, addr, config).await
    }

    async fn handshake_for(
        cluster: &str,
        stream: BoxedStream,
        addr: &str,
        config: &ClientConfig,
    ) -> Result<Self, ConnectionError> {
        let pipeline = Pipeline::start(
            stream,
            addr,
            cluster,
            config.max_frame_bytes,
            config.max_in_flight,
            config.request_timeout,
        );
        let mut conn = Self {
            pipeline: Arc::new(pipeline),
            versions: Arc::new(ApiVersionTable::default()),
            client_id: config.client_id.as_str().into(),
            session: None,
        };
        let timeout = || ConnectionError::ConnectTimeout {
            addr: addr.to_owned(),
            after: config.connect_timeout,
        };
        let deadline = tokio::time::Instant::now() + config.connect_timeout;
        let security = &config.security;
        let table = tokio::time::timeout_at(deadline, conn.negotiate())
            .await
            .map_err(|_| timeout())?
            .map_err(|e| first_response_error(e, security.protocol.uses_tls()))?;
        conn.versions = Arc::new(table);
        if security.protocol.uses_sasl() {
            let sasl = security.sasl.as_ref().ok_or_else(|| ConnectionError::Sasl {
                addr: addr.to_owned(),
                reason: format!(
                    "security.protocol is {} but no SASL settings were given",
                    security.protocol.name()
                ),
            })?;
            let lifetime = tokio::time::timeout_at(deadline, super::sasl::authenticate(&conn, sasl))
                .await
                .map_err(|_| timeout())??;
            conn.session = lifetime.map(Session::starting_now);
        }
        Ok(conn)
    }

    /// ApiVersions at our highest version; a broker that does not know it answers with
    /// UNSUPPORTED_VERSION and its ranges in a v0 body (KIP-511), after which we retry at the
    /// highest version it offers.
    async fn negotiate(&self) -> Result<ApiVersionTable, ConnectionError> {
        let request = versions::build_api_versions_request();
        let mut version = versions::API_VERSIONS_VERSION;
        for _ in 0..2 {
            let (id, frame) = self
                .pipeline
                .round_trip(ApiKey::ApiVersions, |id| self.encode(&request, version, id))
                .await?;
            let response = codec::decode_response::<ApiVersionsRequest>(frame.clone(), version, id)
                .or_else(|e| codec::decode_response::<ApiVersionsRequest>(frame, 0, id).map_err(|_| e))
                .map_err(|source| self.codec_error(source))?;
            match response.error_code {
                errors::NONE => return Ok(ApiVersionTable::from_response(&response)),
                errors::UNSUPPORTED_VERSION => {
                    let offered = response
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                        .map_or(0, |k| k.max_version);
                    version = offered.clamp(0, versions::API_VERSIONS_VERSION);
                }
                code => break_with(self.addr(), code)?,
            }
        }
        Err(ConnectionError::Handshake {
            addr: self.addr().to_owned(),
            code: ErrorCode(errors::UNSUPPORTED_VERSION),
        })
    }

    fn encode<R: Request>(&self, request: &R, version: i16, id: i32) -> Result<OutFrame, CodecError> {
        let mut buf = BytesMut::with_capacity(256);
        codec::encode_request(&mut buf, request, version, id, &self.client_id)?;
        Ok(OutFrame::new([buf.freeze()]))
    }

    fn codec_error(&self, source: CodecError) -> ConnectionError {
        ConnectionError::Codec {
            addr: self.addr().to_owned(),
            source,
        }
    }

    pub fn addr(&self) -> &str {
        self.pipeline.addr()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The versions negotiated with this broker.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// The version to use for `api`, or why there is none.
    pub fn version(&self, api: ApiKey) -> Result<i16, ConnectionError> {
        self.versions
            .version(api)
            .map_err(|source| ConnectionError::Version {
                addr: self.addr().to_owned(),
                source,
            })
    }

    /// False once the connection failed or is closing, or its SASL session nears its end;
    /// callers then open a new one.
    pub fn is_usable(&self) -> bool {
        self.pipeline.is_usable() && !self.session_ending()
    }

    /// True when the connection is healthy but its SASL session nears its end: it must be
    /// [`retire`](Self::retire)d, not counted as failed.
    pub fn session_ending(&self) -> bool {
        self.session
            .is_some_and(|s| tokio::time::Instant::now() >= s.retire_at)
    }

    /// Retires a connection whose session nears its end, in the background: requests already
    /// on it finish (dropping a handle never fails them), a handle given out just before may
    /// still send until 95% of the session, after which it takes no new request; once the
    /// last answer is in, the socket is closed.
    pub fn retire(self) {
        let close_at = self.session.map(|s| s.close_at);
        drop(tokio::spawn(async move {
            if let Some(at) = close_at {
                tokio::time::sleep_until(at).await;
            }
            self.close().await;
        }));
    }

    /// The error that ended this connection, if it has ended.
    pub fn failure(&self) -> Option<ConnectionError> {
        self.pipeline.failure()
    }

    /// Sends `request` at the highest version both sides speak.
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Response, ConnectionError> {
        let api = ApiKey::try_from(R::KEY)
            .map_err(|()| self.codec_error(CodecError::UnknownApiKey { key: R::KEY }))?;
        let version = self.version(api)?;
        self.request_at(request, version).await
    }

    /// Sends `request` at an explicit version.
    pub async fn request_at<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ConnectionError> {
        let api = ApiKey::try_from(R::KEY)
            .map_err(|()| self.codec_error(CodecError::UnknownApiKey { key: R::KEY }))?;
        let (id, frame) = self
            .pipeline
            .round_trip(api, |id| self.encode(request, version, id))
            .await?;
        codec::decode_response::<R>(frame, version, id).map_err(|source| self.codec_error(source))
    }

    /// Sends a request whose frame the caller encodes itself (one or more slices, so that
    /// record batches need not be copied), and returns the raw response frame with its
    /// correlation id.
    pub async fn request_raw(
        &self,
        api: ApiKey,
        encode: impl FnOnce(i32) -> Result<Vec<bytes::Bytes>, CodecError>,
    ) -> Result<(i32, bytes::Bytes), ConnectionError> {
        self.pipeline
            .round_trip(api, |id| encode(id).map(OutFrame::new))
            .await
    }

    /// Like [`request_raw`](Self::request_raw), in two steps: the frame is on its way to the
    /// broker when this returns, and the response is awaited separately. A task that sends
    /// several requests this way gets them to the broker in the order it sent them.
    pub async fn send_raw(
        &self,
        api: ApiKey,
        encode: impl FnOnce(i32) -> Result<Vec<bytes::Bytes>, CodecError>,
    ) -> Result<PendingResponse, ConnectionError> {
        let pending = self
            .pipeline
            .send(api, |id| encode(id).map(OutFrame::new))
            .await?;
        Ok(PendingResponse { pending })
    }

    /// Stops taking requests, lets those in flight finish, closes the socket.
    pub async fn close(&self) {
        self.pipeline.close().await;
    }
}

/// A request sent with [`Connection::send_raw`] whose response has not been read yet.
#[derive(Debug)]
pub struct PendingResponse {
    pending: super::pipeline::Pending,
}

impl PendingResponse {
    /// The response frame (header included) and the request's correlation id.
    pub async fn response(self) -> Result<(i32, bytes::Bytes), ConnectionError> {
        self.pending.wait().await
    }
}

/// The first response tells whether both ends speak the same transport: a TLS record
/// (an alert) read as a Kafka frame means the listener expects TLS; a TLS failure that only
/// shows on the first read (a client certificate refused under TLS 1.3) is named as such.
fn first_response_error(e: ConnectionError, tls: bool) -> ConnectionError {
    match e {
        ConnectionError::Frame {
            addr,
            source: FrameError::TooLarge { length, .. },
        } if !tls && is_tls_record_header(length) => ConnectionError::Tls {
            addr,
            reason: "the broker answered with TLS: is this an SSL or SASL_SSL listener? (check \
                     security.protocol)"
                .to_owned(),
        },
        ConnectionError::Io { addr, source } if tls => match super::tls::failure(&addr, &source) {
            Some(reason) => ConnectionError::Tls { addr, reason },
            None => ConnectionError::Io { addr, source },
        },
        other => other,
    }
}

/// A frame length whose bytes are a TLS record header: content type 20 to 23 (change cipher
/// spec, alert, handshake, application data), then major version 3.
fn is_tls_record_header(length: usize) -> bool {
    let bytes = (length as u64).to_be_bytes();
    let [.., content_type, major, _, _] = bytes;
    (20..=23).contains(&content_type) && major == 3
}

fn break_with(addr: &str, code: i16) -> Result<(), ConnectionError> {
    Err(ConnectionError::Handshake {
        addr: addr.to_owned(),
        code: ErrorCode(code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_record_headers_are_recognised_in_a_frame_length() {
        // An alert record (21), TLS 1.2 (3, 3), 2 bytes: 0x15030300 read as a length.
        assert!(is_tls_record_header(0x1503_0300));
        assert!(is_tls_record_header(0x1603_0100));
        assert!(!is_tls_record_header(0x0503_0300));
        assert!(!is_tls_record_header(0x1502_0300));
        assert!(!is_tls_record_header(300 * 1024 * 1024 + 7));
    }
}
