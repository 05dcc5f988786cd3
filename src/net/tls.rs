//! TLS under a connection: the rustls client configuration built from [`TlsSettings`], the
//! handshake, and failures translated into what the operator should fix.
//!
//! rustls with the ring provider only (no aws-lc-rs, which needs a C toolchain); the
//! provider is passed explicitly so that no process-wide default is needed.

use std::io;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ConnectionError;
use super::security::{ClientIdentity, TlsVersion};

/// Builds the rustls configuration; the error says what is wrong with the settings.
pub(crate) fn client_config(
    trusted: &[CertificateDer<'static>],
    verify_hostname: bool,
    versions: &[TlsVersion],
    identity: Option<&ClientIdentity>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(ring::default_provider());
    let mut roots = RootCertStore::empty();
    if trusted.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(
                "no truststore is configured and the system has no CA certificates: \
                        set ssl.truststore.location or ssl.truststore.certificates"
                    .to_owned(),
            );
        }
    } else {
        let (_, ignored) = roots.add_parsable_certificates(trusted.iter().cloned());
        if roots.is_empty() {
            return Err(format!(
                "none of the {ignored} truststore certificates is a usable CA certificate"
            ));
        }
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = versions
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("truststore: {e}"))?;
    let builder = if verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostname {
                inner: verifier,
                provider,
            }))
    };
    let config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| format!("client certificate and key do not fit together: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

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

/// Chain verification without the host name check, for
/// `ssl.endpoint.identification.algorithm=` (empty), which Kafka allows and kmirror warns
/// about. The certificate must still chain to a trusted CA and be in its validity period.
#[derive(Debug)]
struct AnyHostname {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        // webpki checks the name last, after the chain and the validity period.
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
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
