//! Kafka 3.9 next to the 4.x reference: the compatibility run.
//!
//! - 3.9 → 4.3: a topic with configs 4.x refuses (`message.format.version`, which 4.0
//!   removed, and a `segment.bytes` below 4.x's 1 MiB minimum) is created without them, each
//!   named in a warning (and in `kmirror check`), the rest copied; the 3.9 broker admits 4 MiB
//!   batches by default (`message.max.bytes`), so the target topics get that
//!   `max.message.bytes`; the usual shapes in five codecs and a 2 MiB record arrive, records
//!   section byte for byte.
//! - 4.3 → 3.9: the same shapes the other way.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tokio::sync::OnceCell;

use crate::replication::{caught_up, same_records};
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{assert_same_batches, eventually, hex, mm2_properties, topic};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// One Kafka 3.9 node for this file's tests, admitting batches of 4 MiB by default.
async fn kafka_3_9() -> &'static Kafka {
    static NODE: OnceCell<Kafka> = OnceCell::const_new();
    NODE.get_or_init(|| Kafka::single_with(KafkaOptions::compat().with("message.max.bytes=4194304")))
        .await
}

fn write_config(dir: &Path, source: &Kafka, target: &Kafka, prefix: &str, extra: &str) -> std::path::PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n{extra}"),
    )
}

fn shaped(partition: usize, n: usize) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            key: (i % 5 != 1).then(|| hex(format!("p{partition}-k{i}").as_bytes())),
            value: (i % 7 != 3)
                .then(|| hex(format!("value {i} of {partition} ").repeat(1 + i % 9).as_bytes())),
            headers: match i % 3 {
                0 => vec![],
                1 => vec![("h".into(), Some(hex(b"1"))), ("h".into(), Some(hex(b"2")))],
                _ => vec![("null".into(), None)],
            },
            timestamp: Some(1_700_000_000_000 + i as i64),
            ..PyRecord::default()
        })
        .collect()
}

/// The usual shapes, one codec per partition; returns the record counts.
async fn write_shapes(source: &Kafka, name: &str) -> Vec<usize> {
    pyclient::create_topic(&source.addr(), name, CODECS.len() as i32).await;
    let mut counts = Vec::new();
    for (p, codec) in CODECS.iter().enumerate() {
        let records = shaped(p, 120);
        counts.push(records.len());
        let config = json!({"compression.type": codec, "batch.num.messages": 30});
        let _ = pyclient::produce(&source.addr(), name, p as i32, config, &records).await;
    }
    counts
}

