use super::*;
use crate::config::ClientConfig;
use crate::net::Connection;
use crate::protocol::batch::{self, Compression, RecordBatch};
use crate::protocol::codec::{decode_response, encode_request};
use crate::protocol::rewrite::{ProducerIdentity, RewriteOptions, rewrite};
use crate::protocol::versions::SUPPORTED;
use crate::testkit::FakeBroker;
use crate::testkit::batches::{data_batch, producer_batch};
use bytes::Buf;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes, decode_request_header_from_buffer};
use proptest::prelude::*;

fn concat(chunks: &[Bytes]) -> Bytes {
    let mut b = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
    for c in chunks {
        b.put_slice(c);
    }
    b.freeze()
}

fn rewritten(batch: &RecordBatch, producer_id: i64, base_sequence: i32) -> RewrittenBatch {
    let identity = ProducerIdentity {
        producer_id,
        producer_epoch: 0,
        base_sequence,
    };
    rewrite(batch, identity, RewriteOptions::default()).unwrap()
}

fn whole(batch: &RecordBatch) -> RewrittenBatch {
    RewrittenBatch::from_batch_bytes(batch.as_bytes().clone()).unwrap()
}

/// Three topics (one of them without partitions), batches rewritten and sent whole, plain
/// and compressed, idempotent and transactional at the source.
fn sample_topics() -> Vec<ProduceTopic> {
    let part = |partition, batch| ProducePartition { partition, batch };
    vec![
        ProduceTopic {
            name: "orders".into(),
            partitions: vec![
                part(0, rewritten(&data_batch(100, 5, 64, Compression::None), 4000, 0)),
                part(2, whole(&data_batch(0, 20, 300, Compression::Lz4))),
                part(7, rewritten(&data_batch(9, 3, 10, Compression::Zstd), 4000, 12)),
            ],
        },
        ProduceTopic {
            name: "empty".into(),
            partitions: Vec::new(),
        },
        ProduceTopic {
            name: "src.payments-eu_2".into(),
            partitions: vec![part(
                1,
                rewritten(&producer_batch(50, 4, 77, 3, batch::TRANSACTIONAL_BIT), 4000, 5),
            )],
        },
    ]
}

