//! Security end to end: `kmirror run` from a source over SASL_SSL with SCRAM-SHA-512 (tansu
//! with `--authentication` behind a TLS relay that it advertises) to a target over mTLS
//! (tansu behind a relay that requires client certificates), with confluent-kafka producing
//! and consuming on the same endpoints; and the MM2 example of the README through
//! `kmirror check`, with its `${…}` password from the environment.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kmirror::security::SaslMechanism;
use kmirror::testkit::FakeBroker;
use kmirror::testkit::certs::TestCa;
use kmirror::testkit::sasl_gate::{GateConfig, SaslGate};
use kmirror::testkit::tls_relay::{TlsRelay, server_config};
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::tansu::TansuBroker;
use crate::support::{eventually, mm2_properties, topic};

const SOURCE_PASSWORD: &str = "Scram-Source-Pw-41";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("localhost:{}", l.local_addr().expect("addr").port());
    (l, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_from_sasl_ssl_scram_512_to_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("kmirror test CA");
    let server = ca.server(&["localhost", "127.0.0.1"]);
    let client = ca.client("kmirror");
    let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem);
    let keystore = write(dir.path(), "client.pem", &client.keystore_pem());
    let client_cert = write(dir.path(), "client-cert.pem", &client.cert_pem);
    let client_key = write(dir.path(), "client-key.pem", &client.key_pem);

    // Source: SCRAM users exist only on sqlite storage, created before authentication is on.
    let (source_listener, source_addr) = listener().await;
    let mut source = TansuBroker::start_advertising(Some(source_addr.clone())).await;
    source.create_user("alice", SOURCE_PASSWORD, "scram512");
    source.restart_with_authentication().await;
    let _source_relay = TlsRelay::serve(source_listener, &source.addr(), server_config(&server, None));
    let (target_listener, target_addr) = listener().await;
    let target = TansuBroker::start_advertising(Some(target_addr.clone())).await;
    let _target_relay = TlsRelay::serve(target_listener, &target.addr(), server_config(&server, Some(&ca)));

    let source_security = json!({
        "security.protocol": "SASL_SSL", "ssl.ca.location": ca_file,
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": SOURCE_PASSWORD,
    });
    let target_security = json!({
        "security.protocol": "SSL", "ssl.ca.location": ca_file,
        "ssl.certificate.location": client_cert, "ssl.key.location": client_key,
    });
    let name = topic("secure");
    let request = json!({"bootstrap": source_addr, "topic": name, "partitions": 1});
    pyclient::secured("create-topic", request, source_security.clone()).await;
    let records: Vec<PyRecord> = (0..50)
        .map(|i| PyRecord {
            key: Some(format!("{i:02x}")),
            value: Some(crate::support::hex(format!("secure-{i}").as_bytes())),
            timestamp: Some(1_700_000_000_000 + i),
            ..PyRecord::default()
        })
        .collect();
    let request =
        json!({"bootstrap": source_addr, "topic": name, "partition": 0, "config": {}, "records": records});
    pyclient::secured("produce", request, source_security).await;

    let config = mm2_properties(
        dir.path(),
        &source_addr,
        &target_addr,
        &format!(
            "source.security.protocol = SASL_SSL\n\
             source.ssl.truststore.type = PEM\n\
             source.ssl.truststore.location = {ca_file}\n\
             source.sasl.mechanism = SCRAM-SHA-512\n\
             source.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  \
               username=\"alice\" password=\"${{KMIRROR_E2E_SOURCE_PASSWORD}}\";\n\
             target.security.protocol = SSL\n\
             target.ssl.truststore.location = {ca_file}\n\
             target.ssl.keystore.type = PEM\n\
             target.ssl.keystore.location = {keystore}\n"
        ),
    );
    let kmirror = Kmirror::run_with_env(
        &config,
        dir.path(),
        &[],
        &[("KMIRROR_E2E_SOURCE_PASSWORD", SOURCE_PASSWORD)],
    );
    let target_topic = format!("source.{name}");
    let copied = eventually("the records on the target", Duration::from_secs(120), || {
        let (addr, topic, security) = (target_addr.clone(), target_topic.clone(), target_security.clone());
        async move {
            let request = json!({"bootstrap": addr, "topic": topic, "partition": 0, "offset": 0,
                                 "count": 50, "timeout_s": 5});
            let answer = pyclient::secured("consume", request, security).await;
            let got: Vec<PyRecord> = serde_json::from_value(answer["records"].clone()).ok()?;
            (got.len() == 50).then_some(got)
        }
    })
    .await;
    let strip = |r: &PyRecord| (r.key.clone(), r.value.clone(), r.timestamp);
    assert_eq!(
        copied.iter().map(strip).collect::<Vec<_>>(),
        records.iter().map(strip).collect::<Vec<_>>()
    );
    let log = kmirror.log();
    kmirror.stop_cleanly().await;
    assert!(
        !log.contains(SOURCE_PASSWORD),
        "the password is in the log:\n{log}"
    );
}

