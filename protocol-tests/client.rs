//! kmirror's client does ApiVersions, Metadata, CreateTopics, ListOffsets, Produce and Fetch
//! against Apache Kafka (the shared source broker); what it wrote is read back by
//! confluent-kafka.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kmirror::cluster::{Cluster, FetchOptions, OffsetSpec};
use kmirror::config::ClientConfig;
use kmirror::net::Connection;
use kmirror::protocol::batch::{BatchIter, BatchKind, FetchPosition, RecordBatch};
use kmirror::protocol::records::{BatchSpec, Record, decode_records, encode_batch};

use crate::support::kafka;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, topic};

fn records(tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            timestamp_delta: i as i64 * 10,
            offset_delta: i as i32,
            key: Some(Bytes::from(format!("{tag}-key-{i}"))),
            value: Some(Bytes::from(format!("{tag}-value-{i}").repeat(i + 1))),
            headers: vec![
                (Bytes::from_static(b"trace"), Some(Bytes::from_static(b"first"))),
                (Bytes::from_static(b"trace"), Some(Bytes::from_static(b"second"))),
                (Bytes::from_static(b"nullable"), None),
            ],
            ..Record::default()
        })
        .collect()
}

fn batch(tag: &str, n: usize) -> (Bytes, Vec<Record>) {
    let records = records(tag, n);
    let spec = BatchSpec {
        base_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000 + (n as i64 - 1) * 10,
        ..BatchSpec::default()
    };
    (encode_batch(&spec, &records).unwrap(), records)
}

fn first_seed(broker: &kafka::Kafka) -> String {
    broker.seeds().into_iter().next().expect("a seed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_negotiates_versions_with_kafka() {
    let broker = kafka::shared_source().await;
    let conn = Connection::connect(&first_seed(broker), &ClientConfig::default())
        .await
        .unwrap();
    // Kafka 4.3 offers Fetch 4-18, Produce 3-13 and Metadata 0-13; kmirror caps Fetch at 11,
    // Produce and Metadata at 12 (see versions.rs). Kafka 3.9 (KMIRROR_KAFKA_VERSION) offers
    // Produce up to 11 only: v12 came with 4.0 (KIP-890).
    let produce = if broker.version().starts_with("3.") {
        11
    } else {
        12
    };
    assert_eq!(conn.version(ApiKey::Fetch).unwrap(), 11);
    assert_eq!(conn.version(ApiKey::Produce).unwrap(), produce);
    assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 12);
    assert!(conn.version(ApiKey::ListOffsets).unwrap() >= 1);
    conn.close().await;
    assert!(!conn.is_usable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_list_offsets_fetch_round_trip() {
    let broker = kafka::shared_source().await;
    let cluster = broker.client().await;
    let snapshot = cluster.metadata();
    assert_eq!(snapshot.brokers.len(), 1);
    assert_eq!(
        snapshot.brokers.values().next().unwrap().addr(),
        first_seed(broker)
    );

    let t = topic("roundtrip");
    cluster.create_topic(&t, 3, -1, &[]).await.unwrap();
    eventually("topic in metadata", Duration::from_secs(10), || async {
        let s = cluster.refresh_topics(std::slice::from_ref(&t)).await.ok()?;
        (s.topic(&t).ok()?.partitions.len() == 3).then_some(())
    })
    .await;
    assert_eq!(cluster.list_offset(&t, 1, OffsetSpec::Earliest).await.unwrap(), 0);
    assert_eq!(cluster.list_offset(&t, 1, OffsetSpec::Latest).await.unwrap(), 0);

    let (first, first_records) = batch("a", 5);
    let (second, second_records) = batch("b", 3);
    assert_eq!(
        cluster.produce(&t, 1, first.clone()).await.unwrap().base_offset,
        0
    );
    assert_eq!(
        cluster.produce(&t, 1, second.clone()).await.unwrap().base_offset,
        5
    );
    assert_eq!(cluster.list_offset(&t, 1, OffsetSpec::Latest).await.unwrap(), 8);
    assert_eq!(cluster.list_offset(&t, 0, OffsetSpec::Latest).await.unwrap(), 0);

    // Kafka keeps the two batches as produced: the same record counts, and the records section
    // byte for byte (it sets the base offset and leader epoch and recomputes the CRC).
    let fetched = cluster.fetch(&t, 1, 0, &FetchOptions::default()).await.unwrap();
    assert_eq!(fetched.high_watermark, 8);
    let mut got = Vec::new();
    let mut shape = Vec::new();
    for b in BatchIter::new(fetched.records) {
        let b = b.unwrap();
        b.verify_crc().unwrap();
        assert_eq!(b.kind(), BatchKind::Data);
        shape.push((b.base_offset(), b.record_count(), b.records()));
        got.extend(
            decode_records(&b)
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.value, r.headers)),
        );
    }
    let produced = |bytes: &Bytes| RecordBatch::try_from_bytes(bytes.clone()).unwrap().records();
    assert!(
        shape == [(0, 5, produced(&first)), (5, 3, produced(&second))],
        "the batches as produced"
    );
    let sent: Vec<_> = first_records
        .iter()
        .chain(&second_records)
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect();
    assert_eq!(got, sent);

    // A fetch from inside a batch starts with the whole batch that holds the offset.
    let mid = cluster.fetch(&t, 1, 6, &FetchOptions::default()).await.unwrap();
    let b = BatchIter::new(mid.records).next().unwrap().unwrap();
    assert_ne!(b.position(6), FetchPosition::Before);
    assert_eq!((b.base_offset(), b.last_offset()), (5, 7));

    // The independent client reads what kmirror wrote, headers in order with duplicates.
    let read = pyclient::consume(&broker.addr(), &t, 1, 0, 8, 30).await;
    assert_eq!(read.len(), 8);
    let expected: Vec<PyRecord> = first_records
        .iter()
        .chain(&second_records)
        .enumerate()
        .map(|(i, r)| PyRecord {
            offset: i as i64,
            timestamp_type: 1,
            ..PyRecord::from_record(r, 1_700_000_000_000)
        })
        .collect();
    assert_eq!(read, expected);
    cluster.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_are_routing_errors_not_panics() {
    let broker = kafka::shared_source().await;
    let missing = topic("does-not-exist");
    let cluster = Cluster::bootstrap(
        "kafka",
        &broker.seeds(),
        ClientConfig {
            request_retries: 1,
            ..ClientConfig::default()
        },
    )
    .await
    .unwrap();
    let err = cluster
        .list_offset(&missing, 0, OffsetSpec::Latest)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
    cluster.close().await;
}
