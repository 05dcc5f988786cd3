//! Connection and cluster behaviour under faults, and the produce rules a broker enforces,
//! against the in-process fake broker.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, MetadataRequest};
use kmirror::cluster::metadata::build_metadata_request;
use kmirror::cluster::{Cluster, ClusterError, FetchOptions, OffsetSpec};
use kmirror::config::ClientConfig;
use kmirror::net::{Connection, ConnectionError};
use kmirror::protocol::batch::{CONTROL_BIT, Compression};
use kmirror::protocol::errors;
use kmirror::protocol::records::{BatchSpec, Record, encode_batch};
use kmirror::testkit::batches::{blob, data_batch, producer_batch};
use kmirror::testkit::{FakeBroker, Fault};

fn fast() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        reconnect_backoff: Duration::from_millis(10),
        reconnect_backoff_max: Duration::from_millis(100),
        request_retries: 5,
        ..ClientConfig::default()
    }
}

async fn broker_with_topic(partitions: i32) -> FakeBroker {
    let broker = FakeBroker::start().await;
    broker.create_topic("t", partitions);
    broker
}

#[tokio::test]
async fn requests_pipeline_and_each_gets_its_own_response() {
    let broker = broker_with_topic(8).await;
    for p in 0..8 {
        broker.append_raw(
            "t",
            p,
            data_batch(0, p as usize + 1, 10, Compression::None).into_bytes(),
        );
    }
    broker.inject(Fault::Delay {
        api: ApiKey::ListOffsets,
        delay: Duration::from_millis(30),
        times: 8,
    });
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let mut asks = tokio::task::JoinSet::new();
    for p in 0..8 {
        let cluster = cluster.clone();
        let _ =
            asks.spawn(async move { (p, cluster.list_offset("t", p, OffsetSpec::Latest).await.unwrap()) });
    }
    let answers = asks.join_all().await;
    for (p, end) in answers {
        assert_eq!(end, i64::from(p) + 1, "partition {p} got its own answer");
    }
    assert!(
        broker.max_outstanding() > 1,
        "requests should be in flight together, saw {}",
        broker.max_outstanding()
    );
    assert_eq!(
        broker.connections_accepted(),
        1,
        "one connection carried them all"
    );
}

#[tokio::test]
async fn a_silent_broker_times_out_and_fails_every_pending_request() {
    let broker = broker_with_topic(1).await;
    let conn = Connection::connect(&broker.addr(), &fast()).await.unwrap();
    broker.inject(Fault::Silence {
        api: ApiKey::Metadata,
    });
    let metadata = MetadataRequest::default();
    let silent = conn.request(&metadata);
    let queued = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        conn.request(&MetadataRequest::default()).await
    };
    let (a, b) = tokio::join!(silent, queued);
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    assert!(
        matches!(
            a,
            ConnectionError::Timeout {
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{a}"
    );
    assert_eq!(
        a.to_string(),
        b.to_string(),
        "the queued request fails with the same error"
    );
    assert!(!conn.is_usable());
    let later = conn.request(&MetadataRequest::default()).await.unwrap_err();
    assert_eq!(later.to_string(), a.to_string());
}

#[tokio::test]
async fn a_bad_frame_poisons_the_connection_with_one_error() {
    let broker = broker_with_topic(1).await;
    // The first request is answered; the second gets garbage; the third was in flight
    // behind it.
    let conn = Connection::connect(&broker.addr(), &fast()).await.unwrap();
    broker.inject(Fault::Delay {
        api: ApiKey::Metadata,
        delay: Duration::from_millis(100),
        times: 1,
    });
    broker.inject(Fault::Garbage {
        api: ApiKey::Metadata,
    });
    let metadata = MetadataRequest::default();
    let first = conn.request(&metadata);
    let second = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        conn.request(&MetadataRequest::default()).await
    };
    let third = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.request(&MetadataRequest::default()).await
    };
    let (first, second, third) = tokio::join!(first, second, third);
    assert!(first.is_ok());
    let (second, third) = (second.unwrap_err(), third.unwrap_err());
    assert!(matches!(second, ConnectionError::Frame { .. }), "{second}");
    assert_eq!(
        second.to_string(),
        third.to_string(),
        "the request queued behind it fails alike"
    );
    let after = conn.request(&metadata).await.unwrap_err();
    assert_eq!(
        after.to_string(),
        second.to_string(),
        "every later request gets the same error"
    );
}

