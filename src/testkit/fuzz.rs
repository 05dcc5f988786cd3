//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test that
//! runs on stable. Each takes arbitrary bytes, must never panic, and checks the invariants
//! that hold whatever the input.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request};

use crate::cluster::partition::AbortedTransaction;
use crate::config;
use crate::offsets::{self, Entry, FileStore, OffsetStore, OffsetsError, PartitionKey};
use crate::protocol::batch::{BatchIter, BatchKind, CRC_START, HEADER_LEN, LOG_OVERHEAD, RecordBatch};
use crate::protocol::codec::decode_response;
use crate::protocol::frame;
use crate::protocol::records::{Record, decode_records, decode_records_bounded};
use crate::protocol::renumber::renumber;
use crate::protocol::rewrite::{ProducerIdentity, RewriteOptions, rewrite};
use crate::replication::classify::{AbortedFilter, Action, SkipReason, classify};

pub use super::fuzz_groups::group_responses;

/// Fuzz target names, as directories under `fuzz/seeds/` and `fuzz/corpus/`.
pub const TARGETS: &[&str] = &[
    "frame_split",
    "response_decode",
    "batch_rewrite",
    "offsets_log",
    "renumber_batch",
    "config_parse",
    "http_request",
    "metrics_text",
    "bench_verify",
    "scram_server",
    "jaas_parse",
    "mm2_records",
    "group_responses",
    "restamp_batch",
    "mm2_state",
    "keystore_read",
    "oauth_response",
];

/// The decompression limit of the `renumber_batch` target: small, so that inputs which
/// inflate are refused quickly.
const RENUMBER_LIMIT: usize = 1 << 16;

/// Runs the entry point of `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "frame_split" => frame_split(data),
        "response_decode" => response_decode(data),
        "batch_rewrite" => batch_rewrite(data),
        "offsets_log" => offsets_log(data),
        "renumber_batch" => renumber_batch(data),
        "config_parse" => config_parse(data),
        "http_request" => http_request(data),
        "metrics_text" => metrics_text(data),
        "bench_verify" => bench_verify(data),
        "scram_server" => super::fuzz_security::scram_server(data),
        "jaas_parse" => super::fuzz_security::jaas_parse(data),
        "mm2_records" => mm2_records(data),
        "group_responses" => group_responses(data),
        "restamp_batch" => super::fuzz_timestamps::restamp_batch(data),
        "mm2_state" => mm2_state(data),
        "keystore_read" => super::fuzz_keystore::keystore_read(data),
        "oauth_response" => super::fuzz_oauth::oauth_response(data),
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
    if let Some(fixed) = fixed_up(data) {
        check_blob(fixed);
    }
}

/// The input as a single v2 batch: length, magic and CRC set to match the bytes.
fn fixed_up(data: &[u8]) -> Option<Bytes> {
    if data.len() < HEADER_LEN {
        return None;
    }
    let mut fixed = BytesMut::from(data);
    let len = i32::try_from(fixed.len() - LOG_OVERHEAD).ok()?;
    fixed[8..12].copy_from_slice(&len.to_be_bytes());
    fixed[16] = 2;
    let crc = crc32c::crc32c(&fixed[CRC_START..]);
    fixed[17..21].copy_from_slice(&crc.to_be_bytes());
    Some(fixed.freeze())
}

/// Classifies and renumbers. The input is walked as a records blob (every batch through one
/// read_committed filter, as the fetch loop does) and, with its length, magic and CRC fixed up,
/// as a single batch, so that the fuzzer reaches the decompressors and the record decoder.
pub fn renumber_batch(data: &[u8]) {
    let mut filter = AbortedFilter::new(&[
        AbortedTransaction {
            producer_id: 1,
            first_offset: 0,
        },
        AbortedTransaction {
            producer_id: 7,
            first_offset: 100,
        },
    ]);
    for batch in BatchIter::new(Bytes::copy_from_slice(data)).flatten() {
        check_renumber(&batch, &mut filter);
    }
    let Some(batch) = fixed_up(data).and_then(|b| RecordBatch::try_from_bytes(b).ok()) else {
        return;
    };
    // Once with the batch's own producer aborted from its first offset, once with no
    // aborted transactions.
    let mut filter = AbortedFilter::new(&[AbortedTransaction {
        producer_id: batch.producer_id(),
        first_offset: batch.base_offset(),
    }]);
    check_renumber(&batch, &mut filter);
    check_renumber(&batch, &mut AbortedFilter::new(&[]));
}

