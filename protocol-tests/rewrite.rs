//! The forwarding step end to end: librdkafka writes batches (lz4, idempotent, headers with
//! duplicate keys and null values); kmirror fetches them raw, rewrites the producer identity
//! to its own idempotent producer and produces them to another topic; librdkafka reads back
//! records identical to what it wrote.
//!
//! On the fake broker, which stores batches as received, the records section of every
//! target batch is checked byte for byte against the source batch. On Apache Kafka, which
//! keeps batches as produced too, the same check runs on what the real broker serves after its
//! own validation, and the target batches carry kmirror's producer identity.

use bytes::Bytes;
use kmirror::cluster::{Cluster, FetchOptions};
use kmirror::config::ClientConfig;
use kmirror::protocol::batch::{BatchIter, RecordBatch};
use kmirror::protocol::rewrite::{ProducerIdentity, RewriteOptions, rewrite};
use kmirror::testkit::FakeBroker;
use serde_json::json;

use crate::support::kafka;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{assert_same_batches, hex, raw_batches, topic};

fn sent() -> Vec<PyRecord> {
    (0..120)
        .map(|i| PyRecord {
            key: Some(hex(format!("k{i}").as_bytes())),
            value: Some(hex(format!("payload {i} ").repeat(5).as_bytes())),
            headers: vec![
                ("trace".into(), Some(hex(b"a"))),
                ("trace".into(), Some(hex(b"b"))),
                ("empty".into(), None),
            ],
            timestamp: Some(1_700_000_000_000 + 1000 * i),
            ..PyRecord::default()
        })
        .collect()
}

/// Copies `count` records from `source` to `target` batch by batch; returns the source
/// batches as fetched.
async fn forward(cluster: &Cluster, source: &str, target: &str, count: i64) -> Vec<RecordBatch> {
    let (producer_id, producer_epoch) = cluster.init_producer_id().await.unwrap();
    let (mut sequence, mut next, mut forwarded) = (0, 0, Vec::new());
    while next < count {
        let fetched = cluster
            .fetch(source, 0, next, &FetchOptions::default())
            .await
            .unwrap();
        for b in BatchIter::new(fetched.records) {
            let b = b.unwrap();
            let identity = ProducerIdentity {
                producer_id,
                producer_epoch,
                base_sequence: sequence,
            };
            let out = rewrite(&b, identity, RewriteOptions::default()).unwrap();
            assert!(
                std::ptr::eq(out.records().as_ptr(), b.records().as_ptr()),
                "records not copied"
            );
            let ack = cluster.produce(target, 0, out.to_contiguous()).await.unwrap();
            assert_eq!(ack.base_offset, b.base_offset(), "single writer: offsets line up");
            sequence += b.record_count();
            next = b.next_offset();
            forwarded.push(b);
        }
    }
    forwarded
}

fn check_read_back(read: &[PyRecord], sent: &[PyRecord]) {
    assert_eq!(read.len(), sent.len());
    for (r, s) in read.iter().zip(sent) {
        assert_eq!(
            (&r.key, &r.value, &r.headers, r.timestamp),
            (&s.key, &s.value, &s.headers, s.timestamp)
        );
    }
}

#[tokio::test]
async fn forwarded_batches_keep_their_records_byte_for_byte() {
    let broker = FakeBroker::start().await;
    broker.create_topic("src", 1);
    broker.create_topic("dst", 1);
    let sent = sent();
    let config = json!({"compression.type": "lz4", "enable.idempotence": true, "batch.num.messages": 25});
    let _ = pyclient::produce(&broker.addr(), "src", 0, config, &sent).await;

    let cluster = Cluster::bootstrap("fake", &[broker.addr()], ClientConfig::default())
        .await
        .unwrap();
    let (src_pid, _) = {
        let first = RecordBatch::try_from_bytes(broker.log("src", 0)[0].bytes.clone()).unwrap();
        (first.producer_id(), first.producer_epoch())
    };
    assert!(src_pid >= 0, "librdkafka wrote idempotent batches");
    let forwarded = forward(&cluster, "src", "dst", sent.len() as i64).await;
    assert!(forwarded.len() >= 5);

    let stored: Vec<RecordBatch> = broker
        .log("dst", 0)
        .into_iter()
        .map(|s| RecordBatch::try_from_bytes(s.bytes).unwrap())
        .collect();
    assert_eq!(stored.len(), forwarded.len());
    let our_pid = stored[0].producer_id();
    assert_ne!(our_pid, src_pid);
    for (dst, src) in stored.iter().zip(&forwarded) {
        let (a, b): (Bytes, Bytes) = (dst.records(), src.records());
        assert_eq!(
            a,
            b,
            "records section of batch {} is unchanged",
            src.base_offset()
        );
        assert_eq!(
            (dst.record_count(), dst.last_offset_delta()),
            (src.record_count(), src.last_offset_delta())
        );
        assert_eq!(
            (dst.base_timestamp(), dst.max_timestamp()),
            (src.base_timestamp(), src.max_timestamp())
        );
        assert_eq!(dst.producer_id(), our_pid);
        dst.verify_crc().unwrap();
    }
    check_read_back(
        &pyclient::consume(&broker.addr(), "dst", 0, 0, sent.len(), 30).await,
        &sent,
    );
    cluster.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_through_kafka_keeps_the_records_byte_for_byte() {
    let broker = kafka::shared_source().await;
    let source = topic("rewrite-src");
    let target = topic("rewrite-dst");
    pyclient::create_topic(&broker.addr(), &source, 1).await;
    pyclient::create_topic(&broker.addr(), &target, 1).await;
    let sent = sent();
    let config = json!({"compression.type": "lz4", "enable.idempotence": true, "batch.num.messages": 25});
    let _ = pyclient::produce(&broker.addr(), &source, 0, config, &sent).await;

    let cluster = broker.client().await;
    let forwarded = forward(&cluster, &source, &target, sent.len() as i64).await;
    assert!(forwarded.len() >= 5, "{} batches", forwarded.len());
    let src_pid = forwarded[0].producer_id();
    assert!(src_pid >= 0, "librdkafka wrote idempotent batches");

    let compared = assert_same_batches(&cluster, &source, &cluster, &target, 0).await;
    assert_eq!(compared, forwarded.len());
    let stored = raw_batches(&cluster, &target, 0, 0).await;
    let our_pid = stored[0].producer_id();
    assert_ne!(our_pid, src_pid);
    for (dst, src) in stored.iter().zip(&forwarded) {
        assert_eq!(
            (dst.max_timestamp(), dst.producer_id()),
            (src.max_timestamp(), our_pid)
        );
        dst.verify_crc().unwrap();
    }
    let from_source = pyclient::consume(&broker.addr(), &source, 0, 0, sent.len(), 30).await;
    let from_target = pyclient::consume(&broker.addr(), &target, 0, 0, sent.len(), 30).await;
    assert_eq!(from_target, from_source);
    check_read_back(&from_target, &sent);
    cluster.close().await;
}
