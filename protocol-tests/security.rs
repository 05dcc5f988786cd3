//! TLS and SASL against in-process front ends: a TLS relay (rustls) and a SASL gate that
//! checks credentials for real, both in front of the fake broker. Every failure must be
//! final (not retriable), name the broker address and say what to fix, and never show the
//! password. Positive SCRAM against a real broker and end-to-end replication are in
//! `security_e2e`.

use std::time::Duration;

use kmirror::cluster::{Cluster, ClusterError};
use kmirror::config::ClientConfig;
use kmirror::net::{Connection, ConnectionError};
use kmirror::secret::Secret;
use kmirror::security::{
    ClientIdentity, SaslMechanism, SaslSettings, Security, SecurityProtocol, TlsSettings, TlsVersion,
};
use kmirror::testkit::FakeBroker;
use kmirror::testkit::certs::{Leaf, TestCa};
use kmirror::testkit::sasl_gate::{GateConfig, SaslGate};
use kmirror::testkit::tls_relay::TlsRelay;

const PASSWORD: &str = "Right-Pass-9";
const WRONG: &str = "Wrong-Pass-7";

fn tls(ca: &TestCa, identity: Option<&Leaf>, verify_hostname: bool) -> TlsSettings {
    TlsSettings::new(
        vec![ca.cert_der()],
        verify_hostname,
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
        username: "alice".to_owned(),
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

fn sasl_plaintext(mechanism: SaslMechanism, password: &str) -> ClientConfig {
    config(
        SecurityProtocol::SaslPlaintext,
        None,
        Some(sasl(mechanism, password)),
    )
}

/// `localhost:<port>` for a relay on 127.0.0.1 (so that host names are checked by name).
fn localhost(addr: &str) -> String {
    addr.replace("127.0.0.1", "localhost")
}

async fn connect_err(addr: &str, config: &ClientConfig) -> ConnectionError {
    let err = Connection::connect(addr, config)
        .await
        .map(|_| ())
        .expect_err("the connection must fail");
    assert!(!err.is_retriable(), "must be final: {err}");
    assert!(err.to_string().contains(addr), "must name the broker: {err}");
    for secret in [PASSWORD, WRONG] {
        assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret));
    }
    err
}

#[tokio::test]
async fn tls_and_mtls_connect_and_serve_requests() {
    let broker = FakeBroker::start().await;
    broker.create_topic("t", 2);
    let ca = TestCa::new("ca");
    let server = ca.server(&["localhost", "127.0.0.1"]);
    let client = ca.client("kmirror");
    let relay = TlsRelay::start(&broker.addr(), &server, None).await;
    let mtls = TlsRelay::start(&broker.addr(), &server, Some(&ca)).await;
    for (addr, identity) in [
        (relay.addr(), None),
        (localhost(&relay.addr()), None),
        (mtls.addr(), Some(&client)),
    ] {
        let c = config(SecurityProtocol::Ssl, Some(tls(&ca, identity, true)), None);
        let cluster = Cluster::bootstrap("tls", std::slice::from_ref(&addr), c)
            .await
            .expect(&addr);
        assert_eq!(cluster.metadata().topics["t"].partitions.len(), 2, "{addr}");
    }
    assert_eq!(relay.handshakes_failed() + mtls.handshakes_failed(), 0);
    // SNI carries the host name, and nothing for an IP address (RFC 6066).
    let names = relay.server_names();
    assert!(names.contains(&Some("localhost".to_owned())), "{names:?}");
    assert!(names.contains(&None), "{names:?}");
}

/// Without a truststore the system's CAs are used, and they do not know the test CA.
#[tokio::test]
async fn without_a_truststore_the_system_roots_decide() {
    let broker = FakeBroker::start().await;
    let ca = TestCa::new("ca");
    let relay = TlsRelay::start(&broker.addr(), &ca.server(&["127.0.0.1"]), None).await;
    let system = TlsSettings::new(Vec::new(), true, vec![TlsVersion::Tls13], None)
        .expect("this machine has system CA certificates");
    let err = connect_err(&relay.addr(), &config(SecurityProtocol::Ssl, Some(system), None)).await;
    assert!(err.to_string().contains("not signed by a trusted CA"), "{err}");
}

