//! Keystores as providers hand them out, against Apache Kafka's mTLS listeners: `kmirror run`
//! from the shared source with a PKCS12 keystore and truststore written by keytool to the
//! shared target with keytool's JKS keystore and truststore (the key under its own
//! `ssl.key.password`), the records produced and read back with confluent-kafka; and a
//! keystore from another CA refused by the broker with a final error.

use serde_json::json;

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::{Kmirror, check};
use crate::support::pyclient::{self, PyRecord};
use crate::support::{mm2_properties, topic};
use kmirror::testkit::keytool::{self, KEY_PASSWORD, Stores};

const STORE_PASSWORD: &str = "keytool-store-9";

fn stores(kafka: &Kafka, dir: &std::path::Path) -> Stores {
    let pki = kafka.pki();
    keytool::write(dir, &pki.ca, &pki.client, STORE_PASSWORD).expect("openssl and keytool")
}

/// librdkafka settings for the mTLS listener (PEM files, the kit's own).
fn mtls_security(kafka: &Kafka) -> serde_json::Value {
    let pki = kafka.pki();
    json!({
        "security.protocol": "SSL", "ssl.ca.location": pki.ca_file,
        "ssl.certificate.location": pki.client_cert, "ssl.key.location": pki.client_key,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_with_keytool_pkcs12_and_jks_stores() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let (source_dir, target_dir) = (dir.path().join("source"), dir.path().join("target"));
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::create_dir_all(&target_dir).unwrap();
    let (source_stores, target_stores) = (stores(source, &source_dir), stores(target, &target_dir));
    let (source_addr, target_addr) = (source.mtls_addr(), target.mtls_addr());

    let prefix = topic("keystores");
    let name = format!("{prefix}.events");
    pyclient::secured(
        "create-topic",
        json!({"bootstrap": source_addr, "topic": name, "partitions": 1}),
        mtls_security(source),
    )
    .await;
    let records: Vec<PyRecord> = (0..40)
        .map(|i| PyRecord {
            key: Some(format!("{i:02x}")),
            value: Some(crate::support::hex(format!("stored-{i}").as_bytes())),
            timestamp: Some(1_700_000_000_000 + i),
            ..PyRecord::default()
        })
        .collect();
    let request =
        json!({"bootstrap": source_addr, "topic": name, "partition": 0, "config": {}, "records": records});
    pyclient::secured("produce", request, mtls_security(source)).await;

    let config = mm2_properties(
        dir.path(),
        &source_addr,
        &target_addr,
        &format!(
            "source->target.topics = {prefix}.*\n\
             emit.heartbeats.enabled = false\n\
             source.security.protocol = SSL\n\
             source.ssl.keystore.type = PKCS12\n\
             source.ssl.keystore.location = {source_keystore}\n\
             source.ssl.keystore.password = {STORE_PASSWORD}\n\
             source.ssl.truststore.type = PKCS12\n\
             source.ssl.truststore.location = {source_truststore}\n\
             source.ssl.truststore.password = {STORE_PASSWORD}\n\
             target.security.protocol = SSL\n\
             target.ssl.keystore.type = JKS\n\
             target.ssl.keystore.location = {target_keystore}\n\
             target.ssl.keystore.password = {STORE_PASSWORD}\n\
             target.ssl.key.password = {KEY_PASSWORD}\n\
             target.ssl.truststore.type = JKS\n\
             target.ssl.truststore.location = {target_truststore}\n\
             target.ssl.truststore.password = {STORE_PASSWORD}\n",
            source_keystore = source_stores.pkcs12.display(),
            source_truststore = source_stores.trust_pkcs12.display(),
            target_keystore = target_stores.jks_key_password.display(),
            target_truststore = target_stores.trust_jks.display(),
        ),
    );
    let kmirror = Kmirror::run(&config, dir.path());
    let target_topic = format!("source.{name}");
    let target_security = mtls_security(target);
    let copied = pyclient::consume_secured(&target_addr, &target_topic, target_security.clone(), 40).await;
    let strip = |r: &PyRecord| (r.key.clone(), r.value.clone(), r.timestamp);
    assert_eq!(
        copied.iter().map(strip).collect::<Vec<_>>(),
        records.iter().map(strip).collect::<Vec<_>>()
    );
    let log = kmirror.log();
    kmirror.stop_cleanly().await;
    for secret in [STORE_PASSWORD, KEY_PASSWORD] {
        assert!(!log.contains(secret), "a password is in the log:\n{log}");
    }
}

/// A JKS keystore whose client certificate the broker's CA did not sign: `kmirror check`
/// loads it (the file is fine) and the mTLS listener refuses it with a final error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystore_from_another_ca_is_refused_by_the_broker() {
    let target = kafka::shared_target().await;
    let dir = tempfile::tempdir().unwrap();
    let other = kmirror::testkit::certs::TestCa::new("another CA");
    let stranger = other.client("stranger");
    let wrong = keytool::write(dir.path(), &other, &stranger, STORE_PASSWORD).expect("keytool");
    let trust_dir = dir.path().join("trust");
    std::fs::create_dir_all(&trust_dir).unwrap();
    let right = stores(target, &trust_dir);
    let config = mm2_properties(
        dir.path(),
        &target.addr(),
        &target.mtls_addr(),
        &format!(
            "source->target.topics = {prefix}.*\n\
             target.security.protocol = SSL\n\
             target.ssl.keystore.location = {keystore}\n\
             target.ssl.keystore.password = {STORE_PASSWORD}\n\
             target.ssl.truststore.location = {truststore}\n\
             target.ssl.truststore.password = {STORE_PASSWORD}\n",
            prefix = topic("stranger"),
            keystore = wrong.jks.display(),
            truststore = right.trust_jks.display(),
        ),
    );
    let (ok, text) = check(&config).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster target") && text.contains("the broker refused the TLS handshake"),
        "{text}"
    );
    assert!(!text.contains(STORE_PASSWORD), "{text}");
}
