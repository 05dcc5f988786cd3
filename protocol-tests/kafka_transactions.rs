//! A transactional source on Apache Kafka: a librdkafka producer with a `transactional.id`
//! commits and aborts transactions (one across two partitions) interleaved with plain writes
//! to the same partitions (one inside an aborted transaction's range). The target must hold
//! exactly what a read_committed librdkafka consumer reads on the source, in the same order, no
//! control batch and no transactional batch, and every data batch of a committed write with
//! its records section byte for byte. A transaction left open holds its partition at the last
//! stable offset until it commits.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use kmirror::cluster::{Cluster, OffsetSpec};
use serde_json::{Value, json};

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, OpenTransaction, PyRecord};
use crate::support::{assert_same_records, hex, mm2_properties, paired_batches, raw_batches, topic};

fn write_config(dir: &Path, source: &Kafka, target: &Kafka, prefix: &str) -> std::path::PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n"),
    )
}

/// `n` records `<tag>-<i>`, some with headers (a duplicate key, a null value).
fn records(tag: &str, n: usize) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            key: Some(hex(format!("{tag}-k{i}").as_bytes())),
            // Long enough that librdkafka compresses (it sends a batch uncompressed when the
            // codec would not make it smaller).
            value: Some(hex(format!("{tag} value {i} ").repeat(20).as_bytes())),
            headers: if i % 2 == 0 {
                vec![("tag".into(), Some(hex(tag.as_bytes()))), ("tag".into(), None)]
            } else {
                vec![]
            },
            ..PyRecord::default()
        })
        .collect()
}

fn send(producer: &str, partition: i32, tag: &str, n: usize) -> Value {
    json!({"op": "send", "producer": producer, "partition": partition, "records": records(tag, n)})
}

fn op(name: &str) -> Value {
    json!({"op": name})
}

/// Key, value, headers, timestamp: what a consumer sees of a record.
type Seen = (
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
    Option<i64>,
);

fn seen(records: &[PyRecord]) -> Vec<Seen> {
    records
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone(), r.timestamp))
        .collect()
}

async fn end_offset(c: &Cluster, topic: &str, partition: i32) -> i64 {
    let _ = c.refresh_topics(&[topic.to_owned()]).await;
    c.list_offset(topic, partition, OffsetSpec::Latest)
        .await
        .unwrap_or(-1)
}

