//! Batch builders for tests and benches.

use bytes::Bytes;

use crate::protocol::batch::{Compression, RecordBatch};
use crate::protocol::records::{BatchSpec, Record, encode_batch};

/// `count` records of `value_len` bytes each (keys `k<i>`, a header `h=<i>`), timestamps
/// one millisecond apart from `base_timestamp`.
pub fn records(count: usize, value_len: usize, base_timestamp: i64) -> (Vec<Record>, i64) {
    let records = (0..count)
        .map(|i| Record {
            timestamp_delta: i as i64,
            offset_delta: i as i32,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(
                (0..value_len)
                    .map(|j| (i.wrapping_mul(31) + j) as u8)
                    .collect::<Vec<u8>>(),
            )),
            headers: vec![(Bytes::from_static(b"h"), Some(Bytes::from(i.to_string())))],
            ..Record::default()
        })
        .collect();
    (records, base_timestamp + count.saturating_sub(1) as i64)
}

/// A plain data batch (no producer id).
pub fn data_batch(base_offset: i64, count: usize, value_len: usize, compression: Compression) -> RecordBatch {
    let base_timestamp = 1_700_000_000_000;
    let (records, max_timestamp) = records(count, value_len, base_timestamp);
    let spec = BatchSpec {
        base_offset,
        compression,
        base_timestamp,
        max_timestamp,
        ..BatchSpec::default()
    };
    RecordBatch::try_from_bytes(encode_batch(&spec, &records).expect("encodable")).expect("valid batch")
}

/// A batch as an idempotent or transactional source producer would write it.
pub fn producer_batch(
    base_offset: i64,
    count: usize,
    producer_id: i64,
    base_sequence: i32,
    attributes: i16,
) -> RecordBatch {
    let (records, max_timestamp) = records(count, 16, 1_700_000_000_000);
    let spec = BatchSpec {
        base_offset,
        attributes,
        base_timestamp: 1_700_000_000_000,
        max_timestamp,
        producer_id,
        producer_epoch: 0,
        base_sequence,
        ..BatchSpec::default()
    };
    RecordBatch::try_from_bytes(encode_batch(&spec, &records).expect("encodable")).expect("valid batch")
}

/// Concatenates batches into one records blob, as a Fetch response carries them.
pub fn blob(batches: &[RecordBatch]) -> Bytes {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::len).sum());
    for b in batches {
        out.extend_from_slice(b.as_bytes());
    }
    Bytes::from(out)
}
