//! Fuzz target body for the append-time re-encoding of LogAppendTime batches
//! (`protocol::timestamps` through `renumber` and `trim`). Registered in [`super::fuzz`].

use bytes::{Bytes, BytesMut};

use crate::protocol::batch::{
    BatchIter, BatchKind, CRC_START, Compression, DELETE_HORIZON_BIT, HEADER_LEN, LOG_OVERHEAD, RecordBatch,
    TIMESTAMP_TYPE_BIT,
};
use crate::protocol::records::{BatchSpec, Record, decode_records, encode_batch};
use crate::protocol::renumber::{RenumberError, renumber_with_offsets};
use crate::protocol::timestamps::Timestamps;
use crate::protocol::trim::drop_records_before;

/// The decompression limit: small, so that inputs which inflate are refused quickly.
const LIMIT: usize = 1 << 16;

/// Walks the input as a records blob, and again as one batch with its length, magic and CRC
/// fixed up and the LogAppendTime bit set, so that the fuzzer reaches the record decoder and
/// the re-encoding. Whatever re-encodes is a valid CreateTime batch whose every record carries
/// the source's append time and is otherwise the record the source held.
pub fn restamp_batch(data: &[u8]) {
    for batch in BatchIter::new(Bytes::copy_from_slice(data)).flatten() {
        check(&batch);
    }
    if let Some(batch) = as_log_append_time(data) {
        check(&batch);
    }
}

fn as_log_append_time(data: &[u8]) -> Option<RecordBatch> {
    if data.len() < HEADER_LEN {
        return None;
    }
    let mut fixed = BytesMut::from(data);
    let len = i32::try_from(fixed.len() - LOG_OVERHEAD).ok()?;
    fixed[8..12].copy_from_slice(&len.to_be_bytes());
    fixed[16] = 2;
    fixed[22] |= TIMESTAMP_TYPE_BIT as u8;
    let crc = crc32c::crc32c(&fixed[CRC_START..]);
    fixed[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::try_from_bytes(fixed.freeze()).ok()
}

fn check(batch: &RecordBatch) {
    let kept = renumber_with_offsets(batch, LIMIT, Timestamps::Keep);
    let stamped = renumber_with_offsets(batch, LIMIT, Timestamps::AppendTime);
    let (out, offsets) = match (&kept, stamped) {
        (_, Ok(done)) => done,
        // Only the append time itself can fail where keeping the timestamps did not.
        (Ok(_), Err(e)) => {
            assert!(matches!(e, RenumberError::Timestamp { .. }), "{e}");
            return;
        }
        (Err(_), Err(_)) => return,
    };
    let (kept, kept_offsets) = kept.expect("keeping the timestamps cannot fail where stamping did not");
    assert_eq!(offsets, kept_offsets, "the same records");
    let new = RecordBatch::try_from_bytes(out).expect("a re-encoded batch frames as one batch");
    assert!(new.verify_crc().is_ok(), "a re-encoded batch has a valid CRC");
    assert_eq!(new.kind(), BatchKind::Data);
    assert_eq!(
        i64::from(new.last_offset_delta()) + 1,
        i64::from(new.record_count())
    );
    assert_eq!(
        (new.record_count(), new.compression()),
        (batch.record_count(), batch.compression())
    );
    assert!(!new.is_log_append_time(), "the bit never reaches the target");
    let before = decode_records(&RecordBatch::try_from_bytes(kept).expect("frames")).expect("decodes");
    let after = decode_records(&new).expect("a re-encoded batch decodes");
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        if batch.is_log_append_time() {
            assert_eq!(
                new.base_timestamp().checked_add(a.timestamp_delta),
                Some(batch.max_timestamp()),
                "every record carries the append time"
            );
        }
        let same = Record {
            timestamp_delta: a.timestamp_delta,
            ..b.clone()
        };
        assert_eq!(a, &same, "records kept but for their timestamps");
    }
    // Trimming the first record off in the same pass keeps the rest the same way.
    if let Ok(Some((trimmed, _))) = drop_records_before(
        batch,
        batch.base_offset().saturating_add(1),
        LIMIT,
        Timestamps::AppendTime,
    ) {
        let t = RecordBatch::try_from_bytes(trimmed).expect("a trimmed batch frames");
        assert!(t.verify_crc().is_ok() && !t.is_log_append_time());
    }
}

/// LogAppendTime batches as a source broker serves them: every codec, offset gaps, a delete
/// horizon, and a CreateTime batch (left alone).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let (records, _) = super::batches::records(5, 30, 1_650_000_000_000);
    let batch = |attributes: i16, compression, gaps: bool| {
        let mut records = records.clone();
        if gaps {
            for (r, delta) in records.iter_mut().zip([0, 2, 3, 7, 8]) {
                r.offset_delta = delta;
            }
        }
        let spec = BatchSpec {
            base_offset: 300,
            attributes,
            compression,
            base_timestamp: 1_650_000_000_000,
            max_timestamp: 1_700_000_000_000,
            last_offset_delta: Some(if gaps { 9 } else { 4 }),
            ..BatchSpec::default()
        };
        encode_batch(&spec, &records).expect("encodable").to_vec()
    };
    let lat = TIMESTAMP_TYPE_BIT;
    vec![
        (
            "restamp_batch",
            "none".to_owned(),
            batch(lat, Compression::None, false),
        ),
        (
            "restamp_batch",
            "lz4".to_owned(),
            batch(lat, Compression::Lz4, false),
        ),
        (
            "restamp_batch",
            "zstd_gapped".to_owned(),
            batch(lat, Compression::Zstd, true),
        ),
        (
            "restamp_batch",
            "gzip".to_owned(),
            batch(lat, Compression::Gzip, false),
        ),
        (
            "restamp_batch",
            "snappy_gapped".to_owned(),
            batch(lat, Compression::Snappy, true),
        ),
        (
            "restamp_batch",
            "delete_horizon".to_owned(),
            batch(lat | DELETE_HORIZON_BIT, Compression::None, false),
        ),
        (
            "restamp_batch",
            "create_time".to_owned(),
            batch(0, Compression::Lz4, false),
        ),
    ]
}
