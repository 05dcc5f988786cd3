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

/// The batch without its records below `offset`, or `None` when none is left.
pub fn drop_records_before(
    batch: &RecordBatch,
    offset: i64,
    max_uncompressed_bytes: usize,
) -> Result<Option<Bytes>, RenumberError> {
    let records = decode_records_bounded(batch, max_uncompressed_bytes).map_err(|source| {
        RenumberError::Undecodable {
            base_offset: batch.base_offset(),
            source,
        }
    })?;
    let first_delta = offset.saturating_sub(batch.base_offset());
    let kept: Vec<_> = records
        .into_iter()
        .filter(|r| i64::from(r.offset_delta) >= first_delta)
        .enumerate()
        .map(|(i, mut r)| {
            r.offset_delta = i as i32;
            r
        })
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    // The first kept record's offset becomes the new base; timestamps stay relative to the
    // unchanged base timestamp.
    let new_base = batch.base_offset() + first_delta.max(0);
    let spec = BatchSpec {
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
    encode_batch(&spec, &kept)
        .map(Some)
        .map_err(|source| RenumberError::Encode {
            base_offset: batch.base_offset(),
            source,
        })
}
