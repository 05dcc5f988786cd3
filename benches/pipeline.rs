//! The forwarding path from a fetched response to produce requests ready for the socket:
//! decode a Fetch response (records stay slices of the frame), frame each partition's records
//! into batches, rewrite each batch header for an idempotent producer (CRC over untouched
//! records), group one batch per partition per request and encode the requests as chained
//! slices. Throughput counts record batch bytes. The response holds 16 partitions of about
//! 1 MiB each (the default partition fetch limit) of 1 KiB records.
//!
//! A second group compares the Produce encoding alone: kmirror's chained slices against the
//! kafka-protocol encoder, which copies every batch into the request buffer.
//!
//! `cargo bench --features testkit --bench pipeline`

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProduceRequest, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use kmirror::protocol::batch::{BatchIter, Compression, RecordBatch};
use kmirror::protocol::codec;
use kmirror::protocol::produce::{ProducePartition, ProduceTopic, encode_produce_request};
use kmirror::protocol::records::{BatchSpec, Record, encode_batch};
use kmirror::protocol::rewrite::{ProducerIdentity, RewriteOptions, RewrittenBatch, rewrite};
use kmirror::testkit::batches::blob;

/// The highest versions kmirror negotiates.
const FETCH_VERSION: i16 = 11;
const PRODUCE_VERSION: i16 = 12;
const TOPICS: usize = 2;
const PARTITIONS_PER_TOPIC: i32 = 8;
/// A partition's share of the response: the default `max.partition.fetch.bytes`.
const PARTITION_BYTES: usize = 1 << 20;
const RECORD: usize = 1024;
const CORRELATION_ID: i32 = 1;
const CLIENT_ID: &str = "kmirror-bench";

/// A 1 KiB JSON-like value: field names and some values from a small vocabulary, ids and
/// amounts random, so that lz4 compresses it about as much as typical event data (2-3x)
/// rather than the orders of magnitude a repeating test pattern would give.
fn value(rng: &mut u64) -> Bytes {
    const WORDS: [&str; 8] = [
        "created", "paid", "shipped", "EUR", "USD", "web", "store", "mobile",
    ];
    let mut next = || {
        // xorshift64
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let mut v = String::with_capacity(RECORD + 64);
    let mut field = 0;
    while v.len() < RECORD - 40 {
        let r = next();
        if field % 2 == 0 {
            v.push_str(&format!("\"id_{field}\":\"{r:016x}\","));
        } else {
            v.push_str(&format!("\"state_{field}\":\"{}\",", WORDS[(r % 8) as usize]));
        }
        field += 1;
    }
    v.truncate(RECORD - 1);
    v.push('}');
    Bytes::from(v)
}

/// One partition's records: batches of `batch_bytes` of 1 KiB records (before compression)
/// until the blob holds about 1 MiB of batch bytes.
fn partition_blob(batch_bytes: usize, codec: Compression) -> Bytes {
    let per_batch = (batch_bytes / RECORD).max(1);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut batches = Vec::new();
    let (mut offset, mut total, mut raw) = (0i64, 0, 0);
    while total < PARTITION_BYTES {
        let records: Vec<Record> = (0..per_batch)
            .map(|i| Record {
                timestamp_delta: i as i64,
                offset_delta: i as i32,
                key: Some(Bytes::from(format!("customer-{}", offset + i as i64))),
                value: Some(value(&mut rng)),
                ..Record::default()
            })
            .collect();
        raw += records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, Bytes::len))
            .sum::<usize>();
        let spec = BatchSpec {
            base_offset: offset,
            compression: codec,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_000 + per_batch as i64 - 1,
            ..BatchSpec::default()
        };
        let b = RecordBatch::try_from_bytes(encode_batch(&spec, &records).expect("encodes")).expect("valid");
        offset = b.next_offset();
        total += b.len();
        batches.push(b);
    }
    eprintln!(
        "setup: {} batches of {per_batch} records per partition, {total} batch bytes for {raw} value bytes",
        batches.len()
    );
    blob(&batches)
}

/// A Fetch response frame (prefix stripped, header included) carrying the same records in
/// every partition, and the number of record batch bytes in it.
fn fetch_frame(batch_bytes: usize, codec: Compression) -> (Bytes, usize) {
    let records = partition_blob(batch_bytes, codec);
    let responses: Vec<FetchableTopicResponse> = (0..TOPICS)
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(format!("source.topic-{t}"))))
                .with_partitions(
                    (0..PARTITIONS_PER_TOPIC)
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p)
                                .with_high_watermark(1 << 40)
                                .with_last_stable_offset(1 << 40)
                                .with_records(Some(records.clone()))
                        })
                        .collect(),
                )
        })
        .collect();
    let response = FetchResponse::default().with_responses(responses);
    let mut frame = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(CORRELATION_ID)
        .encode(&mut frame, FetchResponse::header_version(FETCH_VERSION))
        .expect("header");
    response.encode(&mut frame, FETCH_VERSION).expect("response");
    let batch_bytes = records.len() * TOPICS * PARTITIONS_PER_TOPIC as usize;
    let frame = frame.freeze();

    // What is timed relies on decoding leaving the records as slices of the frame.
    let decoded = codec::decode_response::<FetchRequest>(frame.clone(), FETCH_VERSION, CORRELATION_ID)
        .expect("decodes");
    let inside = frame.as_ptr_range();
    for p in decoded.responses.iter().flat_map(|t| &t.partitions) {
        let r = p.records.as_ref().expect("records");
        assert!(inside.contains(&r.as_ptr()), "decoded records are a copy");
    }
    (frame, batch_bytes)
}

