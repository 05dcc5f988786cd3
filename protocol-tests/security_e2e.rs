//! Security end to end against Apache Kafka's own listeners (no relay): `kmirror run` from the
//! shared source's SASL_SSL listener with SCRAM-SHA-512 to the shared target's mTLS listener
//! (client certificate required), with confluent-kafka producing and consuming on the same
//! endpoints; and the MM2 example of docs/security.md (SASL_SSL with PLAIN, host name checked, the
//! password from `${…}`) through `kmirror check`.

use std::process::Command;

use serde_json::json;

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{mm2_properties, topic};

/// librdkafka settings for the SASL_SSL listener with SCRAM-SHA-512.
fn sasl_ssl_security(kafka: &Kafka) -> serde_json::Value {
    json!({
        "security.protocol": "SASL_SSL", "ssl.ca.location": kafka.pki().ca_file,
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": kafka::USER, "sasl.password": kafka::PASSWORD,
    })
}

/// librdkafka settings for the mTLS listener.
fn mtls_security(kafka: &Kafka) -> serde_json::Value {
    let pki = kafka.pki();
    json!({
        "security.protocol": "SSL", "ssl.ca.location": pki.ca_file,
        "ssl.certificate.location": pki.client_cert, "ssl.key.location": pki.client_key,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_from_sasl_ssl_scram_512_to_mtls() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let (source_addr, target_addr) = (source.sasl_ssl_addr(), target.mtls_addr());
    let (source_security, target_security) = (sasl_ssl_security(source), mtls_security(target));

    let prefix = topic("secure");
    let name = format!("{prefix}.events");
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
            "source->target.topics = {prefix}.*\n\
             emit.heartbeats.enabled = false\n\
             source.security.protocol = SASL_SSL\n\
             source.ssl.truststore.type = PEM\n\
             source.ssl.truststore.location = {source_ca}\n\
             source.sasl.mechanism = SCRAM-SHA-512\n\
             source.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  \
               username=\"{user}\" password=\"${{KMIRROR_E2E_SOURCE_PASSWORD}}\";\n\
             target.security.protocol = SSL\n\
             target.ssl.truststore.location = {target_ca}\n\
             target.ssl.keystore.type = PEM\n\
             target.ssl.keystore.location = {keystore}\n",
            source_ca = source.pki().ca_file.display(),
            user = kafka::USER,
            target_ca = target.pki().ca_file.display(),
            keystore = target.pki().client_keystore.display(),
        ),
    );
    let kmirror = Kmirror::run_with_env(
        &config,
        dir.path(),
        &[],
        &[("KMIRROR_E2E_SOURCE_PASSWORD", kafka::PASSWORD)],
    );
    let target_topic = format!("source.{name}");
    let copied = pyclient::consume_secured(&target_addr, &target_topic, target_security.clone(), 50).await;
    let strip = |r: &PyRecord| (r.key.clone(), r.value.clone(), r.timestamp);
    assert_eq!(
        copied.iter().map(strip).collect::<Vec<_>>(),
        records.iter().map(strip).collect::<Vec<_>>()
    );
    let log = kmirror.log();
    kmirror.stop_cleanly().await;
    assert!(
        !log.contains(kafka::PASSWORD),
        "the password is in the log:\n{log}"
    );
}

/// `kmirror check` on the MM2 example of docs/security.md (the kit's PLAIN user instead of `token`, and a
/// truststore, as the test CA is not a system CA) against the target's SASL_SSL listener:
/// connects with the variable set; a wrong password or a missing variable fails clearly, and
/// the password is never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mm2_example_connects_with_its_environment_variable() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("example");
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.sasl_ssl_addr(),
        &format!(
            "source->target.topics = {prefix}.*\n\
             target.security.protocol=SASL_SSL\n\
             target.ssl.protocol=TLSv1.2\n\
             target.ssl.endpoint.identification.algorithm=https\n\
             target.sasl.mechanism=PLAIN\n\
             target.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=${{KAFKA_TARGET_APIKEY}};\n\
             target.ssl.truststore.location={ca}\n",
            user = kafka::USER,
            ca = target.pki().ca_file.display(),
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
    let (ok, text) = check(Some(kafka::PASSWORD)).await;
    assert!(ok && text.contains("cluster target: connected"), "{text}");
    assert!(!text.contains(kafka::PASSWORD), "{text}");
    let (ok, text) = check(Some("Wrong-Key-5")).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("cluster target")
            && text.contains(&format!(
                "authentication as user `{}` with PLAIN failed",
                kafka::USER
            )),
        "{text}"
    );
    assert!(
        !text.contains("Wrong-Key-5") && !text.contains(kafka::PASSWORD),
        "{text}"
    );
    let (ok, text) = check(None).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("`target.sasl.jaas.config`: environment variable `KAFKA_TARGET_APIKEY`"),
        "{text}"
    );
}
