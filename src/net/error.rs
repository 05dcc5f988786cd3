use std::io;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use thiserror::Error;

use crate::protocol::codec::CodecError;
use crate::protocol::errors::ErrorCode;
use crate::protocol::frame::FrameError;
use crate::protocol::versions::VersionError;

/// Why a request on a broker connection failed. Cloneable: when a connection fails, every
/// request waiting on it receives the same error.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum ConnectionError {
    #[error("cannot connect to broker {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("connecting to broker {addr} timed out after {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("connection to broker {addr} failed: {source}")]
    Io {
        addr: String,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("broker {addr} closed the connection")]
    ClosedByPeer { addr: String },
    #[error("connection to broker {addr} was closed by kmirror")]
    Closed { addr: String },
    #[error("broker {addr} sent a bad frame: {source}")]
    Frame {
        addr: String,
        #[source]
        source: FrameError,
    },
    #[error("{api:?} request to broker {addr} got no response within {after:?}")]
    Timeout {
        addr: String,
        api: ApiKey,
        after: Duration,
    },
    #[error("broker {addr}: {source}")]
    Codec {
        addr: String,
        #[source]
        source: CodecError,
    },
    #[error("broker {addr}: {source}")]
    Version {
        addr: String,
        #[source]
        source: VersionError,
    },
    #[error("ApiVersions handshake with broker {addr} failed: {code}")]
    Handshake { addr: String, code: ErrorCode },
    /// TLS could not be established; retrying will not help (`reason` says what to fix).
    #[error("TLS with broker {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    /// SASL authentication failed; retrying will not help (`reason` says what to fix). Never
    /// carries a password.
    #[error("SASL with broker {addr} failed: {reason}")]
    Sasl { addr: String, reason: String },
}

impl ConnectionError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::ConnectTimeout { .. } => "connect_timeout",
            Self::Io { .. } => "io",
            Self::ClosedByPeer { .. } => "closed_by_peer",
            Self::Closed { .. } => "closed",
            Self::Frame { .. } => "frame",
            Self::Timeout { .. } => "timeout",
            Self::Codec { .. } => "codec",
            Self::Version { .. } => "version",
            Self::Handshake { .. } => "handshake",
            Self::Tls { .. } => "tls",
            Self::Sasl { .. } => "sasl",
        }
    }

    /// Whether a new connection to the same broker may succeed where this one failed.
    /// Protocol-level disagreements (bad frames, undecodable responses, missing API
    /// versions) will not go away by reconnecting, and neither will TLS and SASL failures
    /// (untrusted certificate, wrong password): those are final.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::ConnectTimeout { .. }
                | Self::Io { .. }
                | Self::ClosedByPeer { .. }
                | Self::Timeout { .. }
        )
    }

    /// The broker the error is about.
    pub fn addr(&self) -> &str {
        match self {
            Self::Connect { addr, .. }
            | Self::ConnectTimeout { addr, .. }
            | Self::Io { addr, .. }
            | Self::ClosedByPeer { addr }
            | Self::Closed { addr }
            | Self::Frame { addr, .. }
            | Self::Timeout { addr, .. }
            | Self::Codec { addr, .. }
            | Self::Version { addr, .. }
            | Self::Handshake { addr, .. }
            | Self::Tls { addr, .. }
            | Self::Sasl { addr, .. } => addr,
        }
    }
}
