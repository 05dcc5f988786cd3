//! TLS, mTLS and SASL against Apache Kafka's own listeners (no relay): every mechanism kmirror
//! offers authenticates and serves requests; a wrong password, a certificate from an untrusted
//! CA, a missing client certificate and a mechanism the listener does not enable each fail at
//! once with a final error that names the broker and what to fix, never the password.

use std::time::Duration;

use kmirror::cluster::Cluster;
use kmirror::config::ClientConfig;
use kmirror::net::{Connection, ConnectionError};
use kmirror::secret::Secret;
use kmirror::security::{
    ClientIdentity, SaslMechanism, SaslSettings, Security, SecurityProtocol, TlsSettings, TlsVersion,
};
use kmirror::testkit::certs::{Leaf, TestCa};

use crate::support::kafka;

const WRONG: &str = "Wrong-Pass-7";

fn tls(ca: &TestCa, identity: Option<&Leaf>) -> TlsSettings {
    TlsSettings::new(
        vec![ca.cert_der()],
        true,
        vec![TlsVersion::Tls12, TlsVersion::Tls13],
        identity.map(|l| ClientIdentity {
            chain: l.chain(),
            key: std::sync::Arc::new(l.key()),
        }),
    )
    .expect("TLS settings")
}

fn sasl(mechanism: SaslMechanism, password: &str) -> SaslSettings {
    SaslSettings {
        mechanism,
        username: kafka::USER.to_owned(),
        password: Secret::new(password),
        oauth: None,
    }
}

fn config(protocol: SecurityProtocol, tls: Option<TlsSettings>, sasl: Option<SaslSettings>) -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(10),
        security: Security { protocol, tls, sasl },
        ..ClientConfig::default()
    }
}

fn first(addrs: &str) -> String {
    addrs.split(',').next().expect("an address").to_owned()
}

async fn connect_err(addr: &str, config: &ClientConfig) -> ConnectionError {
    let err = Connection::connect(addr, config)
        .await
        .map(|_| ())
        .expect_err("the connection must fail");
    assert!(!err.is_retriable(), "must be final: {err}");
    assert!(err.to_string().contains(addr), "must name the broker: {err}");
    for secret in [kafka::PASSWORD, WRONG] {
        assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret));
    }
    err
}

/// Bootstraps through `addr` and checks that metadata requests are served.
async fn serves(addr: &str, config: ClientConfig) {
    let cluster = Cluster::bootstrap("secured", &[addr.to_owned()], config)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    assert!(!cluster.metadata().brokers.is_empty(), "{addr}");
    cluster.refresh_metadata().await.expect("a second request");
    cluster.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_and_mechanism_authenticates() {
    let kafka = kafka::shared_source().await;
    let ca = &kafka.pki().ca;
    let client = &kafka.pki().client;
    serves(
        &first(&kafka.ssl_addr()),
        config(SecurityProtocol::Ssl, Some(tls(ca, None)), None),
    )
    .await;
    serves(
        &first(&kafka.mtls_addr()),
        config(SecurityProtocol::Ssl, Some(tls(ca, Some(client))), None),
    )
    .await;
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        serves(
            &first(&kafka.sasl_ssl_addr()),
            config(
                SecurityProtocol::SaslSsl,
                Some(tls(ca, None)),
                Some(sasl(mechanism, kafka::PASSWORD)),
            ),
        )
        .await;
    }
    serves(
        &first(&kafka.sasl_plaintext_addr()),
        config(
            SecurityProtocol::SaslPlaintext,
            None,
            Some(sasl(SaslMechanism::ScramSha512, kafka::PASSWORD)),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_final_error() {
    let kafka = kafka::shared_source().await;
    let ca = &kafka.pki().ca;
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        let c = config(
            SecurityProtocol::SaslSsl,
            Some(tls(ca, None)),
            Some(sasl(mechanism, WRONG)),
        );
        let addr = first(&kafka.sasl_ssl_addr());
        let err = connect_err(&addr, &c).await;
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "authentication as user `{}` with {} failed",
                kafka::USER,
                mechanism.name()
            )),
            "{err}"
        );
        assert!(text.contains("check the username and password"), "{err}");
        let err = Cluster::bootstrap("prod-eu", &[addr], c).await.unwrap_err();
        assert!(!err.is_retriable(), "{err}");
        assert!(err.to_string().starts_with("cluster prod-eu:"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_a_final_error() {
    let kafka = kafka::shared_source().await;
    let stranger = TestCa::new("another CA");
    for (addr, protocol, sasl) in [
        (kafka.ssl_addr(), SecurityProtocol::Ssl, None),
        (
            kafka.sasl_ssl_addr(),
            SecurityProtocol::SaslSsl,
            Some(sasl(SaslMechanism::ScramSha512, kafka::PASSWORD)),
        ),
    ] {
        let err = connect_err(&first(&addr), &config(protocol, Some(tls(&stranger, None)), sasl)).await;
        assert!(err.to_string().contains("not signed by a trusted CA"), "{err}");
        assert!(err.to_string().contains("ssl.truststore.location"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unknown_client_certificate_is_named() {
    let kafka = kafka::shared_source().await;
    let ca = &kafka.pki().ca;
    let addr = first(&kafka.mtls_addr());
    let err = connect_err(&addr, &config(SecurityProtocol::Ssl, Some(tls(ca, None)), None)).await;
    assert!(err.to_string().contains("client certificate"), "{err}");
    let stranger = TestCa::new("stranger").client("kmirror");
    let err = connect_err(
        &addr,
        &config(SecurityProtocol::Ssl, Some(tls(ca, Some(&stranger))), None),
    )
    .await;
    assert!(err.to_string().contains("client certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mechanism_the_listener_does_not_enable_is_named() {
    let kafka = kafka::shared_source().await;
    let addr = first(&kafka.sasl_plaintext_addr());
    for mechanism in [SaslMechanism::Plain, SaslMechanism::ScramSha256] {
        let c = config(
            SecurityProtocol::SaslPlaintext,
            None,
            Some(sasl(mechanism, kafka::PASSWORD)),
        );
        let err = connect_err(&addr, &c).await;
        assert!(
            err.to_string().contains(&format!(
                "does not enable sasl.mechanism={} (it offers: SCRAM-SHA-512)",
                mechanism.name()
            )),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_a_tls_listener_is_named() {
    let kafka = kafka::shared_source().await;
    let err = connect_err(&first(&kafka.ssl_addr()), &ClientConfig::default()).await;
    assert!(err.to_string().contains("SSL or SASL_SSL listener"), "{err}");
}
