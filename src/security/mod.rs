//! What a connection needs to know about TLS and SASL, as plain data: the configuration layer
//! builds it from `security.protocol`, `ssl.*` and `sasl.*` (with PEM already loaded), and
//! the connection layer (`net`) acts on it. A leaf: it knows neither of them.

mod rustls_config;
mod url;

pub use url::{Url, UrlError};

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
    /// KIP-255 with KIP-768's client-credentials flow: see [`OAuthSettings`].
    OAuthBearer,
}

impl SaslMechanism {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            "OAUTHBEARER" => Some(Self::OAuthBearer),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// SASL credentials. For OAUTHBEARER, `username` and `password` are the OAuth client id and
/// secret, and `oauth` says where and how tokens are obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
    pub oauth: Option<OAuthSettings>,
}

/// KIP-768's client-credentials flow: a token from `token_endpoint` (HTTP basic auth with the
/// client id and secret, `grant_type=client_credentials`), kept in `tokens` and used by every
/// new connection of the cluster until it is due for refresh.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `sasl.oauthbearer.token.endpoint.url`, `http://` or `https://`.
    pub token_endpoint: Url,
    /// `scope` of the JAAS entry or `sasl.oauthbearer.scope`.
    pub scope: Option<String>,
    /// The claim naming the principal (`sasl.oauthbearer.sub.claim.name`, `sub`).
    pub sub_claim: String,
    /// `sasl.oauthbearer.header.urlencode`: URL-encode id and secret in the basic auth header.
    pub header_urlencode: bool,
    /// CA certificates trusted for an `https` endpoint besides the system's: the cluster's
    /// truststore.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The token in use, shared by the cluster's connections.
    pub tokens: TokenCache,
}

impl PartialEq for OAuthSettings {
    fn eq(&self, other: &Self) -> bool {
        self.token_endpoint == other.token_endpoint
            && self.scope == other.scope
            && self.sub_claim == other.sub_claim
            && self.header_urlencode == other.header_urlencode
            && self.extra_roots == other.extra_roots
    }
}

impl Eq for OAuthSettings {}

/// The current OAuth token of a cluster and when it is due for refresh; filled by the
/// connection layer.
#[derive(Clone, Default)]
pub struct TokenCache(pub(crate) Arc<tokio::sync::Mutex<Option<CachedToken>>>);

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache")
    }
}

/// A token and its times (wall clock seconds, as the JWT's `exp`).
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: Secret,
    /// When a new connection should get a fresh token instead (Kafka's refresh window: 80%
    /// of the lifetime).
    pub(crate) refresh_at: std::time::SystemTime,
}
