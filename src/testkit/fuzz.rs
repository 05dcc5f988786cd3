//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test that
//! runs on stable. Each takes arbitrary bytes, must never panic, and checks the invariants
//! that hold whatever the input.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request};

use crate::config;
use crate::protocol::batch::{BatchIter, CRC_START, HEADER_LEN, LOG_OVERHEAD, RecordBatch};
use crate::protocol::codec::decode_response;
use crate::protocol::frame;
use crate::protocol::records::decode_records;
use crate::protocol::rewrite::{ProducerIdentity, RewriteOptions, rewrite};

/// Fuzz target names, as directories under `fuzz/seeds/` and `fuzz/corpus/`.
pub const TARGETS: &[&str] = &["frame_split", "response_decode", "batch_rewrite", "config_parse"];

/// Runs the entry point of `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "frame_split" => frame_split(data),
        "response_decode" => response_decode(data),
        "batch_rewrite" => batch_rewrite(data),
        "config_parse" => config_parse(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// Splits a byte stream into frames: whole frames plus a remainder, or a typed error.
pub fn frame_split(data: &[u8]) {
    if let Ok((frames, rest)) = frame::split_all(data, 1 << 16) {
        let used: usize = frames.iter().map(|f| f.len() + frame::PREFIX_LEN).sum();
        assert_eq!(used + rest, data.len());
    }
}

/// The first byte picks a response type, the second its version; the rest is the frame.
pub fn response_decode(data: &[u8]) {
    let [api, version, rest @ ..] = data else { return };
    let frame = Bytes::copy_from_slice(rest);
    let version = i16::from(*version % 20);
    fn go<R: Request>(frame: Bytes, version: i16) {
        if R::VERSIONS.min <= version && version <= R::VERSIONS.max {
            let _ = decode_response::<R>(frame, version, 0);
        }
    }
    match api % 5 {
        0 => go::<FetchRequest>(frame.clone(), version),
        1 => go::<MetadataRequest>(frame, version),
        2 => go::<ProduceRequest>(frame, version),
        3 => go::<ListOffsetsRequest>(frame, version),
        _ => go::<ApiVersionsRequest>(frame, version),
    }
    if api % 5 == 0 && version >= 4 {
        // Whatever decodes, every partition's records must frame without panicking.
        if let Ok(r) = decode_response::<FetchRequest>(Bytes::copy_from_slice(rest), version, 0) {
            for p in r.responses.iter().flat_map(|t| &t.partitions) {
                for b in BatchIter::new(p.records.clone().unwrap_or_default()).flatten() {
                    let _ = (b.kind(), b.verify_crc());
                }
            }
        }
    }
}

/// Frames the input as a records blob and rewrites every batch. The input is also tried
/// as a single batch with its length, magic and CRC fixed up, so that the fuzzer reaches
/// the rewrite and the record decoder instead of stopping at the checksum.
pub fn batch_rewrite(data: &[u8]) {
    check_blob(Bytes::copy_from_slice(data));
    if data.len() >= HEADER_LEN {
        let mut fixed = BytesMut::from(data);
        let len = (fixed.len() - LOG_OVERHEAD) as i32;
        fixed[8..12].copy_from_slice(&len.to_be_bytes());
        fixed[16] = 2;
        let crc = crc32c::crc32c(&fixed[CRC_START..]);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        check_blob(fixed.freeze());
    }
}

fn check_blob(blob: Bytes) {
    for batch in BatchIter::new(blob).flatten() {
        let _ = (batch.kind(), batch.position(0), batch.next_offset());
        let identity = ProducerIdentity {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 3,
        };
        match rewrite(&batch, identity, RewriteOptions::default()) {
            Ok(out) => {
                let new = RecordBatch::try_from_bytes(out.to_contiguous()).expect("rewritten batch frames");
                assert!(new.verify_crc().is_ok(), "rewritten batch has a valid CRC");
                assert_eq!(new.records(), batch.records(), "payload untouched");
                // Decoding must agree before and after: the records did not change.
                assert_eq!(decode_records(&new).is_ok(), decode_records(&batch).is_ok());
            }
            Err(_) => assert!(
                batch.verify_crc().is_err(),
                "rewrite refuses only corrupt batches"
            ),
        }
    }
}

/// Runs both configuration front ends on the input: a configuration or a list of problems,
/// never a panic. The bytes go through the properties reader's own ISO-8859-1 decoding and,
/// lossily, through UTF-8 for TOML; any problem list must be non-empty and name the origin.
pub fn config_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for (result, origin) in [
        (
            config::from_properties_str(&text, "fuzz.properties"),
            "fuzz.properties",
        ),
        (
            config::from_properties_str(&config::decode_properties(data), "fuzz.properties"),
            "fuzz.properties",
        ),
        (config::from_toml_str(&text, "fuzz.toml"), "fuzz.toml"),
    ] {
        match result {
            Ok(c) => assert!(!c.flows.is_empty(), "a valid configuration has a flow"),
            Err(e) => {
                assert!(!e.problems.is_empty(), "an error names at least one problem");
                assert!(e.problems.iter().all(|p| p.starts_with(origin)), "{e}");
            }
        }
    }
}

