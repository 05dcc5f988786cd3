//! Cutting the records before an offset off a batch.
//!
//! A fetch returns the whole batch that holds the fetch offset. When kmirror resumes inside a
//! batch (a start position from elsewhere, or a broker that regroups records into different
//! batches between fetches), forwarding the batch whole would write the records before the
//! fetch offset a second time. This path decodes the batch, keeps the records at or after the
//! offset with every other byte of them unchanged, gives them consecutive offset deltas, and
//! re-encodes with the same codec and header fields.

use bytes::Bytes;

use super::batch::RecordBatch;
use super::records::{BatchSpec, decode_records_bounded, encode_batch};
use super::renumber::RenumberError;
use super::timestamps::{self, Timestamps};

/// The batch without its records below `offset` and the source offset of each record kept,
/// or `None` when none is left. `timestamps` may give a LogAppendTime batch's records its
/// append time in the same pass (`timestamps`).
///
/// Refuses a batch whose CRC does not match: the re-encoded batch gets a new CRC, which must
/// never bless damaged bytes.
pub fn drop_records_before(
    batch: &RecordBatch,
    offset: i64,
    max_uncompressed_bytes: usize,
    timestamps: Timestamps,
) -> Result<Option<(Bytes, Vec<i64>)>, RenumberError> {
    batch.verify_crc().map_err(|source| RenumberError::Corrupt {
        base_offset: batch.base_offset(),
        source,
    })?;
    let records = decode_records_bounded(batch, max_uncompressed_bytes).map_err(|source| {
        RenumberError::Undecodable {
            base_offset: batch.base_offset(),
            source,
        }
    })?;
    let first_delta = offset.saturating_sub(batch.base_offset());
    let mut offsets = Vec::new();
    let mut kept: Vec<_> = records
        .into_iter()
        .filter(|r| i64::from(r.offset_delta) >= first_delta)
        .enumerate()
        .map(|(i, mut r)| {
            offsets.push(batch.base_offset().saturating_add(i64::from(r.offset_delta)));
            r.offset_delta = i as i32;
            r
        })
        .collect();
    let Some(&new_base) = offsets.first() else {
        return Ok(None);
    };
    // The first kept record's offset becomes the new base (in a compacted batch it may lie
    // beyond `offset`); timestamps stay relative to the unchanged base timestamp.
    let mut spec = BatchSpec {
        base_offset: new_base,
        partition_leader_epoch: batch.partition_leader_epoch(),
        attributes: batch.attributes(),
        compression: batch.compression(),
        base_timestamp: batch.base_timestamp(),
        max_timestamp: batch.max_timestamp(),
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        last_offset_delta: None,
    };
    timestamps::apply(timestamps, &mut spec, &mut kept).map_err(|source| RenumberError::Timestamp {
        base_offset: batch.base_offset(),
        source,
    })?;
    encode_batch(&spec, &kept)
        .map(|bytes| Some((bytes, offsets)))
        .map_err(|source| RenumberError::Encode {
            base_offset: batch.base_offset(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::{Record, decode_records};

    #[test]
    fn keeps_the_records_at_or_after_the_offset_with_their_source_offsets() {
        let records: Vec<Record> = [0, 2, 3, 7]
            .into_iter()
            .map(|offset_delta| Record {
                offset_delta,
                value: Some(Bytes::from(format!("v{offset_delta}"))),
                ..Record::default()
            })
            .collect();
        let spec = BatchSpec {
            base_offset: 10,
            last_offset_delta: Some(7),
            ..BatchSpec::default()
        };
        let batch = RecordBatch::try_from_bytes(encode_batch(&spec, &records).unwrap()).unwrap();
        // 11 was compacted away: the trimmed batch starts at 12, the record that exists.
        let (bytes, offsets) = drop_records_before(&batch, 11, 1 << 20, Timestamps::Keep)
            .unwrap()
            .unwrap();
        assert_eq!(offsets, [12, 13, 17]);
        let trimmed = RecordBatch::try_from_bytes(bytes).unwrap();
        assert_eq!(trimmed.base_offset(), 12);
        let values: Vec<_> = decode_records(&trimmed)
            .unwrap()
            .into_iter()
            .map(|r| r.value)
            .collect();
        assert_eq!(
            values,
            [
                records[1].value.clone(),
                records[2].value.clone(),
                records[3].value.clone()
            ]
        );
        assert!(
            drop_records_before(&batch, 18, 1 << 20, Timestamps::Keep)
                .unwrap()
                .is_none()
        );
    }
}