fn check_renumber(batch: &RecordBatch, filter: &mut AbortedFilter) {
    let action = classify(batch, batch.base_offset(), filter);
    match action {
        Action::Forward => assert_eq!(batch.kind(), BatchKind::Data),
        Action::Renumber => assert_eq!(batch.kind(), BatchKind::Gapped),
        Action::Skip(SkipReason::Control) => assert!(batch.is_control()),
        Action::Skip(SkipReason::Empty) => assert_eq!(batch.kind(), BatchKind::Empty),
        Action::Skip(SkipReason::Aborted) => assert!(batch.is_transactional() && !batch.is_control()),
        Action::Skip(SkipReason::BeforeFetchOffset) => {
            unreachable!("fetching from the batch's own base offset")
        }
    }
    let Ok(out) = renumber(batch, RENUMBER_LIMIT) else {
        return;
    };
    let new = RecordBatch::try_from_bytes(out).expect("a renumbered batch frames as one batch");
    assert!(new.verify_crc().is_ok(), "a renumbered batch has a valid CRC");
    assert_eq!(new.kind(), BatchKind::Data);
    assert_eq!(
        (new.base_offset(), new.record_count(), new.compression()),
        (batch.base_offset(), batch.record_count(), batch.compression())
    );
    assert_eq!(
        &new.as_bytes()[21..23],
        &batch.as_bytes()[21..23],
        "attributes kept"
    );
    assert_eq!(
        &new.as_bytes()[27..61],
        &batch.as_bytes()[27..61],
        "timestamps and producer kept"
    );
    let before = decode_records_bounded(batch, RENUMBER_LIMIT).expect("renumber decoded these records");
    // Re-encoded offset deltas and varints may take a few more bytes than the source's: the
    // output is kmirror's own, so no limit is needed.
    let after = decode_records(&new).expect("a renumbered batch decodes");
    let expected: Vec<Record> = before
        .into_iter()
        .zip(0..)
        .map(|(r, offset_delta)| Record { offset_delta, ..r })
        .collect();
    assert_eq!(after, expected, "records kept but for their offset deltas");
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

/// Decodes the input as an offsets log, and again with the header and every frame's CRC
/// fixed up so that the fuzzer reaches the record decoder and the replay. Whatever decodes
/// re-encodes (as compaction writes it) to a log that decodes to the same states.
pub fn offsets_log(data: &[u8]) {
    check_offsets_log(data);
    check_offsets_log(&fix_offsets_log(data));
}

/// The history bound for fuzzing: small, so that trimming is reached.
const FUZZ_MAX_HISTORY: usize = 8;

fn check_offsets_log(data: &[u8]) {
    let Ok(log) = offsets::decode_log(data, FUZZ_MAX_HISTORY) else {
        return;
    };
    let torn = log.torn.as_ref().map_or(0, |t| t.len);
    assert_eq!(
        log.valid_len + torn,
        data.len(),
        "valid bytes and torn tail cover the input"
    );
    let bytes = offsets::encode_states(&log.states).expect("decoded names fit the format");
    let again = offsets::decode_log(&bytes, FUZZ_MAX_HISTORY).expect("re-encoded states decode");
    assert_eq!(again.states, log.states);
    assert_eq!((again.valid_len, again.torn), (bytes.len(), None));
}

fn fix_offsets_log(data: &[u8]) -> Vec<u8> {
    let header = offsets::encode_states(&Default::default()).expect("an empty log encodes");
    let mut out = data.to_vec();
    if out.len() < header.len() {
        return out;
    }
    out[..header.len()].copy_from_slice(&header);
    let mut pos = header.len();
    while let Some(head) = out.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(end) = (pos + 8).checked_add(len).filter(|end| *end <= out.len()) else {
            break;
        };
        let crc = crc32c::crc32c(&out[pos + 8..end]);
        out[pos + 4..pos + 8].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
    out
}

/// Logs written by a `FileStore` in a scratch directory: the entries as appended, and the
/// log after a compaction and a few more entries.
fn file_store_logs(dir: &std::path::Path) -> Result<(Vec<u8>, Vec<u8>), OffsetsError> {
    let read = |store: &FileStore| {
        std::fs::read(store.path()).map_err(|e| OffsetsError::Io {
            path: store.path().to_owned(),
            action: "reading",
            source: e,
        })
    };
    let orders = |p| PartitionKey::new("A->B", "orders", p);
    let payments = PartitionKey::new("B->A", "A.payments", 2);
    let forwarded = |source_base, source_next, target_base, record_count| Entry::Forwarded {
        source_base,
        source_next,
        target_base,
        record_count,
    };
    let mut store = FileStore::open(dir)?;
    let _ = store.load()?;
    let entries = [
        (
            orders(0),
            Entry::Baseline {
                source_offset: 0,
                target_end: 0,
            },
        ),
        (
            orders(1),
            Entry::Baseline {
                source_offset: 120,
                target_end: 35,
            },
        ),
        (
            payments.clone(),
            Entry::Baseline {
                source_offset: 7,
                target_end: 0,
            },
        ),
        (
            orders(0),
            Entry::Producer(offsets::ProducerMark {
                producer_id: 4000,
                producer_epoch: 0,
                first_sequence: 0,
                first_target_offset: 0,
            }),
        ),
        (orders(0), forwarded(0, 5, 0, 5)),
        (orders(0), forwarded(5, 9, 5, 4)),
        // A transaction marker, then a compacted batch.
        (orders(0), Entry::Skipped { source_next: 10 }),
        (orders(1), forwarded(120, 130, 35, 6)),
        (payments.clone(), forwarded(5, 12, 0, 7)),
        (orders(0), forwarded(10, 12, 9, 2)),
        (orders(1), Entry::Skipped { source_next: 131 }),
    ];
    for (key, entry) in &entries {
        store.append(key, entry)?;
    }
    store.sync()?;
    let appended = read(&store)?;
    store.compact()?;
    store.append(&orders(0), &forwarded(12, 20, 11, 8))?;
    store.append(&payments, &Entry::Skipped { source_next: 14 })?;
    store.sync()?;
    Ok((appended, read(&store)?))
}

fn offsets_log_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kmirror-offsets-seeds-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let logs = file_store_logs(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let (appended, compacted) = logs.expect("a FileStore in a scratch directory");
    let mut torn = appended.clone();
    torn.truncate(appended.len() - 7);
    let mut corrupt = appended.clone();
    corrupt[40] ^= 0x10;
    vec![
        ("offsets_log", "file_store_entries".to_owned(), appended),
        ("offsets_log", "file_store_compacted".to_owned(), compacted),
        ("offsets_log", "torn_tail".to_owned(), torn),
        ("offsets_log", "corrupt_middle".to_owned(), corrupt),
    ]
}

/// The request line of the observability endpoint: a route or `None`, never a panic, and a
/// route only for a GET.
pub fn http_request(data: &[u8]) {
    if crate::observe::parse_request(data).is_some() {
        assert!(data.starts_with(b"GET "));
    }
}

/// The Prometheus text `kmirror status` reads: samples or nothing, never a panic; the summary
/// of whatever parsed has no negative lag or rate.
pub fn metrics_text(data: &[u8]) {
    use crate::observe::status::{parse_samples, render, stopped_partitions, summarize};
    let samples = parse_samples(&String::from_utf8_lossy(data));
    let flows = summarize(&samples, &samples, 1.0);
    for f in &flows {
        assert!(f.lag_records >= 0.0 && f.records_per_second >= 0.0);
        assert!(f.stopped <= f.partitions);
    }
    let stopped = stopped_partitions(&samples);
    assert!(stopped.iter().all(|s| s.offset.is_none_or(|o| o >= 0)));
    let _ = render(&flows, &stopped);
}

/// The e2e verifier on records read from a target: lines `key value`, alternately on two
/// partitions, against three records sent per key to keys 0 and 1. Counts stay consistent.
pub fn bench_verify(data: &[u8]) {
    use crate::bench::verify::{Received, verify};
    let mut partitions = vec![Vec::new(), Vec::new()];
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        let (key, value) = match line.iter().position(|b| *b == b' ') {
            Some(at) => (Some(line[..at].to_vec()), Some(line[at + 1..].to_vec())),
            None => (None, Some(line.to_vec())),
        };
        partitions[i % 2].push(Received {
            key,
            value,
            received_micros: i as i64,
        });
    }
    let v = verify(&[3, 3], &partitions);
    let total: u64 = partitions.iter().map(|p| p.len() as u64).sum();
    assert_eq!(v.received, total);
    assert!(v.lost <= v.sent && v.duplicates + v.unexpected <= v.received);
    assert_eq!(
        v.passed(),
        v.lost == 0 && v.duplicates == 0 && v.reordered == 0 && v.unexpected == 0
    );
}

