//! What a connection needs to know about TLS and SASL, as plain data: the configuration layer
//! builds it from `security.protocol`, `ssl.*` and `sasl.*` (with PEM already loaded), and
//! the connection layer (`net`) acts on it. A leaf: it knows neither of them.

mod rustls_config;

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::secret::Secret;

/// `security.protocol` of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name, any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// TLS and SASL settings of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    pub protocol: SecurityProtocol,
    /// Set when `protocol` uses TLS.
    pub tls: Option<TlsSettings>,
    /// Set when `protocol` uses SASL.
    pub sasl: Option<SaslSettings>,
}

/// TLS versions kmirror can speak (rustls has no TLS 1.0/1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// TLS settings of a cluster and the rustls configuration built from them once.
#[derive(Clone)]
pub struct TlsSettings {
    /// Trusted CA certificates; empty means the system's roots.
    pub roots: Vec<CertificateDer<'static>>,
    /// Check that the broker's certificate names the host kmirror connected to
    /// (`ssl.endpoint.identification.algorithm=https`).
    pub verify_hostname: bool,
    /// Versions offered, at least one.
    pub versions: Vec<TlsVersion>,
    /// Certificate chain and key for mTLS.
    pub identity: Option<ClientIdentity>,
    rustls: Arc<rustls::ClientConfig>,
}

impl TlsSettings {
    /// Builds the rustls configuration now, so that a bad certificate or key is reported
    /// when the configuration is loaded, not at the first connection.
    pub fn new(
        roots: Vec<CertificateDer<'static>>,
        verify_hostname: bool,
        versions: Vec<TlsVersion>,
        identity: Option<ClientIdentity>,
    ) -> Result<Self, String> {
        let rustls = rustls_config::client_config(&roots, verify_hostname, &versions, identity.as_ref())?;
        Ok(Self {
            roots,
            verify_hostname,
            versions,
            identity,
            rustls,
        })
    }

    pub(crate) fn rustls(&self) -> Arc<rustls::ClientConfig> {
        self.rustls.clone()
    }
}

impl PartialEq for TlsSettings {
    fn eq(&self, other: &Self) -> bool {
        self.roots == other.roots
            && self.verify_hostname == other.verify_hostname
            && self.versions == other.versions
            && self.identity == other.identity
    }
}

impl Eq for TlsSettings {}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("roots", &self.roots.len())
            .field("verify_hostname", &self.verify_hostname)
            .field("versions", &self.versions)
            .field("identity", &self.identity)
            .finish()
    }
}

/// A client certificate chain and its private key.
#[derive(Clone)]
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

impl PartialEq for ClientIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.chain == other.chain && self.key.secret_der() == other.key.secret_der()
    }
}

impl Eq for ClientIdentity {}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

/// SASL mechanisms kmirror speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}
