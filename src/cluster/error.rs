use thiserror::Error;

use super::metadata::RoutingError;
use crate::net::ConnectionError;
use crate::protocol::errors::ErrorCode;

/// A failed operation against one cluster; every variant names the cluster, and partition
/// errors name the topic-partition and, where there is one, the offset.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("cluster {cluster}: no bootstrap server answered (tried {tried}); last error: {last}")]
    Bootstrap {
        cluster: String,
        tried: String,
        last: ConnectionError,
    },
    #[error("cluster {cluster}: {source}")]
    Connection {
        cluster: String,
        #[source]
        source: ConnectionError,
    },
    #[error("cluster {cluster}: {source}")]
    Routing {
        cluster: String,
        #[source]
        source: RoutingError,
    },
    #[error("cluster {cluster}: {api} {topic}-{partition}{at} failed: {error}{message}",
        at = offset.map(|o| format!(" at offset {o}")).unwrap_or_default(),
        message = message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Partition {
        cluster: String,
        api: &'static str,
        topic: String,
        partition: i32,
        offset: Option<i64>,
        error: ErrorCode,
        message: Option<String>,
    },
    #[error("cluster {cluster}: {what} failed: {error}{message}",
        message = message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Request {
        cluster: String,
        what: String,
        error: ErrorCode,
        message: Option<String>,
    },
    #[error("cluster {cluster}: {api} for group {group}{tp} failed: {error}{message}",
        tp = at.as_deref().map(|(t, p)| format!(" on {t}-{p}")).unwrap_or_default(),
        message = message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Group {
        cluster: String,
        api: &'static str,
        group: String,
        /// The topic-partition, for a partition's error (boxed: keeps the error small).
        at: Option<Box<(String, i32)>>,
        error: ErrorCode,
        message: Option<String>,
    },
    #[error("cluster {cluster}: broker {broker} answered {api} without {topic}-{partition}")]
    MissingPartition {
        cluster: String,
        broker: String,
        api: &'static str,
        topic: String,
        partition: i32,
    },
}

impl ClusterError {
    /// Whether the same operation may succeed later (after a reconnect or a metadata
    /// refresh).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Routing { .. } => true,
            // A TLS or SASL failure (untrusted certificate, wrong password) stays final.
            Self::Bootstrap { last, .. } => last.is_retriable(),
            Self::Connection { source, .. } => source.is_retriable(),
            Self::Partition { error, .. } | Self::Request { error, .. } | Self::Group { error, .. } => {
                error.is_retriable()
            }
            // A broker may leave partitions out of an answer for a while: a Fetch it throttles
            // for a quota comes back with no partition at all (apache/kafka:
            // `KafkaApis.handleFetchRequest` answers an empty response with the throttle
            // time, KIP-219). The connection holds the next request until the wait is over.
            Self::MissingPartition { .. } => true,
        }
    }

    /// Whether the cached metadata is the likely cause.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            Self::Routing { .. } => true,
            Self::Connection { source, .. } => source.is_retriable(),
            Self::Partition { error, .. } => error.needs_metadata_refresh(),
            _ => false,
        }
    }

    /// The Kafka error code, for partition and request errors.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Partition { error, .. } | Self::Request { error, .. } | Self::Group { error, .. } => {
                Some(*error)
            }
            _ => None,
        }
    }
}