/// MM2 internal records from untrusted bytes: byte 0 picks the type (offset sync, checkpoint,
/// heartbeat), byte 1 is the key length, the rest is key then value. Decoding gives a record
/// or a typed error; a decoded record re-encodes to a prefix of the input (readers ignore
/// trailing bytes) and decodes to itself again.
pub fn mm2_records(data: &[u8]) {
    use crate::protocol::mm2::{Checkpoint, Heartbeat, Mm2Record, OffsetSync};
    fn check<R: Mm2Record + PartialEq + std::fmt::Debug>(key: &[u8], value: &[u8]) {
        let Ok(record) = R::decode(key, value) else {
            return;
        };
        let k = record.encode_key().expect("a decoded key re-encodes");
        let v = record.encode_value().expect("a decoded value re-encodes");
        assert!(key.starts_with(&k) && value.starts_with(&v));
        assert_eq!(R::decode(&k, &v).expect("re-encoded bytes decode"), record);
    }
    let [kind, key_len, rest @ ..] = data else {
        return;
    };
    let (key, value) = rest.split_at(usize::from(*key_len).min(rest.len()));
    match kind % 3 {
        0 => check::<OffsetSync>(key, value),
        1 => check::<Checkpoint>(key, value),
        _ => check::<Heartbeat>(key, value),
    }
}