#[tokio::test]
async fn untrusted_expired_or_misnamed_certificates_are_final_errors() {
    let broker = FakeBroker::start().await;
    let ca = TestCa::new("ca");
    let other = TestCa::new("other-ca");
    let ssl = config(SecurityProtocol::Ssl, Some(tls(&ca, None, true)), None);

    let relay = TlsRelay::start(&broker.addr(), &other.server(&["localhost", "127.0.0.1"]), None).await;
    let err = connect_err(&relay.addr(), &ssl).await;
    assert!(err.to_string().contains("not signed by a trusted CA"), "{err}");
    assert!(err.to_string().contains("ssl.truststore.location"), "{err}");

    let relay = TlsRelay::start(
        &broker.addr(),
        &ca.expired_server(&["localhost", "127.0.0.1"]),
        None,
    )
    .await;
    let err = connect_err(&relay.addr(), &ssl).await;
    assert!(err.to_string().contains("has expired"), "{err}");

    let relay = TlsRelay::start(&broker.addr(), &ca.server(&["kafka.example.com"]), None).await;
    let err = connect_err(&localhost(&relay.addr()), &ssl).await;
    assert!(err.to_string().contains("does not name `localhost`"), "{err}");
    // The same certificate passes with the hostname check off (`…algorithm=` empty).
    let unchecked = config(SecurityProtocol::Ssl, Some(tls(&ca, None, false)), None);
    Connection::connect(&localhost(&relay.addr()), &unchecked)
        .await
        .expect("hostname check off");
    // …but never a certificate from another CA.
    let relay = TlsRelay::start(&broker.addr(), &other.server(&["localhost"]), None).await;
    connect_err(&relay.addr(), &unchecked).await;
}

#[tokio::test]
async fn a_missing_client_certificate_is_named() {
    let broker = FakeBroker::start().await;
    let ca = TestCa::new("ca");
    let relay = TlsRelay::start(&broker.addr(), &ca.server(&["127.0.0.1"]), Some(&ca)).await;
    let ssl = config(SecurityProtocol::Ssl, Some(tls(&ca, None, true)), None);
    let err = connect_err(&relay.addr(), &ssl).await;
    assert!(err.to_string().contains("client certificate"), "{err}");
    // A client certificate from another CA is refused the same way.
    let stranger = TestCa::new("stranger").client("kmirror");
    let ssl = config(SecurityProtocol::Ssl, Some(tls(&ca, Some(&stranger), true)), None);
    let err = connect_err(&relay.addr(), &ssl).await;
    assert!(err.to_string().contains("client certificate"), "{err}");
}

#[tokio::test]
async fn plaintext_to_a_tls_port_is_named() {
    let broker = FakeBroker::start().await;
    let ca = TestCa::new("ca");
    let relay = TlsRelay::start(&broker.addr(), &ca.server(&["127.0.0.1"]), None).await;
    let err = connect_err(&relay.addr(), &ClientConfig::default()).await;
    assert!(err.to_string().contains("SSL or SASL_SSL listener"), "{err}");
}

#[tokio::test]
async fn sasl_plain_and_scram_over_tls_with_real_checks() {
    let broker = FakeBroker::start().await;
    broker.create_topic("t", 1);
    let ca = TestCa::new("ca");
    let all = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];
    let gate = SaslGate::start(&broker.addr(), GateConfig::new(&all, "alice", PASSWORD)).await;
    let relay = TlsRelay::start(&gate.addr(), &ca.server(&["127.0.0.1"]), None).await;
    for mechanism in all {
        let c = config(
            SecurityProtocol::SaslSsl,
            Some(tls(&ca, None, true)),
            Some(sasl(mechanism, PASSWORD)),
        );
        let cluster = Cluster::bootstrap("sasl", &[relay.addr()], c)
            .await
            .expect("authenticated");
        assert!(cluster.metadata().topics.contains_key("t"));
        // Over SASL_PLAINTEXT too, straight to the gate.
        let c = sasl_plaintext(mechanism, PASSWORD);
        Connection::connect(&gate.addr(), &c)
            .await
            .expect("SASL_PLAINTEXT");
    }
    assert_eq!(gate.authenticated(), 6);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_mechanisms_are_final_errors() {
    let broker = FakeBroker::start().await;
    let gate = SaslGate::start(
        &broker.addr(),
        GateConfig::new(
            &[SaslMechanism::Plain, SaslMechanism::ScramSha512],
            "alice",
            PASSWORD,
        ),
    )
    .await;
    for mechanism in [SaslMechanism::Plain, SaslMechanism::ScramSha512] {
        let c = sasl_plaintext(mechanism, WRONG);
        let err = connect_err(&gate.addr(), &c).await;
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "authentication as user `alice` with {} failed",
                mechanism.name()
            )),
            "{err}"
        );
        assert!(text.contains("check the username and password"), "{err}");
        // Through the cluster layer the error names the cluster too, and stays final.
        let err = Cluster::bootstrap("prod-eu", &[gate.addr()], c)
            .await
            .unwrap_err();
        assert!(!err.is_retriable(), "{err}");
        assert!(err.to_string().starts_with("cluster prod-eu:"), "{err}");
    }
    let c = sasl_plaintext(SaslMechanism::ScramSha256, PASSWORD);
    let err = connect_err(&gate.addr(), &c).await;
    assert!(
        err.to_string()
            .contains("does not enable sasl.mechanism=SCRAM-SHA-256 (it offers: PLAIN, SCRAM-SHA-512)"),
        "{err}"
    );
    assert_eq!(gate.authenticated(), 0);
}

