//! TLS material for `kmirror bench synthetic --tls`, made when the run starts (rcgen, ring):
//! a throwaway CA and a server certificate for `127.0.0.1` signed by it. The synthetic
//! brokers and the relay baseline's receiving ends serve that certificate (tokio-rustls /
//! rustls server side); kmirror trusts the CA through its ordinary cluster security settings
//! (`security.protocol=SSL`, `ssl.truststore.certificates`), so the client side measured is
//! the one a real deployment runs, host name verification included.
//!
//! Nothing is written to disk and the key never leaves the process: a certificate generated
//! per run cannot expire in a release and is no secret anyone could reuse.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::BenchError;

/// The address the synthetic brokers listen on and the name their certificate carries.
pub(crate) const HOST: &str = "127.0.0.1";

/// The CA kmirror trusts and the server side's configuration.
#[derive(Debug, Clone)]
pub(crate) struct BenchTls {
    /// The CA certificate (PEM), for `ssl.truststore.certificates`.
    pub(crate) ca_pem: String,
    pub(crate) server: Arc<ServerConfig>,
}

fn failed(what: &str) -> impl FnOnce(rcgen::Error) -> BenchError + '_ {
    move |e| BenchError::Tls(format!("{what}: {e}"))
}

impl BenchTls {
    pub(crate) fn generate() -> Result<Self, BenchError> {
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA parameters"))?;
        ca.distinguished_name.push(DnType::CommonName, "kmirror bench CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().map_err(failed("CA key"))?;
        let ca_cert = ca.self_signed(&ca_key).map_err(failed("CA certificate"))?;
        let issuer = Issuer::new(ca, ca_key);

        // An IP address in the list becomes an IP subject alternative name.
        let mut leaf = CertificateParams::new(vec![HOST.to_owned()]).map_err(failed("server parameters"))?;
        leaf.distinguished_name.push(DnType::CommonName, HOST);
        let key = KeyPair::generate().map_err(failed("server key"))?;
        let cert = leaf
            .signed_by(&key, &issuer)
            .map_err(failed("server certificate"))?;

        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BenchError::Tls(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| BenchError::Tls(format!("server certificate: {e}")))?;
        // No TLS 1.3 session tickets: nobody resumes, and the relay baseline's senders never
        // read, so unread tickets would turn their close into a reset that loses the tail.
        server.send_tls13_tickets = 0;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// The `[clusters.<alias>.security]` table of kmirror's configuration for a broker that
    /// serves this certificate.
    pub(crate) fn cluster_security_toml(&self, alias: &str) -> String {
        format!(
            "[clusters.{alias}.security]\nsecurity_protocol = \"SSL\"\nssl_truststore_certificates = {:?}\n",
            self.ca_pem
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kmirror's own configuration loader accepts the CA: the bench goes through the
    /// production security settings.
    #[test]
    fn the_generated_ca_configures_an_ssl_cluster() {
        let tls = BenchTls::generate().unwrap();
        let config = crate::config::from_toml_str(
            &format!(
                "[clusters.a]\nbootstrap_servers = [\"127.0.0.1:1\"]\n{}\
                 [clusters.b]\nbootstrap_servers = [\"127.0.0.1:2\"]\n\
                 [[flows]]\nsource = \"a\"\ntarget = \"b\"\ntopics = [\"t\"]\n",
                tls.cluster_security_toml("a")
            ),
            "test",
        )
        .unwrap();
        let security = &config.clusters["a"].client.security;
        assert!(security.protocol.uses_tls());
        let settings = security.tls.as_ref().unwrap();
        assert_eq!(settings.roots.len(), 1);
        assert!(settings.verify_hostname);
    }
}