/// What `kmirror takeover --from-mm2` and `kmirror bench verify` read from outside. Byte 0
/// picks: 0 and 1, a record of MM2's Connect offsets topic (byte 1 the key length, the rest key
/// then value; 1 has a null value); 2, the verifier's sent and received files. Decoding
/// never panics, a null value only ever clears, and parsed files have one entry per non-blank
/// line.
pub fn mm2_state(data: &[u8]) {
    use crate::bench::verify_files::{parse_received, parse_sent};
    use crate::takeover::connect_offsets::{OffsetRecord, decode};
    let [kind, key_len, rest @ ..] = data else {
        return;
    };
    match kind % 3 {
        k @ (0 | 1) => {
            let (key, value) = rest.split_at(usize::from(*key_len).min(rest.len()));
            let value = (k == 0).then_some(value);
            if let Ok(Some(record)) = decode(key, value, "source") {
                assert!(value.is_some() || matches!(record, OffsetRecord::Cleared(_)));
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
            if let Ok(counts) = parse_sent(&text) {
                assert_eq!(counts.len(), lines);
            }
            if let Ok(received) = parse_received(&text) {
                assert_eq!(received.len(), lines);
            }
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

pub(super) fn response_frame<R: Encodable + HeaderVersion>(api: u8, version: i16, body: &R) -> Vec<u8> {
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
    use crate::protocol::batch::{CONTROL_BIT, Compression, TRANSACTIONAL_BIT};
    use crate::protocol::records::{BatchSpec, encode_batch};

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

    let gapped = |compression| {
        let (mut records, max_timestamp) = super::batches::records(6, 40, 1_700_000_000_000);
        for (r, delta) in records.iter_mut().zip([0, 1, 4, 5, 9, 12]) {
            r.offset_delta = delta;
        }
        let spec = BatchSpec {
            base_offset: 100,
            compression,
            base_timestamp: 1_700_000_000_000,
            max_timestamp,
            last_offset_delta: Some(14),
            ..BatchSpec::default()
        };
        encode_batch(&spec, &records).expect("encodable").to_vec()
    };
    out.push((
        "renumber_batch",
        "gapped_lz4".to_owned(),
        gapped(Compression::Lz4),
    ));
    out.push((
        "renumber_batch",
        "gapped_snappy".to_owned(),
        gapped(Compression::Snappy),
    ));
    let abort_marker = Record {
        key: Some(Bytes::from_static(&[0, 0, 0, 0])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 5])),
        ..Record::default()
    };
    let spec = BatchSpec {
        base_offset: 14,
        attributes: CONTROL_BIT | TRANSACTIONAL_BIT,
        producer_id: 42,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchSpec::default()
    };
    out.push((
        "renumber_batch",
        "abort_marker".to_owned(),
        encode_batch(&spec, &[abort_marker]).expect("encodable").to_vec(),
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
    out.extend(offsets_log_seeds());
    out.extend(super::fuzz_security::seeds());
    out.extend(super::fuzz_oauth::seeds());
    out.extend(mm2_seeds());
    out.extend(super::fuzz_groups::group_seeds());
    out.extend(super::fuzz_timestamps::seeds());
    out
}

/// One well-formed input per MM2 record type, in the `mm2_records` layout.
fn mm2_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use crate::protocol::mm2::{Checkpoint, Heartbeat, Mm2Record, OffsetSync};
    fn seed<R: Mm2Record>(kind: u8, record: &R) -> (&'static str, String, Vec<u8>) {
        let key = record.encode_key().expect("seed key");
        let mut out = vec![kind, key.len() as u8];
        out.extend_from_slice(&key);
        out.extend_from_slice(&record.encode_value().expect("seed value"));
        ("mm2_records", R::NAME.to_lowercase(), out)
    }
    vec![
        seed(
            0,
            &OffsetSync {
                topic: "orders".to_owned(),
                partition: 3,
                upstream_offset: 1000,
                downstream_offset: 990,
            },
        ),
        seed(
            1,
            &Checkpoint {
                group: "g1".to_owned(),
                topic: "A.orders".to_owned(),
                partition: 3,
                upstream_offset: 1000,
                downstream_offset: 991,
                metadata: "meta".to_owned(),
            },
        ),
        seed(
            2,
            &Heartbeat {
                source_alias: "A".to_owned(),
                target_alias: "B".to_owned(),
                timestamp: 1_700_000_000_000,
            },
        ),
    ]
}