/// Decodes, frames and rewrites: per partition, its topic, index and rewritten batches.
fn fetch_and_rewrite(frame: &Bytes) -> Vec<(String, i32, Vec<RewrittenBatch>)> {
    let response = codec::decode_response::<FetchRequest>(frame.clone(), FETCH_VERSION, CORRELATION_ID)
        .expect("decodes");
    let mut partitions = Vec::new();
    for topic in &response.responses {
        for p in &topic.partitions {
            let Some(records) = &p.records else { continue };
            let mut sequence = 0i32;
            let mut out = Vec::new();
            for batch in BatchIter::new(records.clone()) {
                let batch = batch.expect("valid batch");
                let identity = ProducerIdentity {
                    producer_id: 4000,
                    producer_epoch: 0,
                    base_sequence: sequence,
                };
                // Sequences wrap to 0 after i32::MAX, as Kafka producers do.
                sequence = sequence.wrapping_add(batch.record_count()) & i32::MAX;
                out.push(rewrite(&batch, identity, RewriteOptions::default()).expect("rewrites"));
            }
            partitions.push((topic.topic.0.to_string(), p.partition_index, out));
        }
    }
    partitions
}

/// One batch per partition per request, as brokers require: request `i` takes the `i`-th
/// batch of every partition that has one.
fn group(partitions: Vec<(String, i32, Vec<RewrittenBatch>)>) -> Vec<Vec<ProduceTopic>> {
    let mut queues: Vec<_> = partitions
        .into_iter()
        .map(|(name, partition, batches)| (name, partition, batches.into_iter()))
        .collect();
    let mut requests = Vec::new();
    loop {
        let mut topics: Vec<ProduceTopic> = Vec::new();
        for (name, partition, batches) in &mut queues {
            let Some(batch) = batches.next() else { continue };
            let entry = ProducePartition {
                partition: *partition,
                batch,
            };
            match topics.last_mut() {
                Some(t) if t.name == *name => t.partitions.push(entry),
                _ => topics.push(ProduceTopic {
                    name: name.clone(),
                    partitions: vec![entry],
                }),
            }
        }
        if topics.is_empty() {
            return requests;
        }
        requests.push(topics);
    }
}

fn cases() -> Vec<(Compression, usize, String)> {
    let mut cases = Vec::new();
    for codec in [Compression::None, Compression::Lz4] {
        for (size, label) in [(16 << 10, "16KiB"), (256 << 10, "256KiB")] {
            cases.push((
                codec,
                size,
                format!("{}/{label}", format!("{codec:?}").to_lowercase()),
            ));
        }
    }
    cases
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("fetch_rewrite_produce");
    let _ = g.sample_size(20).measurement_time(Duration::from_secs(5));
    for (codec, size, label) in cases() {
        let (frame, batch_bytes) = fetch_frame(size, codec);
        let _ = g.throughput(Throughput::Bytes(batch_bytes as u64));
        let _ = g.bench_with_input(BenchmarkId::from_parameter(label), &frame, |b, frame| {
            b.iter(|| {
                let requests = group(fetch_and_rewrite(frame));
                for (i, topics) in requests.iter().enumerate() {
                    let chunks =
                        encode_produce_request(PRODUCE_VERSION, i as i32, CLIENT_ID, -1, 30_000, topics)
                            .expect("encodes");
                    let _ = black_box(chunks);
                }
                requests
            });
        });
    }
    g.finish();
}

/// The same requests for the kafka-protocol encoder, each batch as one contiguous `Bytes`.
fn crate_requests(requests: &[Vec<ProduceTopic>]) -> Vec<ProduceRequest> {
    requests
        .iter()
        .map(|topics| {
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
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
                )
        })
        .collect()
}

fn produce_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce_encode");
    let _ = g.sample_size(20).measurement_time(Duration::from_secs(5));
    for (codec, size, label) in cases() {
        let (frame, batch_bytes) = fetch_frame(size, codec);
        let requests = group(fetch_and_rewrite(&frame));
        let _ = g.throughput(Throughput::Bytes(batch_bytes as u64));
        let _ = g.bench_with_input(BenchmarkId::new("chained", &label), &requests, |b, requests| {
            b.iter(|| {
                for (i, topics) in requests.iter().enumerate() {
                    let chunks =
                        encode_produce_request(PRODUCE_VERSION, i as i32, CLIENT_ID, -1, 30_000, topics)
                            .expect("encodes");
                    let _ = black_box(chunks);
                }
            });
        });
        let crate_requests = crate_requests(&requests);
        let _ = g.bench_with_input(
            BenchmarkId::new("kafka_protocol", &label),
            &crate_requests,
            |b, requests| {
                b.iter(|| {
                    for (i, request) in requests.iter().enumerate() {
                        let size = request.compute_size(PRODUCE_VERSION).expect("sizes");
                        let mut buf = BytesMut::with_capacity(size + 64);
                        codec::encode_request(&mut buf, request, PRODUCE_VERSION, i as i32, CLIENT_ID)
                            .expect("encodes");
                        let _ = black_box(buf.freeze());
                    }
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, pipeline, produce_encode);
criterion_main!(benches);
