//! `kmirror run` between two Apache Kafka brokers, checked with confluent-kafka: all five
//! codecs, null keys and values, duplicate and null headers, old timestamps, records near
//! 1 MB, many partitions, a topic created while running; kill -9 during a continuous produce;
//! a target broker restart. Per partition, the target's sequence of (key, value, headers,
//! timestamp) must equal the source's, nothing lost and nothing twice, and the records section
//! of every target batch must be the source batch's, byte for byte (Kafka keeps batches as
//! produced).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kmirror::cluster::{Cluster, OffsetSpec};
use serde_json::json;

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{assert_same_batches, hex, mm2_properties, topic};

/// The MM2 configuration of a test: its own topics only (`prefix.*`), on shared brokers.
fn write_config(dir: &Path, source: &Kafka, target: &Kafka, prefix: &str, extra: &str) -> std::path::PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n{extra}"),
    )
}

/// End offsets of every partition of `topic`.
pub async fn ends(c: &Cluster, topic: &str, partitions: i32) -> Vec<i64> {
    let mut out = Vec::new();
    for p in 0..partitions {
        out.push(c.list_offset(topic, p, OffsetSpec::Latest).await.unwrap_or(-1));
    }
    out
}

/// Waits until the target topic has as many records per partition as the source topic.
pub async fn caught_up(
    source: &Cluster,
    target: &Cluster,
    topic: &str,
    partitions: i32,
    k: &mut Kmirror,
    timeout: Duration,
) {
    let want = ends(source, topic, partitions).await;
    let target_topic = format!("source.{topic}");
    let deadline = tokio::time::Instant::now() + timeout;
    let mut got = Vec::new();
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = k.has_exited() {
            panic!("kmirror exited early ({status}):\n{}", k.log());
        }
        let _ = target.refresh_topics(std::slice::from_ref(&target_topic)).await;
        got = ends(target, &target_topic, partitions).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{target_topic} did not reach {want:?} within {timeout:?} (at {got:?}); kmirror log:\n{}",
        k.log()
    );
}

/// Asserts that every partition holds the same records, in the same order, on both sides, as
/// librdkafka reads them.
pub async fn same_records(source: &Kafka, target: &Kafka, topic: &str, partitions: i32, counts: &[usize]) {
    for p in 0..partitions {
        let n = counts[p as usize];
        let a = pyclient::consume(&source.addr(), topic, p, 0, n, 60).await;
        let b = pyclient::consume(&target.addr(), &format!("source.{topic}"), p, 0, n, 60).await;
        assert_eq!(
            a.len(),
            n,
            "{topic}-{p}: source (got {:?})",
            a.last().map(|r| r.offset)
        );
        let strip = |v: Vec<PyRecord>| -> Vec<_> {
            v.into_iter()
                .map(|r| (r.key, r.value, r.headers, r.timestamp))
                .collect()
        };
        assert!(
            strip(b.clone()) == strip(a.clone()),
            "{topic}-{p}: target records differ from the source (source {}, target {})",
            a.len(),
            b.len()
        );
    }
}

