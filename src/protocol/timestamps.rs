//! What the records of a LogAppendTime batch carry on the target.
//!
//! A source topic with `message.timestamp.type=LogAppendTime` serves batches with the
//! LogAppendTime attribute bit set: every record's timestamp is the batch's `maxTimestamp`
//! (the time the source broker appended it), whatever the records' own deltas say. Those
//! deltas still hold what the producers sent (`apache/kafka: clients/.../DefaultRecordBatch.java`
//! reads `maxTimestamp` for every record while the bit is set).
//!
//! A Kafka broker refuses a batch that arrives with the bit on a LogAppendTime topic
//! ("Producer should not set timestamp type to LogAppendTime"); on a CreateTime topic it
//! range-checks the append time, then rewrites the header to CreateTime, after which consumers
//! read `baseTimestamp + delta`: the producers' timestamps, not the append time consumers of
//! the source saw (`apache/kafka: storage/.../log/LogValidator.java`, `validateTimestamp` and
//! the in-place paths). So kmirror never forwards the bit, and the flow setting
//! `log.append.time.timestamps` decides which of the two timestamps the records keep:
//!
//! - [`Timestamps::AppendTime`] (the default): [`stamp_append_time`] makes every record's
//!   timestamp the append time (`baseTimestamp = maxTimestamp = append time`, every
//!   `timestampDelta = 0`) and clears the bit. Consumers of the target read what consumers of
//!   the source read, as MM2 writes it. It costs a decode and re-encode of such batches
//!   (`renumber`, `trim`).
//! - [`Timestamps::Keep`]: the records are kept byte for byte and only the bit is cleared
//!   (`rewrite`); consumers of the target read the producers' timestamps, which a target
//!   topic's `message.timestamp.after.max.ms` may refuse.
//!
//! A batch with the delete-horizon bit (KIP-534, compacted tombstones) keeps its
//! `baseTimestamp`, which holds the horizon there; each delta becomes the distance from it to
//! the append time instead.

use thiserror::Error;

use super::batch::{DELETE_HORIZON_BIT, TIMESTAMP_TYPE_BIT};
use super::records::{BatchSpec, Record};

/// What a re-encoded batch's timestamps become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timestamps {
    /// As in the source batch: header fields and every record's delta.
    #[default]
    Keep,
    /// A LogAppendTime batch becomes a CreateTime batch whose every record carries the batch's
    /// append time; a CreateTime batch is kept as it is.
    AppendTime,
}

/// The append time cannot be written as a delta from the batch's delete horizon.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("append time {append_time} is out of reach of the delete horizon {horizon}")]
pub struct TimestampOverflow {
    pub append_time: i64,
    pub horizon: i64,
}

/// Gives every record of a LogAppendTime batch (`spec` and its decoded `records`) the batch's
/// append time as its CreateTime timestamp: see the module documentation. Returns whether
/// anything changed (false for a CreateTime batch, which is left alone).
pub fn stamp_append_time(spec: &mut BatchSpec, records: &mut [Record]) -> Result<bool, TimestampOverflow> {
    if spec.attributes & TIMESTAMP_TYPE_BIT == 0 {
        return Ok(false);
    }
    let append_time = spec.max_timestamp;
    let base = if spec.attributes & DELETE_HORIZON_BIT != 0 {
        spec.base_timestamp
    } else {
        append_time
    };
    let delta = append_time.checked_sub(base).ok_or(TimestampOverflow {
        append_time,
        horizon: base,
    })?;
    for r in records.iter_mut() {
        r.timestamp_delta = delta;
    }
    spec.base_timestamp = base;
    spec.attributes &= !TIMESTAMP_TYPE_BIT;
    Ok(true)
}