#[tokio::test]
async fn fetch_survives_a_disconnect_by_reconnecting() {
    let broker = broker_with_topic(1).await;
    broker.append_raw("t", 0, data_batch(0, 4, 10, Compression::None).into_bytes());
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    broker.inject(Fault::DisconnectAfterBytes {
        api: ApiKey::Fetch,
        bytes: 10,
    });
    let fetched = cluster.fetch("t", 0, 0, &FetchOptions::default()).await.unwrap();
    assert_eq!(fetched.high_watermark, 4);
    assert_eq!(broker.connections_accepted(), 2);

    broker.kick_connections();
    let end = cluster.list_offset("t", 0, OffsetSpec::Latest).await.unwrap();
    assert_eq!(end, 4);
    assert_eq!(broker.connections_accepted(), 3);
}

#[tokio::test]
async fn not_leader_refreshes_metadata_and_retries() {
    let broker = broker_with_topic(1).await;
    broker.append_raw("t", 0, data_batch(0, 2, 10, Compression::None).into_bytes());
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let metadata_before = broker.request_count(ApiKey::Metadata);
    broker.inject(Fault::Error {
        api: ApiKey::Fetch,
        code: errors::NOT_LEADER_OR_FOLLOWER,
        times: 2,
    });
    let fetched = cluster.fetch("t", 0, 0, &FetchOptions::default()).await.unwrap();
    assert_eq!(fetched.high_watermark, 2);
    assert_eq!(broker.request_count(ApiKey::Fetch), 3);
    assert!(broker.request_count(ApiKey::Metadata) >= metadata_before + 2);
    let generation = cluster.metadata().generation;
    assert!(generation >= 3, "metadata generation {generation}");
}

#[tokio::test]
async fn non_retriable_errors_surface_with_context() {
    let broker = broker_with_topic(1).await;
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    broker.inject(Fault::Error {
        api: ApiKey::Fetch,
        code: errors::OFFSET_OUT_OF_RANGE,
        times: 1,
    });
    let err = cluster
        .fetch("t", 0, 42, &FetchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(errors::ErrorCode(errors::OFFSET_OUT_OF_RANGE))
    );
    assert_eq!(
        err.to_string(),
        "cluster fake: Fetch t-0 at offset 42 failed: OFFSET_OUT_OF_RANGE (1)"
    );
}

#[tokio::test]
async fn unreachable_brokers_fail_fast_then_back_off() {
    let broker = FakeBroker::start().await;
    let addr = broker.addr();
    drop(broker);
    let err = Cluster::bootstrap("gone", std::slice::from_ref(&addr), fast())
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Bootstrap { .. }), "{err}");
    assert!(err.to_string().contains(&addr), "{err}");
}

#[tokio::test]
async fn api_versions_falls_back_when_the_broker_asks() {
    let broker = broker_with_topic(1).await;
    broker.inject(Fault::Error {
        api: ApiKey::ApiVersions,
        code: errors::UNSUPPORTED_VERSION,
        times: 1,
    });
    let conn = Connection::connect(&broker.addr(), &fast()).await.unwrap();
    assert_eq!(conn.version(ApiKey::Fetch).unwrap(), 11);
    assert_eq!(broker.request_count(ApiKey::ApiVersions), 2);
}

#[tokio::test]
async fn close_lets_requests_in_flight_finish() {
    let broker = broker_with_topic(1).await;
    let conn = Connection::connect(&broker.addr(), &fast()).await.unwrap();
    broker.inject(Fault::Delay {
        api: ApiKey::Metadata,
        delay: Duration::from_millis(150),
        times: 1,
    });
    let metadata = MetadataRequest::default();
    let in_flight = conn.request(&metadata);
    let close = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        conn.close().await;
    };
    let (answer, ()) = tokio::join!(in_flight, close);
    assert!(answer.is_ok(), "{answer:?}");
    let after = conn.request(&MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(after, ConnectionError::Closed { .. }), "{after}");
}