/// The same request built with the kafka-protocol crate, which copies each batch.
fn reference_frame(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    acks: i16,
    timeout_ms: i32,
    topics: &[ProduceTopic],
) -> Bytes {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(
            topics
                .iter()
                .map(|t| {
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                        .with_partition_data(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    PartitionProduceData::default()
                                        .with_index(p.partition)
                                        .with_records(Some(p.batch.to_contiguous()))
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let mut buf = BytesMut::new();
    encode_request(&mut buf, &request, version, correlation_id, client_id).unwrap();
    buf.freeze()
}

/// Checks prefix, header and body of an encoded frame field by field.
fn check_decodes(
    chunks: &[Bytes],
    version: i16,
    correlation_id: i32,
    client_id: &str,
    acks: i16,
    timeout_ms: i32,
    topics: &[ProduceTopic],
) {
    let mut frame = concat(chunks);
    let len = frame.get_i32();
    assert_eq!(
        usize::try_from(len).unwrap(),
        frame.len(),
        "v{version}: length prefix"
    );

    let header = decode_request_header_from_buffer(&mut frame).unwrap();
    assert_eq!(header.request_api_key, ApiKey::Produce as i16);
    assert_eq!(header.request_api_version, version);
    assert_eq!(header.correlation_id, correlation_id);
    assert_eq!(header.client_id.as_deref(), Some(client_id));

    let body = ProduceRequest::decode(&mut frame, version).unwrap();
    assert!(!frame.has_remaining(), "v{version}: trailing bytes");
    assert_eq!(body.transactional_id, None);
    assert_eq!((body.acks, body.timeout_ms), (acks, timeout_ms));
    assert_eq!(body.topic_data.len(), topics.len());
    for (got, want) in body.topic_data.iter().zip(topics) {
        assert_eq!(got.name.0.as_str(), want.name);
        assert_eq!(got.partition_data.len(), want.partitions.len());
        for (gp, wp) in got.partition_data.iter().zip(&want.partitions) {
            assert_eq!(gp.index, wp.partition);
            assert_eq!(gp.records.as_ref(), Some(&wp.batch.to_contiguous()));
            assert!(gp.unknown_tagged_fields.is_empty());
        }
        assert!(got.unknown_tagged_fields.is_empty());
    }
    assert!(body.unknown_tagged_fields.is_empty());
}

/// Each batch appears as its own header chunk followed by its records chunk, both the
/// caller's allocations, and everything else is a little framing.
fn check_no_copies(chunks: &[Bytes], client_id: &str, topics: &[ProduceTopic]) {
    let batches: Vec<&RewrittenBatch> = topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| &p.batch)
        .collect();
    for b in &batches {
        let i = chunks
            .iter()
            .position(|c| c.as_ptr() == b.records().as_ptr() && c.len() == b.records().len())
            .expect("records passed as their own chunk");
        assert!(i > 0);
        assert_eq!(chunks[i - 1].as_ptr(), b.header().as_ptr());
        assert_eq!(chunks[i - 1].len(), batch::HEADER_LEN);
    }
    assert!(chunks.iter().all(|c| !c.is_empty()));
    let batch_bytes: usize = batches.iter().map(|b| b.len()).sum();
    let framing = chunks.iter().map(Bytes::len).sum::<usize>() - batch_bytes;
    let names: usize = topics.iter().map(|t| t.name.len()).sum();
    assert!(framing < 64 + client_id.len() + names + 16 * (topics.len() + batches.len()));
}

#[test]
fn supports_the_produce_versions_kmirror_negotiates() {
    let produce = SUPPORTED
        .iter()
        .find(|(api, _, _)| *api == ApiKey::Produce)
        .unwrap();
    assert_eq!((produce.1, produce.2), (MIN_VERSION, MAX_VERSION));
}

#[test]
fn every_version_encodes_what_the_crate_decodes_without_copying_batches() {
    let topics = sample_topics();
    for version in MIN_VERSION..=MAX_VERSION {
        let chunks = encode_produce_request(
            version,
            41 + i32::from(version),
            "kmirror-test",
            -1,
            30_000,
            &topics,
        )
        .unwrap();
        check_decodes(
            &chunks,
            version,
            41 + i32::from(version),
            "kmirror-test",
            -1,
            30_000,
            &topics,
        );
        check_no_copies(&chunks, "kmirror-test", &topics);
        assert_eq!(
            concat(&chunks),
            reference_frame(
                version,
                41 + i32::from(version),
                "kmirror-test",
                -1,
                30_000,
                &topics
            ),
            "v{version}: same bytes as the kafka-protocol encoder"
        );
    }
}

#[test]
fn empty_topic_list_and_empty_client_id() {
    for version in MIN_VERSION..=MAX_VERSION {
        let chunks = encode_produce_request(version, 0, "", 1, 0, &[]).unwrap();
        // Without batches the whole frame is one chunk.
        assert_eq!(chunks.len(), 1);
        check_decodes(&chunks, version, 0, "", 1, 0, &[]);
        assert_eq!(concat(&chunks), reference_frame(version, 0, "", 1, 0, &[]));
        let body_len = if version >= FIRST_FLEXIBLE {
            1 + 2 + 4 + 1 + 1
        } else {
            2 + 2 + 4 + 4
        };
        let header_len = 2 + 2 + 4 + 2 + usize::from(version >= FIRST_FLEXIBLE);
        assert_eq!(chunks[0].len(), PREFIX_LEN + header_len + body_len, "v{version}");
    }
}

#[test]
fn rejects_what_cannot_be_encoded() {
    let topics = sample_topics();
    for version in [-1, 0, 2, 13, 14] {
        assert!(matches!(
            encode_produce_request(version, 1, "kmirror", -1, 1000, &topics),
            Err(CodecError::Encode {
                api: ApiKey::Produce,
                ..
            })
        ));
    }
    let long = "t".repeat(usize::from(i16::MAX.unsigned_abs()) + 1);
    let too_long_name = [ProduceTopic {
        name: long.clone(),
        partitions: Vec::new(),
    }];
    for version in [8, 9] {
        assert!(encode_produce_request(version, 1, "kmirror", -1, 1000, &too_long_name).is_err());
        assert!(encode_produce_request(version, 1, &long, -1, 1000, &[]).is_err());
        let longest = [ProduceTopic {
            name: long[1..].to_owned(),
            partitions: Vec::new(),
        }];
        assert!(encode_produce_request(version, 1, "kmirror", -1, 1000, &longest).is_ok());
    }
}

#[test]
fn refuses_a_frame_beyond_i32_max() {
    // Over 2 GiB on the wire made of references to one 1 MiB batch: nothing is copied here.
    let batch = whole(&data_batch(0, 1024, 1024, Compression::None));
    let max = usize::try_from(i32::MAX).unwrap();
    let topic = |n: usize| {
        [ProduceTopic {
            name: "big".into(),
            partitions: (0..n)
                .map(|i| ProducePartition {
                    partition: i32::try_from(i).unwrap(),
                    batch: batch.clone(),
                })
                .collect(),
        }]
    };
    for version in [8, 12] {
        let err = encode_produce_request(version, 1, "kmirror", -1, 1000, &topic(max / batch.len() + 1))
            .unwrap_err();
        assert!(err.to_string().contains("exceeds the largest frame"), "{err}");
        // 64 bytes per batch is more than its partition entry's framing.
        let chunks =
            encode_produce_request(version, 1, "kmirror", -1, 1000, &topic(max / (batch.len() + 64)))
                .unwrap();
        let total: usize = chunks.iter().map(Bytes::len).sum();
        assert!(total > 1 << 30);
        assert_eq!(&chunks[0][..4], &i32::try_from(total - 4).unwrap().to_be_bytes());
    }
}

#[test]
fn from_batch_bytes_slices_the_batch_it_is_given() {
    let src = data_batch(10, 7, 50, Compression::Snappy);
    let bytes = src.as_bytes().clone();
    let b = RewrittenBatch::from_batch_bytes(bytes.clone()).unwrap();
    assert_eq!(b.header().as_ptr(), bytes.as_ptr());
    assert_eq!(b.header().len(), batch::HEADER_LEN);
    assert_eq!(b.records().as_ptr(), bytes[batch::HEADER_LEN..].as_ptr());
    assert_eq!(b.to_contiguous(), bytes);

    assert!(RewrittenBatch::from_batch_bytes(bytes.slice(..bytes.len() - 1)).is_err());
    assert!(RewrittenBatch::from_batch_bytes(bytes.slice(..40)).is_err());
    assert!(RewrittenBatch::from_batch_bytes(Bytes::new()).is_err());
    let mut two = BytesMut::from(&bytes[..]);
    two.put_slice(&bytes);
    assert!(RewrittenBatch::from_batch_bytes(two.freeze()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_the_crate_encoder_for_any_layout(
        version in MIN_VERSION..=MAX_VERSION,
        correlation_id in any::<i32>(),
        client_id in "[a-z0-9.-]{0,40}",
        acks in prop_oneof![Just(-1i16), Just(0), Just(1)],
        timeout_ms in any::<i32>(),
        layout in proptest::collection::vec(
            ("[a-zA-Z0-9._-]{1,60}", proptest::collection::vec((0..1000i32, 0..3usize), 0..6)),
            0..5,
        ),
    ) {
        let pool = [
            whole(&data_batch(0, 1, 0, Compression::None)),
            rewritten(&data_batch(5, 30, 200, Compression::Gzip), 9, 0),
            whole(&data_batch(3, 130, 1000, Compression::None)),
        ];
        let topics: Vec<ProduceTopic> = layout
            .into_iter()
            .map(|(name, parts)| ProduceTopic {
                name,
                partitions: parts
                    .into_iter()
                    .map(|(partition, b)| ProducePartition { partition, batch: pool[b].clone() })
                    .collect(),
            })
            .collect();
        let chunks =
            encode_produce_request(version, correlation_id, &client_id, acks, timeout_ms, &topics).unwrap();
        check_no_copies(&chunks, &client_id, &topics);
        prop_assert_eq!(
            concat(&chunks),
            reference_frame(version, correlation_id, &client_id, acks, timeout_ms, &topics)
        );
    }
}

/// Sends chained frames to the fake broker (which validates produce requests as Kafka does)
/// at the negotiated version and then at every other version, with an idempotent producer
/// whose sequences advance per partition.
#[tokio::test]
async fn the_fake_broker_appends_what_is_sent() {
    let broker = FakeBroker::start().await;
    broker.create_topic("orders", 3);
    broker.create_topic("audit", 1);
    let conn = Connection::connect(&broker.addr(), &ClientConfig::default())
        .await
        .unwrap();
    let negotiated = conn.version(ApiKey::Produce).unwrap();
    assert_eq!(negotiated, MAX_VERSION);

    let targets = [("orders", 0), ("orders", 1), ("orders", 2), ("audit", 0)];
    let producer_id = 7000;
    let mut sequences = [0i32; 4];
    let mut expected: Vec<Vec<(i64, RewrittenBatch)>> = vec![Vec::new(); 4];
    let mut next_offsets = [0i64; 4];
    let versions = std::iter::once(negotiated).chain(MIN_VERSION..MAX_VERSION);
    for (round, version) in versions.enumerate() {
        let mut topics: Vec<ProduceTopic> = Vec::new();
        for (i, (topic, partition)) in targets.iter().enumerate() {
            let count = 1 + (round + i) % 4;
            let codec = [Compression::None, Compression::Lz4, Compression::Gzip][(round + i) % 3];
            let source = data_batch(1000 * round as i64, count, 100 + 10 * i, codec);
            let batch = if (round + i) % 2 == 0 {
                rewritten(&source, producer_id, sequences[i])
            } else {
                // Sent whole: no producer id, so no sequence to advance.
                whole(&source)
            };
            if (round + i) % 2 == 0 {
                sequences[i] += count as i32;
            }
            expected[i].push((next_offsets[i], batch.clone()));
            next_offsets[i] += count as i64;
            let entry = ProducePartition {
                partition: *partition,
                batch,
            };
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partitions.push(entry),
                None => topics.push(ProduceTopic {
                    name: (*topic).to_owned(),
                    partitions: vec![entry],
                }),
            }
        }

        let (correlation_id, frame) = conn
            .request_raw(ApiKey::Produce, |id| {
                encode_produce_request(version, id, conn.client_id(), -1, 5_000, &topics)
            })
            .await
            .unwrap();
        let response = decode_response::<ProduceRequest>(frame, version, correlation_id).unwrap();
        assert_eq!(response.responses.len(), 2, "v{version}");
        for t in &response.responses {
            for p in &t.partition_responses {
                let i = targets
                    .iter()
                    .position(|(name, idx)| t.name.0.as_str() == *name && p.index == *idx)
                    .unwrap();
                assert_eq!(p.error_code, 0, "v{version} {}-{}", t.name.0.as_str(), p.index);
                assert_eq!(p.base_offset, expected[i].last().unwrap().0, "v{version}");
            }
        }
    }

    for (i, (topic, partition)) in targets.iter().enumerate() {
        let log = broker.log(topic, *partition);
        assert_eq!(log.len(), expected[i].len());
        for (stored, (base_offset, sent)) in log.iter().zip(&expected[i]) {
            assert_eq!(stored.base_offset, *base_offset);
            // The broker assigns the base offset; every other byte is what was sent.
            assert_eq!(stored.bytes[8..], sent.to_contiguous()[8..]);
        }
    }
}
