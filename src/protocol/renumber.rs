//! The renumber path: make a compacted (gapped) batch acceptable to a broker without losing
//! anything but the gaps.
//!
//! Brokers refuse client batches whose `lastOffsetDelta + 1 != recordCount`
//! (`apache/kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/LogValidator.java`,
//! `validateBatch`), and compaction leaves exactly such batches behind. [`renumber`] is the
//! one place where kmirror decodes records: it decompresses the records section (bounded), sets
//! each record's offset delta to its index, re-encodes every other field as it was (attributes,
//! timestamp delta, key, value, headers in order with duplicates and null values), recompresses
//! with the batch's own codec, and writes the source header back unchanged except for
//! `lastOffsetDelta` (`recordCount - 1`), the batch length and the CRC-32C. The same pass can
//! give a LogAppendTime batch's records its append time (`timestamps`), which changes the
//! attributes, `baseTimestamp` and every record's timestamp delta as well.
//!
//! What changes on the target is the offset spacing inside the batch: record `i` lands at
//! `target base + i` instead of `source base + offsetDelta_i`. The compressed bytes differ from
//! the source's as well (the codec runs again), so a renumbered batch is the exception to
//! "byte for byte" and is metered as such.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::batch::{
    self, BatchError, BatchKind, CRC_START, Compression, HEADER_LEN, LOG_OVERHEAD, RecordBatch,
};
use super::records::{self, BatchSpec, RecordsError};
use super::timestamps::{self, TimestampOverflow, Timestamps};

/// Why a batch could not be decoded and re-encoded (renumbered, trimmed or given its append
/// time, see `timestamps`). Each variant names the source base offset.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RenumberError {
    #[error("cannot re-encode batch at offset {base_offset}: {source}")]
    Corrupt {
        base_offset: i64,
        #[source]
        source: BatchError,
    },
    #[error("cannot re-encode batch at offset {base_offset}: a {kind:?} batch is not data")]
    NotData { base_offset: i64, kind: BatchKind },
    #[error(
        "cannot re-encode batch at offset {base_offset}: its {codec:?} records inflate beyond the limit of {limit} bytes"
    )]
    TooLarge {
        base_offset: i64,
        codec: Compression,
        limit: usize,
    },
    #[error(
        "cannot re-encode batch at offset {base_offset}: it declares {declared} records but holds {found}"
    )]
    CountMismatch {
        base_offset: i64,
        declared: i32,
        found: usize,
    },
    #[error("cannot re-encode batch at offset {base_offset}: undecodable records: {source}")]
    Undecodable {
        base_offset: i64,
        #[source]
        source: RecordsError,
    },
    #[error("cannot re-encode batch at offset {base_offset}: {source}")]
    Encode {
        base_offset: i64,
        #[source]
        source: RecordsError,
    },
    #[error(
        "cannot re-encode batch at offset {base_offset}: the offset of its record {count} would overflow"
    )]
    OffsetOverflow { base_offset: i64, count: usize },
    #[error(
        "cannot re-encode batch at offset {base_offset}: the re-encoded batch of {len} bytes is too long for its length field"
    )]
    Oversized { base_offset: i64, len: usize },
    #[error("cannot re-encode batch at offset {base_offset}: {source}")]
    Timestamp {
        base_offset: i64,
        #[source]
        source: TimestampOverflow,
    },
}

impl RenumberError {
    /// The source base offset of the batch that failed.
    pub fn base_offset(&self) -> i64 {
        match self {
            Self::Corrupt { base_offset, .. }
            | Self::NotData { base_offset, .. }
            | Self::TooLarge { base_offset, .. }
            | Self::CountMismatch { base_offset, .. }
            | Self::Undecodable { base_offset, .. }
            | Self::Encode { base_offset, .. }
            | Self::OffsetOverflow { base_offset, .. }
            | Self::Oversized { base_offset, .. }
            | Self::Timestamp { base_offset, .. } => *base_offset,
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Corrupt { .. } => "corrupt",
            Self::NotData { .. } => "not_data",
            Self::TooLarge { .. } => "too_large",
            Self::CountMismatch { .. } => "count_mismatch",
            Self::Undecodable { .. } => "undecodable",
            Self::Encode { .. } => "encode",
            Self::OffsetOverflow { .. } => "offset_overflow",
            Self::Oversized { .. } => "oversized",
            Self::Timestamp { .. } => "timestamp_overflow",
        }
    }
}

