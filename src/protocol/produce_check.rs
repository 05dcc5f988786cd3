//! The checks a Kafka broker applies to the records of one partition of a Produce request
//! (`ProduceRequest.validateRecords` and `LogValidator` in apache/kafka) that a forwarder can
//! trip over. The fake broker of the test kit and the synthetic sink of `kmirror bench` both
//! answer with these, so a batch either would refuse is one a real broker refuses too.

use bytes::Bytes;

use super::batch::{BatchIter, BatchKind, RecordBatch};
use super::errors;

const INVALID_TXN_STATE: i16 = 48;

/// The one batch of a partition's records, or the Kafka error code a broker would answer.
pub fn validate_produce(records: Option<&Bytes>) -> Result<RecordBatch, i16> {
    let records = records.ok_or(errors::INVALID_RECORD)?;
    let mut iter = BatchIter::new(records.clone());
    let batch = match iter.next() {
        Some(Ok(b)) => b,
        _ => return Err(errors::INVALID_RECORD),
    };
    // Exactly one batch per partition from Produce v3 on.
    if iter.next().is_some() || batch.len() != records.len() {
        return Err(errors::INVALID_RECORD);
    }
    if batch.verify_crc().is_err() {
        return Err(errors::CORRUPT_MESSAGE);
    }
    match batch.kind() {
        BatchKind::Data => {}
        BatchKind::Control | BatchKind::Empty | BatchKind::Gapped => return Err(errors::INVALID_RECORD),
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return Err(errors::INVALID_RECORD);
    }
    if batch.is_transactional() {
        // No transaction is open on the fake or synthetic broker for any producer.
        return Err(INVALID_TXN_STATE);
    }
    Ok(batch)
}