fn shaped_records(partition: i32, n: usize) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            key: (i % 5 != 1).then(|| hex(format!("p{partition}-k{i}").as_bytes())),
            value: (i % 7 != 3)
                .then(|| hex(format!("value {i} of {partition} ").repeat(1 + i % 9).as_bytes())),
            headers: match i % 4 {
                0 => vec![],
                1 => vec![("h".into(), Some(hex(b"1"))), ("h".into(), Some(hex(b"2")))],
                2 => vec![("null".into(), None)],
                _ => vec![
                    ("a".into(), Some(hex(b""))),
                    ("b".into(), Some(hex(b"x"))),
                    ("a".into(), None),
                ],
            },
            // Old CreateTime timestamps (2001) next to recent ones.
            timestamp: Some(if i % 3 == 0 {
                978_307_200_000 + i as i64
            } else {
                1_700_000_000_000 + i as i64
            }),
            ..PyRecord::default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_every_shape_and_new_topics() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("shapes");
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let orders = format!("{prefix}.orders");

    pyclient::create_topic(&source.addr(), &orders, codecs.len() as i32).await;
    let mut counts = Vec::new();
    for (p, codec) in codecs.iter().enumerate() {
        let mut records = shaped_records(p as i32, 150);
        if p == 0 {
            // Near the 1 MB default message size limit.
            records.push(PyRecord {
                key: Some(hex(b"big")),
                value: Some(hex(&vec![b'x'; 900 * 1024])),
                timestamp: Some(1_700_000_000_000),
                ..PyRecord::default()
            });
        }
        counts.push(records.len());
        let _ = pyclient::produce(
            &source.addr(),
            &orders,
            p as i32,
            json!({"compression.type": codec, "batch.num.messages": 40}),
            &records,
        )
        .await;
    }
    let many = format!("{prefix}.many");
    pyclient::create_topic(&source.addr(), &many, 12).await;
    pyclient::produce_seq(&source.addr(), &many, 12, "m", 0, 240, 0.0).await;

    let (src, dst) = (source.client().await, target.client().await);
    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix, ""), dir.path());
    caught_up(
        &src,
        &dst,
        &orders,
        codecs.len() as i32,
        &mut k,
        Duration::from_secs(120),
    )
    .await;
    caught_up(&src, &dst, &many, 12, &mut k, Duration::from_secs(60)).await;

    // A topic created while kmirror runs is found and replicated.
    let late = format!("{prefix}.late");
    pyclient::create_topic(&source.addr(), &late, 2).await;
    pyclient::produce_seq(&source.addr(), &late, 2, "late", 0, 50, 0.0).await;
    caught_up(&src, &dst, &late, 2, &mut k, Duration::from_secs(60)).await;

    k.stop_cleanly().await;

    same_records(source, target, &orders, codecs.len() as i32, &counts).await;
    same_records(source, target, &many, 12, &[20; 12]).await;
    same_records(source, target, &late, 2, &[25, 25]).await;
    for (p, codec) in codecs.iter().enumerate() {
        let n = assert_same_batches(&src, &orders, &dst, &format!("source.{orders}"), p as i32).await;
        // 150 records in batches of at most 40, and the big one alone.
        assert!(n >= 4, "{codec}: only {n} batches compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_duplicates_nothing() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("kill9");
    let seq = format!("{prefix}.seq");
    // Offsets become durable every 3 s and kmirror is killed after 0.7 to 2.5 s: most restarts
    // find records on the target that the log does not know about.
    let config = write_config(
        dir.path(),
        source,
        target,
        &prefix,
        "offset.flush.interval.ms = 3000",
    );
    pyclient::create_topic(&source.addr(), &seq, 3).await;
    let (src, dst) = (source.client().await, target.client().await);

    // A steady stream for about 12 seconds while kmirror is killed and restarted.
    let addr = source.addr();
    let stream = seq.clone();
    let producer =
        tokio::spawn(async move { pyclient::produce_seq(&addr, &stream, 3, "s", 0, 3000, 12.0).await });
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    let mut kills = 0;
    while !producer.is_finished() {
        let k = Kmirror::run(&config, dir.path());
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        tokio::time::sleep(Duration::from_millis(700 + rng_state % 1800)).await;
        k.kill9();
        kills += 1;
    }
    producer.await.unwrap();
    assert!(kills >= 3, "kmirror was killed {kills} times");

    let mut k = Kmirror::run(&config, dir.path());
    caught_up(&src, &dst, &seq, 3, &mut k, Duration::from_secs(120)).await;
    k.stop_cleanly().await;
    let reconciled = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|log| log.contains("will be skipped, not written again"))
        .count();
    assert!(
        reconciled > 0,
        "no restart had to reconcile: the test did not exercise recovery"
    );

    let mut seen = BTreeMap::new();
    for p in 0..3 {
        let n = src.list_offset(&seq, p, OffsetSpec::Latest).await.unwrap() as usize;
        let a = pyclient::consume(&source.addr(), &seq, p, 0, n, 60).await;
        // Equal end offsets were checked by caught_up: equal counts, so equal values mean
        // nothing lost and nothing twice.
        let b = pyclient::consume(&target.addr(), &format!("source.{seq}"), p, 0, n, 60).await;
        let values = |v: &[PyRecord]| v.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(
            b.len(),
            a.len(),
            "{seq}-{p}: {} on the source, {} on the target",
            a.len(),
            b.len()
        );
        assert!(values(&a) == values(&b), "{seq}-{p}: target differs from source");
        let _ = seen.insert(p, a.len());
    }
    assert_eq!(seen.values().sum::<usize>(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_broker_restart_is_survived() {
    let source = kafka::shared_source().await;
    let mut target = Kafka::single().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("restart");
    let steady = format!("{prefix}.steady");
    pyclient::create_topic(&source.addr(), &steady, 2).await;
    pyclient::produce_seq(&source.addr(), &steady, 2, "a", 0, 400, 0.0).await;
    let src = source.client().await;
    let mut k = Kmirror::run(
        &write_config(dir.path(), source, &target, &prefix, ""),
        dir.path(),
    );
    {
        let dst = target.client().await;
        caught_up(&src, &dst, &steady, 2, &mut k, Duration::from_secs(60)).await;
        dst.close().await;
    }
    target.restart(0).await;
    pyclient::produce_seq(&source.addr(), &steady, 2, "b", 400, 400, 2.0).await;
    let dst = target.client().await;
    caught_up(&src, &dst, &steady, 2, &mut k, Duration::from_secs(120)).await;
    k.stop_cleanly().await;
    same_records(source, &target, &steady, 2, &[400, 400]).await;
}