/// Renumbers `batch` so that its records have offset deltas `0..n`, keeping every other byte
/// of meaning: see the module documentation. Returns the complete new batch (same base
/// offset, leader epoch, attributes, timestamps and producer fields; `lastOffsetDelta = n - 1`;
/// a new CRC).
///
/// Refuses a batch whose CRC does not match (a new CRC must never bless damaged bytes), a
/// control or empty batch, records that decompress to more than `max_uncompressed_bytes`
/// (checked while decompressing, before allocating more), records that do not decode, and a
/// record count that differs from the header's.
pub fn renumber(batch: &RecordBatch, max_uncompressed_bytes: usize) -> Result<Bytes, RenumberError> {
    renumber_with_offsets(batch, max_uncompressed_bytes, Timestamps::Keep).map(|(bytes, _)| bytes)
}

/// [`renumber`], with the timestamps `timestamps` asks for (a LogAppendTime batch given its
/// append time changes its attributes, `baseTimestamp` and every record's timestamp delta
/// too), also returning the source offset each record had before renumbering, in order (what
/// offset syncs must name: offsets that hold a record). A batch without gaps keeps its offset
/// deltas, so this is also how a LogAppendTime batch is given its append time.
pub fn renumber_with_offsets(
    batch: &RecordBatch,
    max_uncompressed_bytes: usize,
    timestamps: Timestamps,
) -> Result<(Bytes, Vec<i64>), RenumberError> {
    let base_offset = batch.base_offset();
    batch
        .verify_crc()
        .map_err(|source| RenumberError::Corrupt { base_offset, source })?;
    match batch.kind() {
        kind @ (BatchKind::Control | BatchKind::Empty) => {
            return Err(RenumberError::NotData { base_offset, kind });
        }
        BatchKind::Data | BatchKind::Gapped => {}
    }

    let mut records =
        records::decode_records_bounded(batch, max_uncompressed_bytes).map_err(|e| match e {
            RecordsError::TooLarge { codec, limit } => RenumberError::TooLarge {
                base_offset,
                codec,
                limit,
            },
            RecordsError::CountMismatch { declared, found } => RenumberError::CountMismatch {
                base_offset,
                declared,
                found,
            },
            source => RenumberError::Undecodable { base_offset, source },
        })?;
    // The count equals the header's, which is a positive i32 (not an empty batch).
    let count = records.len();
    let Some(last) = count.checked_sub(1) else {
        return Err(RenumberError::NotData {
            base_offset,
            kind: BatchKind::Empty,
        });
    };
    let last_offset_delta =
        i32::try_from(last).map_err(|_| RenumberError::OffsetOverflow { base_offset, count })?;
    if base_offset.checked_add(i64::from(last_offset_delta)).is_none() {
        return Err(RenumberError::OffsetOverflow { base_offset, count });
    }
    let original: Vec<i64> = records
        .iter()
        .map(|r| base_offset.saturating_add(i64::from(r.offset_delta)))
        .collect();
    for (delta, record) in (0..).zip(records.iter_mut()) {
        record.offset_delta = delta;
    }
    let mut stamp = BatchSpec {
        attributes: batch.attributes(),
        base_timestamp: batch.base_timestamp(),
        max_timestamp: batch.max_timestamp(),
        ..BatchSpec::default()
    };
    let stamped = timestamps::apply(timestamps, &mut stamp, &mut records)
        .map_err(|source| RenumberError::Timestamp { base_offset, source })?;

    let src = batch.as_bytes();
    let mut out = BytesMut::with_capacity(src.len());
    out.put_slice(&src[..HEADER_LEN]);
    if stamped {
        out[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&stamp.attributes.to_be_bytes());
        out[batch::BASE_TIMESTAMP..batch::BASE_TIMESTAMP + 8]
            .copy_from_slice(&stamp.base_timestamp.to_be_bytes());
        out[batch::MAX_TIMESTAMP..batch::MAX_TIMESTAMP + 8]
            .copy_from_slice(&stamp.max_timestamp.to_be_bytes());
    }
    records::encode_records_into(&mut out, batch.compression(), &records)
        .map_err(|source| RenumberError::Encode { base_offset, source })?;
    let len = out.len();
    let batch_length =
        i32::try_from(len - LOG_OVERHEAD).map_err(|_| RenumberError::Oversized { base_offset, len })?;
    out[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    out[batch::LAST_OFFSET_DELTA..batch::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&last_offset_delta.to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Ok((out.freeze(), original))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::{BatchSpec, Record, decode_records, encode_batch};
    use proptest::prelude::*;
    use std::io::Write;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Records as compaction leaves them: offset deltas with holes, duplicate and null headers,
    /// null keys and values, timestamps out of order.
    fn compacted_records() -> Vec<Record> {
        [0, 3, 4, 9, 15]
            .into_iter()
            .enumerate()
            .map(|(i, offset_delta)| Record {
                attributes: if i == 2 { 0x01 } else { 0 },
                timestamp_delta: [0, 50, -3, 1 << 40, 7][i],
                offset_delta,
                key: (i != 1).then(|| Bytes::from(format!("key-{i}"))),
                value: (i != 3).then(|| Bytes::from(format!("value {i} ").repeat(20 * i + 1))),
                headers: vec![
                    (Bytes::from_static(b"dup"), Some(Bytes::from(format!("{i}a")))),
                    (Bytes::from_static(b"dup"), Some(Bytes::from(format!("{i}b")))),
                    (Bytes::from_static(b"null"), None),
                ],
            })
            .collect()
    }

    fn spec(codec: Compression, last_offset_delta: i32) -> BatchSpec {
        BatchSpec {
            base_offset: 5000,
            partition_leader_epoch: 7,
            attributes: batch::TRANSACTIONAL_BIT | batch::DELETE_HORIZON_BIT,
            compression: codec,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_099,
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 17,
            last_offset_delta: Some(last_offset_delta),
        }
    }

    fn gapped(codec: Compression, records: &[Record], last_offset_delta: i32) -> RecordBatch {
        RecordBatch::try_from_bytes(encode_batch(&spec(codec, last_offset_delta), records).unwrap()).unwrap()
    }

    /// Everything a renumber must keep, and what it must change.
    fn check_renumbered(src: &RecordBatch, out: Bytes) -> Result<(), TestCaseError> {
        let new = RecordBatch::try_from_bytes(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(new.verify_crc().is_ok());
        prop_assert_eq!(new.kind(), BatchKind::Data);
        prop_assert_eq!(new.last_offset_delta(), src.record_count() - 1);
        prop_assert_eq!(new.record_count(), src.record_count());
        prop_assert_eq!(new.compression(), src.compression());
        // The header is the source's but for batch length (8..12), CRC (17..21) and
        // lastOffsetDelta (23..27).
        let (a, b) = (&src.as_bytes()[..HEADER_LEN], &new.as_bytes()[..HEADER_LEN]);
        for range in [0..8, 12..17, 21..23, 27..HEADER_LEN] {
            prop_assert_eq!(&a[range.clone()], &b[range.clone()], "header bytes {:?}", range);
        }
        let expected: Vec<Record> = decode_records(src)
            .unwrap()
            .into_iter()
            .zip(0..)
            .map(|(r, offset_delta)| Record { offset_delta, ..r })
            .collect();
        prop_assert_eq!(decode_records(&new).unwrap(), expected);
        Ok(())
    }

    #[test]
    fn gapped_batches_of_every_codec_are_renumbered_losslessly() {
        let records = compacted_records();
        for codec in CODECS {
            // The cleaner keeps the original last offset even when it removed the last record.
            for last in [15, 20] {
                let src = gapped(codec, &records, last);
                assert_eq!(src.kind(), BatchKind::Gapped);
                let out = renumber(&src, 1 << 20).unwrap();
                check_renumbered(&src, out.clone()).unwrap();
                let new = RecordBatch::try_from_bytes(out).unwrap();
                assert_eq!(new.base_offset(), 5000);
                assert_eq!(new.partition_leader_epoch(), 7);
                assert_eq!(new.attributes(), src.attributes());
                assert!(new.is_transactional() && new.has_delete_horizon());
                assert_eq!(
                    (new.base_timestamp(), new.max_timestamp()),
                    (src.base_timestamp(), src.max_timestamp())
                );
                assert_eq!(
                    (new.producer_id(), new.producer_epoch(), new.base_sequence()),
                    (4242, 3, 17)
                );
                assert_eq!(new.next_offset(), 5005);
                let (same, offsets) = renumber_with_offsets(&src, 1 << 20, Timestamps::Keep).unwrap();
                assert_eq!(same, new.into_bytes());
                assert_eq!(
                    offsets,
                    [5000, 5003, 5004, 5009, 5015],
                    "the records' source offsets"
                );
            }
        }
    }

    #[test]
    fn an_uncompressed_batch_without_gaps_comes_back_byte_for_byte() {
        let records: Vec<Record> = compacted_records()
            .into_iter()
            .zip(0..)
            .map(|(r, offset_delta)| Record { offset_delta, ..r })
            .collect();
        let src = gapped(Compression::None, &records, 4);
        assert_eq!(src.kind(), BatchKind::Data);
        assert_eq!(&renumber(&src, 1 << 20).unwrap(), src.as_bytes());
    }

    #[test]
    fn xerial_and_raw_snappy_sources_are_renumbered() {
        let records = compacted_records();
        let plain = gapped(Compression::None, &records, 15);
        let raw_records = plain.records();
        // xerial framing in several blocks, as the Java producer writes it, and raw snappy, as
        // some other clients do.
        let mut xerial = b"\x82SNAPPY\x00".to_vec();
        xerial.extend_from_slice(&1i32.to_be_bytes());
        xerial.extend_from_slice(&1i32.to_be_bytes());
        for chunk in raw_records.chunks(100) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        let raw = snap::raw::Encoder::new().compress_vec(&raw_records).unwrap();
        for section in [xerial, raw] {
            let mut bytes = BytesMut::from(&plain.as_bytes()[..HEADER_LEN]);
            bytes.put_slice(&section);
            let len = (bytes.len() - LOG_OVERHEAD) as i32;
            bytes[8..12].copy_from_slice(&len.to_be_bytes());
            let attributes = plain.attributes() | 2;
            bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
            let crc = crc32c::crc32c(&bytes[CRC_START..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
            let src = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
            assert_eq!(src.compression(), Compression::Snappy);
            assert_eq!(decode_records(&src).unwrap(), records);
            check_renumbered(&src, renumber(&src, 1 << 20).unwrap()).unwrap();
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        // One record of 16 MiB of zeros: about 16 KiB of gzip.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let record = Record {
            offset_delta: 5,
            value: Some(Bytes::from(vec![0u8; 16 << 20])),
            ..Record::default()
        };
        let mut plain = BytesMut::new();
        record.encode(&mut plain);
        e.write_all(&plain).unwrap();
        let section = e.finish().unwrap();
        assert!(section.len() < 1 << 16);
        let small = Record {
            offset_delta: 5,
            ..Record::default()
        };
        let mut bytes = BytesMut::from(&gapped(Compression::Gzip, &[small], 5).as_bytes()[..HEADER_LEN]);
        bytes.put_slice(&section);
        let len = (bytes.len() - LOG_OVERHEAD) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let src = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
        assert_eq!(src.kind(), BatchKind::Gapped);
        let err = renumber(&src, 64 << 10).unwrap_err();
        assert_eq!(
            err,
            RenumberError::TooLarge {
                base_offset: 5000,
                codec: Compression::Gzip,
                limit: 64 << 10
            }
        );
        assert_eq!((err.base_offset(), err.label()), (5000, "too_large"));
        assert!(err.to_string().contains("5000"), "{err}");
    }

    #[test]
    fn the_limit_applies_to_uncompressed_batches_too() {
        let src = gapped(Compression::None, &compacted_records(), 15);
        let size = src.records().len();
        assert!(renumber(&src, size).is_ok());
        assert!(matches!(
            renumber(&src, size - 1),
            Err(RenumberError::TooLarge {
                codec: Compression::None,
                ..
            })
        ));
    }

    fn patched(src: &RecordBatch, at: usize, value: &[u8]) -> RecordBatch {
        let mut bytes = BytesMut::from(&src.as_bytes()[..]);
        bytes[at..at + value.len()].copy_from_slice(value);
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::try_from_bytes(bytes.freeze()).unwrap()
    }

    #[test]
    fn bad_batches_are_refused_with_their_offset() {
        let src = gapped(Compression::Lz4, &compacted_records(), 15);

        let mut corrupt = BytesMut::from(&src.as_bytes()[..]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let corrupt = RecordBatch::try_from_bytes(corrupt.freeze()).unwrap();
        assert!(matches!(
            renumber(&corrupt, 1 << 20),
            Err(RenumberError::Corrupt {
                base_offset: 5000,
                ..
            })
        ));

        let more = patched(&src, 57, &6i32.to_be_bytes());
        assert_eq!(
            renumber(&more, 1 << 20),
            Err(RenumberError::CountMismatch {
                base_offset: 5000,
                declared: 6,
                found: 5
            })
        );

        let control = patched(&src, 21, &(batch::CONTROL_BIT | 3).to_be_bytes());
        assert!(matches!(
            renumber(&control, 1 << 20),
            Err(RenumberError::NotData {
                kind: BatchKind::Control,
                ..
            })
        ));
        let empty = patched(&src, 57, &0i32.to_be_bytes());
        assert!(matches!(
            renumber(&empty, 1 << 20),
            Err(RenumberError::NotData {
                kind: BatchKind::Empty,
                ..
            })
        ));

        // An lz4 batch labelled zstd: the records do not decompress.
        let wrong_codec = patched(&src, 21, &(batch::TRANSACTIONAL_BIT | 4).to_be_bytes());
        let err = renumber(&wrong_codec, 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                RenumberError::Undecodable {
                    base_offset: 5000,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_record_with_trailing_bytes_is_undecodable() {
        // A record whose declared length is one byte longer than its fields.
        let mut section = BytesMut::new();
        Record {
            offset_delta: 2,
            value: Some(Bytes::from_static(b"v")),
            ..Record::default()
        }
        .encode(&mut section);
        section[0] += 2; // zig-zag: +1 byte
        section.put_u8(0);
        let mut bytes = BytesMut::from(&gapped(Compression::None, &[], 2).as_bytes()[..HEADER_LEN]);
        bytes.put_slice(&section);
        let len = (bytes.len() - LOG_OVERHEAD) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[CRC_START..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let src = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
        assert_eq!(src.kind(), BatchKind::Gapped);
        assert!(matches!(
            renumber(&src, 1 << 20),
            Err(RenumberError::Undecodable {
                source: RecordsError::RecordSize { .. },
                ..
            })
        ));
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let bytes = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60).prop_map(Bytes::from));
        let header = (
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Bytes::from),
            bytes.clone(),
        );
        (
            any::<i8>(),
            any::<i64>(),
            bytes.clone(),
            bytes,
            proptest::collection::vec(header, 0..4),
        )
            .prop_map(|(attributes, timestamp_delta, key, value, headers)| Record {
                attributes,
                timestamp_delta,
                offset_delta: 0,
                key,
                value,
                headers,
            })
    }

    proptest! {
        #[test]
        fn random_gapped_batches_renumber_losslessly(
            records in proptest::collection::vec(arb_record(), 1..30),
            gaps in proptest::collection::vec(0..5i32, 30),
            tail in 0..3i32,
            codec in proptest::sample::select(CODECS.to_vec()),
        ) {
            let mut records = records;
            let mut offset = 0;
            for (r, gap) in records.iter_mut().zip(&gaps) {
                offset += gap;
                r.offset_delta = offset;
                offset += 1;
            }
            let src = gapped(codec, &records, offset - 1 + tail);
            let out = renumber(&src, 1 << 20).unwrap();
            check_renumbered(&src, out)?;
        }
    }
}