async fn replicate_shapes(
    source: &Kafka,
    target: &Kafka,
    prefix: &str,
    k: &mut Kmirror,
    name: &str,
    counts: &[usize],
) {
    let (src, dst) = (source.client().await, target.client().await);
    let partitions = CODECS.len() as i32;
    caught_up(&src, &dst, name, partitions, k, Duration::from_secs(120)).await;
    same_records(source, target, name, partitions, counts).await;
    for p in 0..partitions {
        let n = assert_same_batches(&src, name, &dst, &format!("source.{name}"), p).await;
        assert!(
            n >= 4,
            "{prefix}: {} only {n} batches compared",
            CODECS[p as usize]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_kafka_3_9_to_4_3_refused_configs_are_left_out_and_large_batches_fit() {
    let (source, target) = (kafka_3_9().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("from39");
    let legacy = format!("{prefix}.legacy");
    let orders = format!("{prefix}.orders");
    pyclient::create_topic_with(
        &source.addr(),
        &legacy,
        1,
        json!({"message.format.version": "3.0", "segment.bytes": "500000", "retention.bytes": "123456789",
               "cleanup.policy": "delete"}),
    )
    .await;
    // 2 MiB: over the 4.3 target's default, under the 3.9 source broker's 4 MiB.
    let big = PyRecord {
        key: Some(hex(b"big")),
        value: Some(hex(&(0..2 * 1024 * 1024)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>())),
        ..PyRecord::default()
    };
    let _ = pyclient::produce(&source.addr(), &legacy, 0, json!({}), &shaped(9, 20)).await;
    // Not in the legacy topic: its 500 kB segments could not hold it.
    let large = format!("{prefix}.large");
    pyclient::create_topic(&source.addr(), &large, 1).await;
    let config = json!({"message.max.bytes": 8 * 1024 * 1024, "compression.type": "none"});
    let _ = pyclient::produce(&source.addr(), &large, 0, config, &[big]).await;
    let counts = write_shapes(source, &orders).await;
    // The topic config sync every second: the configs the target refused at creation are
    // refused by every sync too, and must be reported once, not at every interval.
    let config = write_config(
        dir.path(),
        source,
        target,
        &prefix,
        "sync.topic.configs.interval.seconds = 1\n",
    );

    let check = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["check", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .output()
        .expect("run kmirror check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert!(
        out.contains("warning: will leave out message.format.version=3.0, which the target refuses: Unknown topic config name: message.format.version"),
        "{out}"
    );
    assert!(
        out.contains("warning: will leave out segment.bytes=500000, which the target refuses: Invalid value 500000 for configuration segment.bytes"),
        "{out}"
    );
    assert!(out.contains("will set max.message.bytes=4194304"), "{out}");

    let mut k = Kmirror::run(&config, dir.path());
    replicate_shapes(source, target, &prefix, &mut k, &orders, &counts).await;
    let (src, dst) = (source.client().await, target.client().await);
    caught_up(&src, &dst, &legacy, 1, &mut k, Duration::from_secs(60)).await;
    caught_up(&src, &dst, &large, 1, &mut k, Duration::from_secs(60)).await;
    let refused = |log: &str, config: &str| {
        log.lines()
            .filter(|l| {
                l.contains("topic config sync: the target refuses this config")
                    && l.contains(&format!("config={config}"))
            })
            .count()
    };
    eventually("the sync's refusals in the log", Duration::from_secs(60), || {
        let log = without_colours(&k.log());
        async move {
            (refused(&log, "message.format.version") > 0 && refused(&log, "segment.bytes") > 0).then_some(())
        }
    })
    .await;
    // A few more sync rounds (one a second): nothing is sent or reported again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = without_colours(&k.log());
    k.stop_cleanly().await;
    for config in ["message.format.version", "segment.bytes"] {
        assert_eq!(refused(&log, config), 1, "{config}:\n{log}");
    }

    same_records(source, target, &legacy, 1, &[20]).await;
    assert!(assert_same_batches(&src, &legacy, &dst, &format!("source.{legacy}"), 0).await >= 1);
    same_records(source, target, &large, 1, &[1]).await;
    assert_eq!(
        assert_same_batches(&src, &large, &dst, &format!("source.{large}"), 0).await,
        1
    );
    let created = dst
        .describe_topic_config(&format!("source.{large}"))
        .await
        .unwrap();
    let limit = created.iter().find(|e| e.name == "max.message.bytes").unwrap();
    assert_eq!(
        limit.value.as_deref(),
        Some("4194304"),
        "the 3.9 broker's default, carried"
    );
    for (config, value, reason) in [
        (
            "message.format.version",
            "3.0",
            "Unknown topic config name: message.format.version",
        ),
        (
            "segment.bytes",
            "500000",
            "Invalid value 500000 for configuration segment.bytes",
        ),
    ] {
        let line = log
            .lines()
            .find(|l| {
                l.contains("created the target topic without a source config")
                    && l.contains(&format!("config={config}"))
            })
            .unwrap_or_else(|| panic!("no warning about {config}:\n{log}"));
        assert!(
            line.contains(&format!("topic=source.{legacy}"))
                && line.contains(&format!("value={value}"))
                && line.contains(reason),
            "{line}"
        );
    }
    let created = dst
        .describe_topic_config(&format!("source.{legacy}"))
        .await
        .unwrap();
    let value = |n: &str| {
        created
            .iter()
            .find(|e| e.name == n)
            .map(|e| (e.value.clone(), e.is_topic_override))
    };
    assert_eq!(
        value("retention.bytes"),
        Some((Some("123456789".to_owned()), true))
    );
    assert_eq!(
        value("max.message.bytes"),
        Some((Some("4194304".to_owned()), true))
    );
    assert_eq!(
        value("segment.bytes").map(|v| v.1),
        Some(false),
        "the target's default segment.bytes"
    );
    assert_eq!(value("message.format.version"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_kafka_4_3_to_3_9() {
    let (source, target) = (kafka::shared_source().await, kafka_3_9().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("to39");
    let orders = format!("{prefix}.orders");
    let counts = write_shapes(source, &orders).await;
    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix, ""), dir.path());
    replicate_shapes(source, target, &prefix, &mut k, &orders, &counts).await;
    k.stop_cleanly().await;
}

/// The log without ANSI colour sequences (tracing colours the fields).
fn without_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
