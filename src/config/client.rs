//! How kmirror talks to the brokers of one cluster.

use std::time::Duration;

use crate::protocol::frame::DEFAULT_MAX_FRAME_BYTES;
use crate::security::Security;

/// How kmirror talks to the brokers of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `client.id` sent in every request header; brokers log it and quota by it.
    pub client_id: String,
    /// Time allowed for TCP connect plus the ApiVersions handshake.
    pub connect_timeout: Duration,
    /// Time allowed for one response. A broker that misses it is treated as dead and the
    /// connection is closed, failing every request still waiting on it (as the Java client
    /// does), so that a half-open socket cannot stall a partition forever.
    pub request_timeout: Duration,
    /// Largest response frame accepted.
    pub max_frame_bytes: usize,
    /// Requests in flight on one connection at most.
    pub max_in_flight: usize,
    /// First delay before reconnecting to a broker that failed.
    pub reconnect_backoff: Duration,
    /// Longest delay between reconnect attempts.
    pub reconnect_backoff_max: Duration,
    /// Attempts for one request that keeps failing with retriable errors.
    pub request_retries: u32,
    /// `security.protocol` with its TLS and SASL settings.
    pub security: Security,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_id: "kmirror".to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_in_flight: 16,
            reconnect_backoff: Duration::from_millis(50),
            // Kafka's `reconnect.backoff.max.ms` default: a broker that is back is found
            // within a second.
            reconnect_backoff_max: Duration::from_secs(1),
            request_retries: 8,
            security: Security::default(),
        }
    }
}