fn response_frame<R: Encodable + HeaderVersion>(api: u8, version: i16, body: &R) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let header = ResponseHeader::default().with_correlation_id(0);
    header
        .encode(&mut buf, R::header_version(version))
        .expect("header");
    body.encode(&mut buf, version).expect("body");
    let mut out = vec![api, version as u8];
    out.extend_from_slice(&buf);
    out
}

/// Seed inputs for each target, built from well-formed data.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
    use kafka_protocol::messages::{BrokerId, FetchResponse, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use super::batches::{blob, data_batch, producer_batch};
    use crate::protocol::batch::{Compression, TRANSACTIONAL_BIT};

    let mut out = Vec::new();
    let batches = vec![
        data_batch(0, 3, 20, Compression::None),
        data_batch(3, 5, 100, Compression::Lz4),
        producer_batch(8, 2, 42, 0, TRANSACTIONAL_BIT),
        data_batch(10, 4, 50, Compression::Gzip),
    ];
    let records = blob(&batches);
    out.push(("batch_rewrite", "four_batches".to_owned(), records.to_vec()));
    out.push((
        "batch_rewrite",
        "cut_tail".to_owned(),
        records[..records.len() - 9].to_vec(),
    ));
    out.push((
        "batch_rewrite",
        "zstd".to_owned(),
        data_batch(0, 7, 30, Compression::Zstd).as_bytes().to_vec(),
    ));
    out.push((
        "batch_rewrite",
        "snappy".to_owned(),
        data_batch(0, 7, 30, Compression::Snappy).as_bytes().to_vec(),
    ));

    let mut frames = Vec::new();
    for f in [&b"abc"[..], b"", b"0123456789"] {
        frames.extend_from_slice(&(f.len() as i32).to_be_bytes());
        frames.extend_from_slice(f);
    }
    out.push(("frame_split", "three_frames".to_owned(), frames.clone()));
    frames.extend_from_slice(&[0, 0, 1]);
    out.push(("frame_split", "partial_prefix".to_owned(), frames));

    let fetch = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(vec![
                PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(14)
                    .with_records(Some(records)),
            ]),
    ]);
    for v in [4, 11, 12] {
        out.push((
            "response_decode",
            format!("fetch_v{v}"),
            response_frame(0, v, &fetch),
        ));
    }
    let metadata = MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(9092),
        ])
        .with_topics(vec![
            MetadataResponseTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("orders")))),
        ]);
    for v in [1, 9, 12] {
        out.push((
            "response_decode",
            format!("metadata_v{v}"),
            response_frame(1, v, &metadata),
        ));
    }
    out
}
