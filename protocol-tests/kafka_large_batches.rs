//! Batches larger than a Kafka broker's default limit (`message.max.bytes`, 1 MiB): a source
//! topic that admits 4 MiB holds a 3 MiB record and a 2.5 MiB batch of many records. kmirror
//! forwards batches whole, so it must give the target topic the source's `max.message.bytes`,
//! and the batches must arrive byte for byte. A target topic that already exists with the
//! default limit gets a warning at start, a problem in `kmirror check`, and a produce error that
//! names the topic, the partition and the config to raise.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{assert_same_batches, eventually, hex, mm2_properties, raw_batches, topic};

const MIB: usize = 1024 * 1024;

/// `n` bytes that no codec shrinks (a fixed pseudo-random sequence).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

fn big(key: &str, n: usize, seed: u64) -> PyRecord {
    PyRecord {
        key: Some(hex(key.as_bytes())),
        value: Some(hex(&noise(n, seed))),
        headers: vec![("size".into(), Some(hex(n.to_string().as_bytes())))],
        ..PyRecord::default()
    }
}

fn write_config(dir: &Path, source: &Kafka, target: &Kafka, prefix: &str, extra: &str) -> std::path::PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n{extra}"),
    )
}

/// librdkafka settings for records and batches of several MiB.
fn large_producer(codec: &str) -> serde_json::Value {
    json!({"compression.type": codec, "message.max.bytes": 8 * MIB, "batch.size": 6 * MIB,
           "linger.ms": 500})
}

/// A source topic admitting 4 MiB batches: partition 0 a 3 MiB record alone, partition 1 a
/// 2.5 MiB lz4 batch of 25 records.
async fn write_large(source: &Kafka, name: &str) {
    pyclient::create_topic_with(&source.addr(), name, 2, json!({"max.message.bytes": "4194304"})).await;
    let _ = pyclient::produce_with(
        &source.addr(),
        name,
        0,
        large_producer("none"),
        &[big("three-mib", 3 * MIB, 1)],
        true,
    )
    .await;
    let many: Vec<PyRecord> = (0..25)
        .map(|i| big(&format!("part-{i}"), 100 * 1024, 10 + i))
        .collect();
    let _ = pyclient::produce_with(&source.addr(), name, 1, large_producer("lz4"), &many, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_several_mebibytes_arrive_whole() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("large");
    let name = format!("{prefix}.t");
    let target_topic = format!("source.{name}");
    write_large(source, &name).await;
    let (src, dst) = (source.client().await, target.client().await);
    for p in 0..2 {
        let batches = raw_batches(&src, &name, p, 0).await;
        assert_eq!(batches.len(), 1, "{name}-{p}: one batch");
        assert!(
            batches[0].len() > 2 * MIB,
            "{name}-{p}: {} bytes",
            batches[0].len()
        );
    }

    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix, ""), dir.path());
    crate::replication::caught_up(&src, &dst, &name, 2, &mut k, Duration::from_secs(120)).await;
    k.stop_cleanly().await;

    let created = dst.describe_topic_config(&target_topic).await.unwrap();
    let limit = created.iter().find(|e| e.name == "max.message.bytes").unwrap();
    assert_eq!(limit.value.as_deref(), Some("4194304"));
    crate::replication::same_records(source, target, &name, 2, &[1, 25]).await;
    for p in 0..2 {
        assert_eq!(assert_same_batches(&src, &name, &dst, &target_topic, p).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_topic_too_small_for_the_source_batches_is_named_with_what_to_raise() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("toosmall");
    let name = format!("{prefix}.t");
    let target_topic = format!("source.{name}");
    write_large(source, &name).await;
    // The target topic exists already, with the broker's default limit, and the operator keeps
    // the target's configs as they are (the topic config sync would set the source's
    // max.message.bytes on it, as MM2 does).
    pyclient::create_topic(&target.addr(), &target_topic, 2).await;
    let config = write_config(
        dir.path(),
        source,
        target,
        &prefix,
        "sync.topic.configs.enabled = false\n",
    );

    let check = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["check", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .output()
        .expect("run kmirror check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "problem: target topic {target_topic} has max.message.bytes=1048588, less than source topic {name} admits (4194304)"
        )),
        "{out}"
    );

    // Today the refusal stops kmirror (the other partitions with it); a partition that stops
    // alone would log the same error and keep the process running.
    let mut k = Kmirror::run(&config, dir.path());
    let log = eventually("the size refusal in the log", Duration::from_secs(60), || {
        let log = k.log();
        async move { log.contains("MESSAGE_TOO_LARGE").then_some(log) }
    })
    .await;
    if let Some(status) = k.has_exited() {
        assert!(!status.success(), "{log}");
    }
    // Warned at start, before any batch was refused.
    assert!(
        log.contains("the target topic admits smaller batches than the source topic")
            && log.contains(&format!("raise max.message.bytes of {target_topic} to 4194304")),
        "{log}"
    );
    // The refusal names the target partition, the error and what to raise.
    assert!(
        log.contains(&format!("raise max.message.bytes of {target_topic} to at least")),
        "{log}"
    );
    assert!(log.contains(&format!("Produce {target_topic}-")), "{log}");
}
