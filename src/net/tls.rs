//! TLS under a connection: the handshake with the rustls configuration built by
//! [`crate::security`], and failures translated into what the operator should fix.

use std::io;
use std::sync::Arc;

use rustls::{CertificateError, Error as TlsError};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ConnectionError;

/// Runs the TLS handshake over `tcp` to `addr` (`host:port`); the host is the name checked
/// against the certificate and sent as SNI (not sent for an IP address, as RFC 6066 says).
pub(crate) async fn handshake(
    tcp: TcpStream,
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, ConnectionError> {
    let host = host_of(addr);
    let name = ServerName::try_from(host.to_owned()).map_err(|_| ConnectionError::Tls {
        addr: addr.to_owned(),
        reason: format!("`{host}` is not a valid host name for TLS"),
    })?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| from_io(addr, e))
}

/// The host part of `host:port` or `[v6]:port`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Turns an I/O error from the TLS layer into a final TLS error when it carries a rustls
/// error (certificate, alert, protocol), or a retriable connection error otherwise.
fn from_io(addr: &str, e: io::Error) -> ConnectionError {
    match failure(addr, &e) {
        Some(reason) => ConnectionError::Tls {
            addr: addr.to_owned(),
            reason,
        },
        None if e.kind() == io::ErrorKind::UnexpectedEof => ConnectionError::Io {
            addr: addr.to_owned(),
            source: Arc::new(io::Error::new(
                e.kind(),
                "closed during the TLS handshake (is this a PLAINTEXT listener? check security.protocol)",
            )),
        },
        None => ConnectionError::Io {
            addr: addr.to_owned(),
            source: Arc::new(e),
        },
    }
}

/// What went wrong and what to change, if `e` carries a rustls error. With TLS 1.3 a
/// refused client certificate shows only on the first read after the handshake, so the
/// connection layer asks this too.
pub(crate) fn failure(addr: &str, e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .map(|tls| explain(tls, host_of(addr)))
}

/// What went wrong and what to change.
fn explain(e: &TlsError, host: &str) -> String {
    use rustls::AlertDescription as Alert;
    match e {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the broker's certificate is not signed by a trusted CA ({c:?}): set \
                 ssl.truststore.location or ssl.truststore.certificates to the CA that signed it"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the broker's certificate does not name `{host}` (hostname verification, \
                     ssl.endpoint.identification.algorithm=https): connect by a name the \
                     certificate lists, or have it reissued with that name"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the broker's certificate has expired: the broker needs a renewed certificate".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the broker's certificate is not valid yet: check the clocks".to_owned()
            }
            other => format!("the broker's certificate is refused: {other:?}"),
        },
        TlsError::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::HandshakeFailure),
        ) => format!(
            "the broker refused the TLS handshake ({alert:?}): it may require a client certificate \
             its CA trusts (ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key)"
        ),
        TlsError::AlertReceived(Alert::ProtocolVersion) => {
            "the broker does not accept the TLS versions offered (ssl.protocol, ssl.enabled.protocols)"
                .to_owned()
        }
        TlsError::InvalidMessage(_) => {
            "the broker did not answer with TLS: is this a PLAINTEXT or SASL_PLAINTEXT listener? \
             (check security.protocol)"
                .to_owned()
        }
        other => format!("TLS failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("localhost:9093"), "localhost");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
    }
}