/// A wrong password stays final when another bootstrap server merely refuses connections
/// (down for maintenance): whichever address is tried last, retrying cannot fix the password.
#[tokio::test]
async fn a_wrong_password_is_final_beside_a_refusing_bootstrap_server() {
    let broker = FakeBroker::start().await;
    let gate = SaslGate::start(
        &broker.addr(),
        GateConfig::new(&[SaslMechanism::Plain], "alice", PASSWORD),
    )
    .await;
    // A port nothing listens on: the connection is refused, a retriable failure.
    let refusing = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    for seeds in [[gate.addr(), refusing.clone()], [refusing.clone(), gate.addr()]] {
        let err = Cluster::bootstrap("prod-eu", &seeds, sasl_plaintext(SaslMechanism::Plain, WRONG))
            .await
            .unwrap_err();
        assert!(!err.is_retriable(), "{seeds:?}: {err}");
        assert!(
            err.to_string().contains("check the username and password"),
            "{err}"
        );
    }
    // Refused alone stays retriable.
    let err = Cluster::bootstrap(
        "prod-eu",
        &[refusing],
        sasl_plaintext(SaslMechanism::Plain, WRONG),
    )
    .await
    .unwrap_err();
    assert!(err.is_retriable(), "{err}");
}

#[tokio::test]
async fn a_scram_server_that_cannot_prove_the_password_is_refused() {
    let broker = FakeBroker::start().await;
    let gate_config = GateConfig {
        forge_server_signature: true,
        ..GateConfig::new(&[SaslMechanism::ScramSha256], "alice", PASSWORD)
    };
    let gate = SaslGate::start(&broker.addr(), gate_config).await;
    let c = sasl_plaintext(SaslMechanism::ScramSha256, PASSWORD);
    let err = connect_err(&gate.addr(), &c).await;
    assert!(
        err.to_string().contains("server's signature does not verify"),
        "{err}"
    );
}

/// KIP-368: a session with a lifetime is retired before it ends and the next request gets
/// a freshly authenticated connection.
#[tokio::test]
async fn sessions_with_a_lifetime_are_replaced_before_they_expire() {
    let broker = FakeBroker::start().await;
    broker.create_topic("t", 1);
    let gate_config = GateConfig {
        session_lifetime: Some(Duration::from_secs(2)),
        ..GateConfig::new(&[SaslMechanism::ScramSha512], "alice", PASSWORD)
    };
    let gate = SaslGate::start(&broker.addr(), gate_config).await;
    let c = sasl_plaintext(SaslMechanism::ScramSha512, PASSWORD);
    let cluster = Cluster::bootstrap("kip368", &[gate.addr()], c).await.unwrap();
    let first = cluster.connection(&gate.addr()).await.unwrap();
    crate::support::eventually("the session to be retired", Duration::from_secs(30), || {
        let usable = first.is_usable();
        async move { (!usable).then_some(()) }
    })
    .await;
    let second = cluster.connection(&gate.addr()).await.unwrap();
    assert!(second.is_usable());
    cluster
        .refresh_metadata()
        .await
        .expect("requests go on over the new session");
    assert!(gate.authenticated() >= 2);
}

#[tokio::test]
async fn cluster_errors_for_security_are_final() {
    let broker = FakeBroker::start().await;
    let ca = TestCa::new("ca");
    let relay = TlsRelay::start(&broker.addr(), &TestCa::new("x").server(&["127.0.0.1"]), None).await;
    let c = config(SecurityProtocol::Ssl, Some(tls(&ca, None, true)), None);
    match Cluster::bootstrap("target", &[relay.addr()], c).await {
        Err(e @ ClusterError::Bootstrap { .. }) => {
            assert!(!e.is_retriable(), "{e}");
            assert!(e.to_string().contains("cluster target"), "{e}");
        }
        other => panic!("expected a bootstrap error, got {other:?}"),
    }
}