#[tokio::test]
async fn abandoned_requests_do_not_disturb_the_connection() {
    let broker = broker_with_topic(1).await;
    let conn = Connection::connect(&broker.addr(), &fast()).await.unwrap();
    broker.inject(Fault::Delay {
        api: ApiKey::Metadata,
        delay: Duration::from_millis(100),
        times: 1,
    });
    let all_topics = build_metadata_request(None);
    let abandoned = tokio::time::timeout(Duration::from_millis(20), conn.request(&all_topics)).await;
    assert!(abandoned.is_err());
    // The late answer to the abandoned request is dropped; the next request gets its own.
    let r = conn.request(&all_topics).await.unwrap();
    assert_eq!(r.topics.len(), 1);
    assert!(conn.is_usable());
}

fn produce_error(err: ClusterError) -> i16 {
    err.error_code()
        .map(|c| c.0)
        .unwrap_or_else(|| panic!("not a broker error: {err}"))
}

#[tokio::test]
async fn produce_applies_the_brokers_batch_rules() {
    let broker = broker_with_topic(1).await;
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let ok = data_batch(0, 3, 10, Compression::Lz4);
    assert_eq!(
        cluster
            .produce("t", 0, ok.as_bytes().clone())
            .await
            .unwrap()
            .base_offset,
        0
    );

    let two = blob(&[ok.clone(), ok.clone()]);
    assert_eq!(
        produce_error(cluster.produce("t", 0, two).await.unwrap_err()),
        errors::INVALID_RECORD
    );

    let gapped_records: Vec<Record> = (0..3)
        .map(|i| Record {
            offset_delta: i * 2,
            value: Some(Bytes::from_static(b"x")),
            ..Record::default()
        })
        .collect();
    let gapped = encode_batch(&BatchSpec::default(), &gapped_records).unwrap();
    assert_eq!(
        produce_error(cluster.produce("t", 0, gapped).await.unwrap_err()),
        errors::INVALID_RECORD
    );

    let control_spec = BatchSpec {
        attributes: CONTROL_BIT,
        ..BatchSpec::default()
    };
    let control = encode_batch(&control_spec, &gapped_records[..1]).unwrap();
    assert_eq!(
        produce_error(cluster.produce("t", 0, control).await.unwrap_err()),
        errors::INVALID_RECORD
    );

    let empty = encode_batch(&BatchSpec::default(), &[]).unwrap();
    assert_eq!(
        produce_error(cluster.produce("t", 0, empty).await.unwrap_err()),
        errors::INVALID_RECORD
    );

    let no_sequence = producer_batch(0, 2, 77, -1, 0);
    assert_eq!(
        produce_error(
            cluster
                .produce("t", 0, no_sequence.into_bytes())
                .await
                .unwrap_err()
        ),
        errors::INVALID_RECORD
    );

    let mut corrupt = BytesMut::from(&ok.as_bytes()[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        produce_error(cluster.produce("t", 0, corrupt.freeze()).await.unwrap_err()),
        errors::CORRUPT_MESSAGE
    );

    let mut legacy = BytesMut::new();
    legacy.put_i64(0);
    legacy.put_i32(14);
    legacy.put_slice(&[0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        produce_error(cluster.produce("t", 0, legacy.freeze()).await.unwrap_err()),
        errors::INVALID_RECORD
    );
    assert_eq!(broker.log("t", 0).len(), 1, "nothing invalid was stored");
}

#[tokio::test]
async fn idempotent_produce_deduplicates_and_orders() {
    let broker = broker_with_topic(1).await;
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let (pid, _) = cluster.init_producer_id().await.unwrap();
    let first = producer_batch(0, 3, pid, 0, 0);
    let second = producer_batch(0, 2, pid, 3, 0);
    assert_eq!(
        cluster
            .produce("t", 0, first.as_bytes().clone())
            .await
            .unwrap()
            .base_offset,
        0
    );
    // A resend of an appended batch is acknowledged with its offset and not stored again.
    assert_eq!(
        cluster
            .produce("t", 0, first.as_bytes().clone())
            .await
            .unwrap()
            .base_offset,
        0
    );
    let gap = producer_batch(0, 2, pid, 9, 0);
    assert_eq!(
        produce_error(cluster.produce("t", 0, gap.into_bytes()).await.unwrap_err()),
        errors::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        cluster
            .produce("t", 0, second.into_bytes())
            .await
            .unwrap()
            .base_offset,
        3
    );
    assert_eq!(broker.log("t", 0).len(), 2);
    assert_eq!(cluster.list_offset("t", 0, OffsetSpec::Latest).await.unwrap(), 5);
}
