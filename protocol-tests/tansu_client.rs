//! kmirror's client does ApiVersions, Metadata, CreateTopics, ListOffsets, Produce and Fetch
//! against tansu; what it wrote is read back by confluent-kafka.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kmirror::cluster::{Cluster, FetchOptions, OffsetSpec};
use kmirror::config::ClientConfig;
use kmirror::net::Connection;
use kmirror::protocol::batch::{BatchIter, BatchKind, FetchPosition};
use kmirror::protocol::records::{BatchSpec, Record, decode_records, encode_batch};

use crate::support::pyclient::{self, PyRecord};
use crate::support::tansu::TansuBroker;
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

#[tokio::test]
async fn handshake_negotiates_versions_with_tansu() {
    let broker = TansuBroker::start().await;
    let conn = Connection::connect(&broker.addr(), &ClientConfig::default())
        .await
        .unwrap();
    // tansu offers Fetch 0-17 and Produce 0-11; kmirror caps Fetch at 11 (see versions.rs).
    assert_eq!(conn.version(ApiKey::Fetch).unwrap(), 11);
    assert_eq!(conn.version(ApiKey::Produce).unwrap(), 11);
    assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 12);
    assert!(conn.version(ApiKey::ListOffsets).unwrap() >= 1);
    conn.close().await;
    assert!(!conn.is_usable());
}

#[tokio::test]
async fn produce_list_offsets_fetch_round_trip() {
    let broker = TansuBroker::start().await;
    let cluster = Cluster::bootstrap("tansu", &[broker.addr()], ClientConfig::default())
        .await
        .unwrap();
    let snapshot = cluster.metadata();
    assert_eq!(snapshot.brokers.len(), 1);
    assert_eq!(snapshot.brokers.values().next().unwrap().addr(), broker.addr());

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

    // tansu rebuilds batches from stored rows on fetch (both batches come back merged), so
    // only the records are compared here; batch boundaries are checked on the fake broker.
    let fetched = cluster.fetch(&t, 1, 0, &FetchOptions::default()).await.unwrap();
    assert_eq!(fetched.high_watermark, 8);
    let mut got = Vec::new();
    let mut next = 0;
    for b in BatchIter::new(fetched.records) {
        let b = b.unwrap();
        b.verify_crc().unwrap();
        assert_eq!((b.kind(), b.base_offset()), (BatchKind::Data, next));
        got.extend(
            decode_records(&b)
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.value, r.headers)),
        );
        next = b.next_offset();
    }
    let sent: Vec<_> = first_records
        .iter()
        .chain(&second_records)
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect();
    assert_eq!((next, got), (8, sent));

    // A fetch from inside the data starts at or before the requested offset.
    let mid = cluster.fetch(&t, 1, 6, &FetchOptions::default()).await.unwrap();
    let b = BatchIter::new(mid.records).next().unwrap().unwrap();
    assert_ne!(b.position(6), FetchPosition::Before);
    assert!(b.base_offset() <= 6 && b.last_offset() >= 6);

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

#[tokio::test]
async fn unknown_topics_are_routing_errors_not_panics() {
    let broker = TansuBroker::start().await;
    let cluster = Cluster::bootstrap(
        "tansu",
        &[broker.addr()],
        ClientConfig {
            request_retries: 1,
            ..ClientConfig::default()
        },
    )
    .await
    .unwrap();
    let err = cluster
        .list_offset("does-not-exist", 0, OffsetSpec::Latest)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does-not-exist"), "{err}");
}
