//! The byte stream under a connection. Plain TCP today; TLS wraps the same `TcpStream`
//! behind the same [`BoxedStream`] without touching the layers above.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::ConnectionError;

/// Anything a connection can run over.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

pub type BoxedStream = Box<dyn AsyncStream>;

/// `security.protocol` of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
}

/// Opens the transport to `addr` (`host:port`).
pub async fn open(
    addr: &str,
    security: SecurityProtocol,
    connect_timeout: Duration,
) -> Result<BoxedStream, ConnectionError> {
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectionError::ConnectTimeout {
            addr: addr.to_owned(),
            after: connect_timeout,
        })?
        .map_err(|e| ConnectionError::Connect {
            addr: addr.to_owned(),
            source: Arc::new(e),
        })?;
    // Requests are written whole; Nagle would only add latency to small ones.
    tcp.set_nodelay(true).map_err(|e| ConnectionError::Connect {
        addr: addr.to_owned(),
        source: Arc::new(e),
    })?;
    match security {
        SecurityProtocol::Plaintext => Ok(Box::new(tcp)),
    }
}