/// Waits until target partition `p` has `want` records.
async fn target_reaches(target: &Cluster, topic: &str, p: i32, want: i64, k: &mut Kmirror) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = k.has_exited() {
            panic!("kmirror exited early ({status}):\n{}", k.log());
        }
        let got = end_offset(target, topic, p).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}-{p} did not reach {want} records (at {got}); kmirror log:\n{}",
            k.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_committed_records_arrive_in_source_order_without_markers() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("txn");
    let name = format!("{prefix}.t");
    pyclient::create_topic(&source.addr(), &name, 2).await;
    let steps = json!([
        send("plain", 0, "p1", 3),
        send("plain", 1, "p1b", 2),
        // Committed, across both partitions.
        op("begin"),
        send("tx", 0, "A", 3),
        send("tx", 1, "A1", 2),
        op("commit"),
        send("plain", 0, "p2", 2),
        // Aborted, with a plain write to the same partition inside its range.
        op("begin"),
        send("tx", 0, "B", 3),
        send("plain", 0, "p3", 2),
        send("tx", 1, "B1", 2),
        send("tx", 0, "B2", 1),
        op("abort"),
        op("begin"),
        send("tx", 0, "C", 2),
        op("commit"),
        send("plain", 0, "p4", 1),
        send("plain", 1, "p4b", 1),
        // Aborted at the end of partition 1, then a plain write after its marker.
        op("begin"),
        send("tx", 1, "D", 3),
        op("abort"),
        send("plain", 1, "p5", 2),
    ]);
    let sent = pyclient::transactions(
        &source.addr(),
        &name,
        &format!("{prefix}-tx"),
        steps,
        json!({"compression.type": "lz4"}),
        json!({"compression.type": "zstd"}),
    )
    .await;
    assert_eq!(sent.len(), 29);

    let (src, dst) = (source.client().await, target.client().await);
    let target_topic = format!("source.{name}");
    // What librdkafka reads under read_committed on the source is what the target must hold.
    let mut committed = Vec::new();
    for p in 0..2 {
        let view = pyclient::read_all(&source.addr(), &name, p, "read_committed").await;
        let all = pyclient::read_all(&source.addr(), &name, p, "read_uncommitted").await;
        assert!(
            view.len() < all.len(),
            "{name}-{p}: no aborted record to leave out"
        );
        committed.push(view);
    }
    // p0: 3 + 3 + 2 + 2 (the plain write inside the aborted range) + 2 + 1; p1: 2 + 2 + 1 + 2.
    assert_eq!([committed[0].len(), committed[1].len()], [13, 7]);

    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix), dir.path());
    for p in 0..2 {
        target_reaches(&dst, &target_topic, p, committed[p as usize].len() as i64, &mut k).await;
    }
    k.stop_cleanly().await;

    for p in 0..2 {
        let on_target = pyclient::read_all(&target.addr(), &target_topic, p, "read_uncommitted").await;
        assert_eq!(
            seen(&on_target),
            seen(&committed[p as usize]),
            "{target_topic}-{p}: not the source's read_committed view"
        );
        let raw = raw_batches(&dst, &target_topic, p, 0).await;
        assert!(
            raw.iter().all(|b| !b.is_control() && !b.is_transactional()),
            "{target_topic}-{p}: a control or transactional batch on the target"
        );
        // The source data batches of committed records (librdkafka's view decides which) pair
        // with the target's, records sections byte for byte.
        let offsets: BTreeSet<i64> = committed[p as usize].iter().map(|r| r.offset).collect();
        let pairs = paired_batches(&src, &name, &dst, &target_topic, p, |b| {
            offsets.contains(&b.base_offset())
        })
        .await;
        for (i, (s, t)) in pairs.iter().enumerate() {
            assert_same_records(&format!("{target_topic}-{p} batch {i}"), s, t);
        }
        let transactional = pairs.iter().filter(|(s, _)| s.is_transactional()).count();
        assert!(
            transactional >= 1,
            "{target_topic}-{p}: no committed transactional batch compared"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_its_partition_at_the_last_stable_offset_until_it_commits() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("txnopen");
    let name = format!("{prefix}.t");
    let target_topic = format!("source.{name}");
    pyclient::create_topic(&source.addr(), &name, 2).await;
    let plain = |tag: &str, n: usize, p: i32| {
        let records = records(tag, n);
        let addr = source.addr();
        let name = name.clone();
        async move { pyclient::produce(&addr, &name, p, json!({}), &records).await }
    };
    let _ = plain("before", 2, 0).await;
    let open = OpenTransaction::begin(
        &source.addr(),
        &name,
        &format!("{prefix}-tx"),
        0,
        &records("open", 2),
    )
    .await;
    // Plain records behind the open transaction: past the last stable offset until it ends.
    let _ = plain("behind", 2, 0).await;

    let (src, dst) = (source.client().await, target.client().await);
    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix), dir.path());
    target_reaches(&dst, &target_topic, 0, 2, &mut k).await;
    // Partition 1 moves on meanwhile: once a record written after all of this is on the
    // target, partition 0 has been fetched since, and still stops at the last stable offset.
    let _ = plain("other", 3, 1).await;
    target_reaches(&dst, &target_topic, 1, 3, &mut k).await;
    assert_eq!(end_offset(&dst, &target_topic, 0).await, 2);
    // kmirror's ListOffsets is read_committed: the source's last stable offset.
    assert_eq!(
        end_offset(&src, &name, 0).await,
        2,
        "the open transaction holds the source's last stable offset"
    );

    open.finish("commit").await;
    // 2 before, 2 of the transaction, 2 behind it; the commit marker is not replicated.
    target_reaches(&dst, &target_topic, 0, 6, &mut k).await;
    k.stop_cleanly().await;

    let view = pyclient::read_all(&source.addr(), &name, 0, "read_committed").await;
    let on_target = pyclient::read_all(&target.addr(), &target_topic, 0, "read_uncommitted").await;
    assert_eq!(seen(&on_target), seen(&view));
    let tags: Vec<String> = view
        .iter()
        .map(|r| {
            let key = String::from_utf8(hex_decode(r.key.as_deref().unwrap())).unwrap();
            key.split('-').next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tags, ["before", "before", "open", "open", "behind", "behind"]);
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