/// `kmirror check` on the README's MM2 example (plus a truststore, as the test CA is not a
/// system CA): connects with the variable set; a wrong password or a missing variable fails
/// clearly, and the password is never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mm2_example_connects_with_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem);
    let source = FakeBroker::start().await;
    let target = FakeBroker::start().await;
    let api_key = "api-key-Value-77";
    let gate = SaslGate::start(
        &target.addr(),
        GateConfig::new(&[SaslMechanism::Plain], "token", api_key),
    )
    .await;
    let relay = TlsRelay::start(&gate.addr(), &ca.server(&["localhost"]), None).await;
    let target_addr = relay.addr().replace("127.0.0.1", "localhost");
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target_addr,
        &format!(
            "target.security.protocol=SASL_SSL\n\
             target.ssl.protocol=TLSv1.2\n\
             target.ssl.endpoint.identification.algorithm=https\n\
             target.sasl.mechanism=PLAIN\n\
             target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"token\" password=${{KAFKA_TARGET_APIKEY}};\n\
             target.ssl.truststore.location={ca_file}\n"
        ),
    );
    let check = |env: Option<&'static str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kmirror"));
        command
            .args(["check", "--config"])
            .arg(&config)
            .env_remove("KAFKA_TARGET_APIKEY");
        if let Some(value) = env {
            command.env("KAFKA_TARGET_APIKEY", value);
        }
        async move {
            let out = tokio::task::spawn_blocking(move || command.output().expect("run kmirror check"))
                .await
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        }
    };
    let (ok, text) = check(Some("api-key-Value-77")).await;
    assert!(ok && text.contains("cluster target: connected"), "{text}");
    assert_eq!(gate.authenticated(), 1);
    let (ok, text) = check(Some("Wrong-Key-5")).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster target") && text.contains("authentication as user `token` with PLAIN failed"),
        "{text}"
    );
    assert!(!text.contains("Wrong-Key-5") && !text.contains(api_key), "{text}");
    let (ok, text) = check(None).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("`target.sasl.jaas.config`: environment variable `KAFKA_TARGET_APIKEY`"),
        "{text}"
    );
}

/// The positive SCRAM path against a real broker (tansu `--authentication`), both hashes.
/// A wrong password is refused too (tansu reports it in the SCRAM server-final message).
#[tokio::test]
async fn scram_against_tansu_with_authentication() {
    use kmirror::config::ClientConfig;
    use kmirror::net::Connection;
    use kmirror::secret::Secret;
    use kmirror::security::{SaslSettings, Security, SecurityProtocol};

    let mut broker = TansuBroker::start().await;
    broker.create_user("bob", SOURCE_PASSWORD, "scram256");
    broker.create_user("carol", SOURCE_PASSWORD, "scram512");
    broker.restart_with_authentication().await;
    let config = |mechanism, username: &str, password: &str| ClientConfig {
        security: Security {
            protocol: SecurityProtocol::SaslPlaintext,
            tls: None,
            sasl: Some(SaslSettings {
                mechanism,
                username: username.to_owned(),
                password: Secret::new(password),
            }),
        },
        ..ClientConfig::default()
    };
    for (mechanism, user) in [
        (SaslMechanism::ScramSha256, "bob"),
        (SaslMechanism::ScramSha512, "carol"),
    ] {
        let conn = Connection::connect(&broker.addr(), &config(mechanism, user, SOURCE_PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        let metadata = kmirror::cluster::Cluster::bootstrap(
            user,
            &[broker.addr()],
            config(mechanism, user, SOURCE_PASSWORD),
        )
        .await
        .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(metadata.metadata().brokers.len(), 1);
        conn.close().await;
        let err = Connection::connect(&broker.addr(), &config(mechanism, user, "not-the-password"))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(!err.is_retriable(), "{err}");
        // tansu answers the wrong proof with `e=invalid-proof` in a successful
        // SaslAuthenticate; kmirror stops there either way.
        assert!(
            err.to_string().contains(&format!(
                "authentication as user `{user}` with {} failed",
                mechanism.name()
            )),
            "{err}"
        );
    }
}
