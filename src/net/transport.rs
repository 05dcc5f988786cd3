//! The byte stream under a connection: plain TCP, or TLS over it, behind one
//! [`BoxedStream`] so that the layers above do not know which.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::ConnectionError;
use super::tls;
use crate::security::Security;

/// Anything a connection can run over.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

pub type BoxedStream = Box<dyn AsyncStream>;

/// Opens the transport to `addr` (`host:port`): TCP, then the TLS handshake when the
/// security protocol asks for it, all within `connect_timeout`.
pub async fn open(
    addr: &str,
    security: &Security,
    connect_timeout: Duration,
) -> Result<BoxedStream, ConnectionError> {
    let timeout = || ConnectionError::ConnectTimeout {
        addr: addr.to_owned(),
        after: connect_timeout,
    };
    let deadline = tokio::time::Instant::now() + connect_timeout;
    let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| timeout())?
        .map_err(|e| ConnectionError::Connect {
            addr: addr.to_owned(),
            source: Arc::new(e),
        })?;
    // Requests are written whole; Nagle would only add latency to small ones.
    tcp.set_nodelay(true).map_err(|e| ConnectionError::Connect {
        addr: addr.to_owned(),
        source: Arc::new(e),
    })?;
    match &security.tls {
        Some(settings) if security.protocol.uses_tls() => {
            let stream = tokio::time::timeout_at(deadline, tls::handshake(tcp, addr, settings.rustls()))
                .await
                .map_err(|_| timeout())??;
            Ok(Box::new(stream))
        }
        None if security.protocol.uses_tls() => Err(ConnectionError::Tls {
            addr: addr.to_owned(),
            reason: format!(
                "security.protocol is {} but no TLS settings were given",
                security.protocol.name()
            ),
        }),
        _ => Ok(Box::new(tcp)),
    }
}