/// [`stamp_append_time`] when `mode` asks for it.
pub(crate) fn apply(
    mode: Timestamps,
    spec: &mut BatchSpec,
    records: &mut [Record],
) -> Result<bool, TimestampOverflow> {
    match mode {
        Timestamps::Keep => Ok(false),
        Timestamps::AppendTime => stamp_append_time(spec, records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn records() -> Vec<Record> {
        (0..3)
            .map(|i| Record {
                offset_delta: i,
                timestamp_delta: i64::from(i) * 1000 - 7,
                value: Some(Bytes::from(format!("v{i}"))),
                ..Record::default()
            })
            .collect()
    }

    fn spec(attributes: i16) -> BatchSpec {
        BatchSpec {
            attributes,
            base_timestamp: 1_600_000_000_000,
            max_timestamp: 1_700_000_000_000,
            ..BatchSpec::default()
        }
    }

    #[test]
    fn log_append_time_records_get_the_append_time() {
        let (mut s, mut r) = (spec(TIMESTAMP_TYPE_BIT | 0x10), records());
        assert_eq!(stamp_append_time(&mut s, &mut r), Ok(true));
        assert_eq!(s.attributes, 0x10, "only the timestamp-type bit is cleared");
        assert_eq!(
            (s.base_timestamp, s.max_timestamp),
            (1_700_000_000_000, 1_700_000_000_000)
        );
        assert!(r.iter().all(|r| r.timestamp_delta == 0));
        assert_eq!(r[1].value, records()[1].value);
    }

    #[test]
    fn create_time_batches_and_keep_mode_are_left_alone() {
        let (mut s, mut r) = (spec(0x10), records());
        assert_eq!(stamp_append_time(&mut s, &mut r), Ok(false));
        assert_eq!((s, r.clone()), (spec(0x10), records()));
        let mut s = spec(TIMESTAMP_TYPE_BIT);
        assert_eq!(apply(Timestamps::Keep, &mut s, &mut r), Ok(false));
        assert_eq!(s, spec(TIMESTAMP_TYPE_BIT));
    }

    #[test]
    fn a_delete_horizon_is_kept_and_the_deltas_reach_the_append_time() {
        let (mut s, mut r) = (spec(TIMESTAMP_TYPE_BIT | DELETE_HORIZON_BIT), records());
        assert_eq!(stamp_append_time(&mut s, &mut r), Ok(true));
        assert_eq!(s.attributes, DELETE_HORIZON_BIT);
        assert_eq!(s.base_timestamp, 1_600_000_000_000);
        assert!(
            r.iter()
                .all(|r| s.base_timestamp + r.timestamp_delta == s.max_timestamp)
        );

        let mut far = BatchSpec {
            base_timestamp: i64::MIN,
            max_timestamp: 1,
            ..spec(TIMESTAMP_TYPE_BIT | DELETE_HORIZON_BIT)
        };
        assert_eq!(
            stamp_append_time(&mut far, &mut r),
            Err(TimestampOverflow {
                append_time: 1,
                horizon: i64::MIN
            })
        );
    }

    // === the re-encoding paths (renumber, trim) with the append time ===

    use crate::protocol::batch::{BatchKind, Compression, HEADER_LEN, RecordBatch};
    use crate::protocol::records::{decode_records, encode_batch};
    use crate::protocol::renumber::{RenumberError, renumber_with_offsets};
    use crate::protocol::trim::drop_records_before;
    use proptest::prelude::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// A batch as a LogAppendTime source topic serves it: the producers' timestamps in the
    /// deltas, the append time in `maxTimestamp`, a producer identity, maybe offset gaps.
    fn served(
        attributes: i16,
        codec: Compression,
        records: &[Record],
        last_offset_delta: i32,
    ) -> RecordBatch {
        let spec = BatchSpec {
            base_offset: 7000,
            partition_leader_epoch: 4,
            attributes,
            compression: codec,
            base_timestamp: 1_650_000_000_000,
            max_timestamp: 1_700_000_123_456,
            producer_id: 99,
            producer_epoch: 2,
            base_sequence: 10,
            last_offset_delta: Some(last_offset_delta),
        };
        RecordBatch::try_from_bytes(encode_batch(&spec, records).unwrap()).unwrap()
    }

    /// What an append-time re-encoding must keep and change. `kept` are the source records it
    /// kept, in order.
    fn check_stamped(src: &RecordBatch, out: Bytes, kept: &[Record]) -> Result<(), TestCaseError> {
        let new = RecordBatch::try_from_bytes(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(new.verify_crc().is_ok());
        prop_assert_eq!(new.kind(), BatchKind::Data);
        prop_assert_eq!(
            i64::from(new.last_offset_delta()) + 1,
            i64::from(new.record_count())
        );
        prop_assert_eq!(new.record_count() as usize, kept.len());
        prop_assert_eq!(new.compression(), src.compression());
        prop_assert!(!new.is_log_append_time());
        prop_assert_eq!(new.attributes(), src.attributes() & !TIMESTAMP_TYPE_BIT);
        prop_assert_eq!(new.max_timestamp(), src.max_timestamp());
        if !src.has_delete_horizon() {
            prop_assert_eq!(new.base_timestamp(), src.max_timestamp());
        }
        // Leader epoch, magic and the producer fields are the source's.
        let (a, b) = (&src.as_bytes()[..HEADER_LEN], &new.as_bytes()[..HEADER_LEN]);
        for range in [12..17, 43..57] {
            prop_assert_eq!(&a[range.clone()], &b[range.clone()], "header bytes {:?}", range);
        }
        let got = decode_records(&new).unwrap();
        for (i, (g, k)) in got.iter().zip(kept).enumerate() {
            prop_assert_eq!(new.base_timestamp() + g.timestamp_delta, src.max_timestamp());
            prop_assert_eq!(g.offset_delta, i as i32);
            let same = Record {
                offset_delta: g.offset_delta,
                timestamp_delta: g.timestamp_delta,
                ..k.clone()
            };
            prop_assert_eq!(
                g,
                &same,
                "record {} equal but for its timestamp and offset delta",
                i
            );
        }
        Ok(())
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let bytes = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from));
        let header = (
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Bytes::from),
            bytes.clone(),
        );
        (
            any::<i8>(),
            any::<i64>(),
            bytes.clone(),
            bytes,
            proptest::collection::vec(header, 0..3),
        )
            .prop_map(|(attributes, timestamp_delta, key, value, headers)| Record {
                attributes,
                timestamp_delta,
                key,
                value,
                headers,
                ..Record::default()
            })
    }

    /// Records with offset deltas that have `gaps` between them; returns the last delta.
    fn spaced(records: &mut [Record], gaps: &[i32]) -> i32 {
        let mut offset = 0;
        for (r, gap) in records.iter_mut().zip(gaps.iter().chain(std::iter::repeat(&0))) {
            offset += gap;
            r.offset_delta = offset;
            offset += 1;
        }
        offset - 1
    }

    proptest! {
        #[test]
        fn renumbering_with_the_append_time_keeps_everything_else(
            records in proptest::collection::vec(arb_record(), 1..25),
            gaps in proptest::collection::vec(prop_oneof![3 => Just(0i32), 1 => 1..4i32], 25),
            horizon in any::<bool>(),
            codec in proptest::sample::select(CODECS.to_vec()),
        ) {
            let mut records = records;
            let last = spaced(&mut records, &gaps);
            let attributes = TIMESTAMP_TYPE_BIT | if horizon { DELETE_HORIZON_BIT } else { 0 };
            let src = served(attributes, codec, &records, last);
            let (out, offsets) = renumber_with_offsets(&src, 1 << 20, Timestamps::AppendTime).unwrap();
            check_stamped(&src, out.clone(), &records)?;
            let want: Vec<i64> = records.iter().map(|r| 7000 + i64::from(r.offset_delta)).collect();
            prop_assert_eq!(offsets, want);
            prop_assert_eq!(&out[..8], &src.as_bytes()[..8], "base offset kept");
            // With Keep, the timestamps are the source's: a LogAppendTime batch keeps its bit.
            let (kept, _) = renumber_with_offsets(&src, 1 << 20, Timestamps::Keep).unwrap();
            prop_assert!(RecordBatch::try_from_bytes(kept).unwrap().is_log_append_time());
        }

        #[test]
        fn trimming_with_the_append_time_keeps_the_rest_of_the_records(
            records in proptest::collection::vec(arb_record(), 1..25),
            gaps in proptest::collection::vec(0..3i32, 25),
            cut in 0..40i64,
            codec in proptest::sample::select(CODECS.to_vec()),
        ) {
            let mut records = records;
            let last = spaced(&mut records, &gaps);
            let src = served(TIMESTAMP_TYPE_BIT, codec, &records, last);
            let kept: Vec<Record> = records
                .iter()
                .filter(|r| i64::from(r.offset_delta) >= cut)
                .cloned()
                .collect();
            match drop_records_before(&src, 7000 + cut, 1 << 20, Timestamps::AppendTime).unwrap() {
                None => prop_assert!(kept.is_empty()),
                Some((out, offsets)) => {
                    check_stamped(&src, out, &kept)?;
                    prop_assert_eq!(offsets[0], 7000 + i64::from(kept[0].offset_delta));
                }
            }
        }

        #[test]
        fn create_time_batches_come_out_as_with_keep(
            records in proptest::collection::vec(arb_record(), 1..10),
            codec in proptest::sample::select(CODECS.to_vec()),
        ) {
            let mut records = records;
            let last = spaced(&mut records, &[]);
            let src = served(0, codec, &records, last);
            prop_assert_eq!(
                renumber_with_offsets(&src, 1 << 20, Timestamps::AppendTime).unwrap(),
                renumber_with_offsets(&src, 1 << 20, Timestamps::Keep).unwrap()
            );
        }
    }

    #[test]
    fn consumers_read_the_append_time_after_the_re_encoding() {
        let mut records = records();
        let last = spaced(&mut records, &[]);
        let src = served(TIMESTAMP_TYPE_BIT, Compression::Lz4, &records, last);
        let (out, _) = renumber_with_offsets(&src, 1 << 20, Timestamps::AppendTime).unwrap();
        let new = RecordBatch::try_from_bytes(out).unwrap();
        // A CreateTime consumer computes baseTimestamp + delta for each record.
        let seen: Vec<i64> = decode_records(&new)
            .unwrap()
            .iter()
            .map(|r| new.base_timestamp() + r.timestamp_delta)
            .collect();
        assert_eq!(seen, [1_700_000_123_456; 3]);
    }

    #[test]
    fn a_corrupt_batch_is_refused_whatever_the_path() {
        let mut records = records();
        let last = spaced(&mut records, &[]);
        let src = served(TIMESTAMP_TYPE_BIT, Compression::None, &records, last);
        let mut bytes = bytes::BytesMut::from(&src.as_bytes()[..]);
        let end = bytes.len() - 1;
        bytes[end] ^= 1;
        let corrupt = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
        assert!(matches!(
            renumber_with_offsets(&corrupt, 1 << 20, Timestamps::AppendTime),
            Err(RenumberError::Corrupt {
                base_offset: 7000,
                ..
            })
        ));
        assert!(matches!(
            drop_records_before(&corrupt, 7001, 1 << 20, Timestamps::Keep),
            Err(RenumberError::Corrupt {
                base_offset: 7000,
                ..
            })
        ));
    }

    #[test]
    fn an_unreachable_append_time_is_a_typed_error() {
        let mut records = records();
        let last = spaced(&mut records, &[]);
        let spec = BatchSpec {
            base_offset: 5,
            attributes: TIMESTAMP_TYPE_BIT | DELETE_HORIZON_BIT,
            base_timestamp: i64::MIN,
            max_timestamp: 10,
            last_offset_delta: Some(last),
            ..BatchSpec::default()
        };
        let src = RecordBatch::try_from_bytes(encode_batch(&spec, &records).unwrap()).unwrap();
        let err = renumber_with_offsets(&src, 1 << 20, Timestamps::AppendTime).unwrap_err();
        assert_eq!(err.label(), "timestamp_overflow");
        assert_eq!(err.base_offset(), 5);
    }
}
