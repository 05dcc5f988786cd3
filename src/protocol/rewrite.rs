//! Header rewrite: give a batch a new producer identity without touching its records.
//!
//! The CRC-32C covers the attributes through the end of the batch, so changing the producer
//! id, epoch, base sequence or an attribute bit needs a new CRC. The batch is read once, to
//! verify its CRC as it arrived; the new CRC follows from the old one and the difference of
//! the two 40-byte header tails (`crc::shift`), without a second pass over the records. The
//! result is a new 61-byte header plus the original records `Bytes`: no payload byte is
//! copied.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{self, BatchError, CRC_START, HEADER_LEN, RecordBatch};

/// The producer fields a rewritten batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerIdentity {
    /// No producer: the broker applies no idempotence checks.
    pub const NONE: Self = Self {
        producer_id: batch::NO_PRODUCER_ID,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// What to change besides the producer identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewriteOptions {
    /// Clear the LogAppendTime bit: a LogAppendTime target topic refuses a batch that carries
    /// it, and a CreateTime one would read the records' own timestamps anyway
    /// (`protocol::timestamps`). The replication engine always sets it.
    pub clear_log_append_time: bool,
}

/// A batch ready to produce: a new header and the untouched records of the source batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrittenBatch {
    header: Bytes,
    records: Bytes,
}

impl RewrittenBatch {
    /// Wraps a whole batch that is sent as it is (one that needs no rewrite, or one the
    /// renumber path has already rebuilt) so that it travels the same way as a rewritten one:
    /// header and records are slices of `bytes`, nothing is copied.
    ///
    /// Checks the framing (exactly one complete v2 batch with a sane header) but not the
    /// CRC: nothing here gives the bytes a new checksum, and the receiving broker verifies it.
    pub fn from_batch_bytes(bytes: Bytes) -> Result<Self, BatchError> {
        let batch = RecordBatch::try_from_bytes(bytes)?;
        let bytes = batch.into_bytes();
        Ok(Self {
            header: bytes.slice(..HEADER_LEN),
            records: bytes.slice(HEADER_LEN..),
        })
    }
    pub fn header(&self) -> &Bytes {
        &self.header
    }
    /// The records section, the same allocation as the source batch's.
    pub fn records(&self) -> &Bytes {
        &self.records
    }
    pub fn len(&self) -> usize {
        self.header.len() + self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The two slices to write one after the other.
    pub fn chunks(&self) -> [&Bytes; 2] {
        [&self.header, &self.records]
    }
    /// One contiguous copy, for encoders that need a single buffer.
    pub fn to_contiguous(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.len());
        b.put_slice(&self.header);
        b.put_slice(&self.records);
        b.freeze()
    }
}

/// Rewrites the producer fields of `batch`, clears its transactional bit, resets the fields
/// a producer leaves to the broker (base offset 0, leader epoch -1) and computes the new CRC.
///
/// Fails with [`BatchError::CrcMismatch`] when the batch as received is corrupt: a rewrite
/// must never give damaged bytes a valid checksum.
pub fn rewrite(
    batch: &RecordBatch,
    identity: ProducerIdentity,
    options: RewriteOptions,
) -> Result<RewrittenBatch, BatchError> {
    let src = batch.as_bytes();
    let records = batch.records();

    let computed = batch.computed_crc();
    if computed != batch.crc() {
        return Err(BatchError::CrcMismatch {
            base_offset: batch.base_offset(),
            stored: batch.crc(),
            computed,
        });
    }

    let mut header = BytesMut::from(&src[..HEADER_LEN]);
    header[batch::BASE_OFFSET..batch::BASE_OFFSET + 8].copy_from_slice(&0i64.to_be_bytes());
    header[batch::LEADER_EPOCH..batch::LEADER_EPOCH + 4].copy_from_slice(&(-1i32).to_be_bytes());
    let mut attributes = batch.attributes() & !batch::TRANSACTIONAL_BIT;
    if options.clear_log_append_time {
        attributes &= !batch::TIMESTAMP_TYPE_BIT;
    }
    header[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    header[batch::PRODUCER_ID..batch::PRODUCER_ID + 8].copy_from_slice(&identity.producer_id.to_be_bytes());
    header[batch::PRODUCER_EPOCH..batch::PRODUCER_EPOCH + 2]
        .copy_from_slice(&identity.producer_epoch.to_be_bytes());
    header[batch::BASE_SEQUENCE..batch::BASE_SEQUENCE + 4]
        .copy_from_slice(&identity.base_sequence.to_be_bytes());
    let tails = crc32c::crc32c(&src[CRC_START..HEADER_LEN]) ^ crc32c::crc32c(&header[CRC_START..HEADER_LEN]);
    let crc = batch.crc() ^ super::crc::shift(tails, records.len());
    header[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());

    Ok(RewrittenBatch {
        header: header.freeze(),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::BatchKind;
    use crate::protocol::records::{BatchSpec, Record, decode_records, encode_batch};
    use proptest::prelude::*;

    fn source_batch(attributes: i16, n: i32, value_len: usize) -> RecordBatch {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                offset_delta: i,
                timestamp_delta: i.into(),
                value: Some(Bytes::from(vec![i as u8; value_len])),
                ..Record::default()
            })
            .collect();
        let spec = BatchSpec {
            base_offset: 1000,
            partition_leader_epoch: 7,
            attributes,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_000 + i64::from(n),
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 17,
            ..BatchSpec::default()
        };
        RecordBatch::try_from_bytes(encode_batch(&spec, &records).unwrap()).unwrap()
    }

    #[test]
    fn sets_identity_clears_transactional_and_keeps_records() {
        let src = source_batch(batch::TRANSACTIONAL_BIT, 5, 100);
        let identity = ProducerIdentity {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: 40,
        };
        let out = rewrite(&src, identity, RewriteOptions::default()).unwrap();
        assert!(
            std::ptr::eq(out.records().as_ptr(), src.records().as_ptr()),
            "records must not be copied"
        );
        let new = RecordBatch::try_from_bytes(out.to_contiguous()).unwrap();
        new.verify_crc().unwrap();
        assert_eq!(
            (new.producer_id(), new.producer_epoch(), new.base_sequence()),
            (9, 0, 40)
        );
        assert!(!new.is_transactional());
        assert_eq!((new.base_offset(), new.partition_leader_epoch()), (0, -1));
        assert_eq!(new.records(), src.records());
        assert_eq!(new.kind(), BatchKind::Data);
        assert_eq!(decode_records(&new).unwrap(), decode_records(&src).unwrap());
    }

    #[test]
    fn refuses_to_bless_a_corrupt_batch() {
        let src = source_batch(0, 3, 10);
        let mut bytes = BytesMut::from(&src.as_bytes()[..]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let corrupt = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
        assert!(matches!(
            rewrite(&corrupt, ProducerIdentity::NONE, RewriteOptions::default()),
            Err(BatchError::CrcMismatch {
                base_offset: 1000,
                ..
            })
        ));
    }

    #[test]
    fn clears_log_append_time_on_request() {
        let src = source_batch(batch::TIMESTAMP_TYPE_BIT, 2, 1);
        let keep = rewrite(&src, ProducerIdentity::NONE, RewriteOptions::default()).unwrap();
        assert!(
            RecordBatch::try_from_bytes(keep.to_contiguous())
                .unwrap()
                .is_log_append_time()
        );
        let opts = RewriteOptions {
            clear_log_append_time: true,
        };
        let cleared = RecordBatch::try_from_bytes(
            rewrite(&src, ProducerIdentity::NONE, opts)
                .unwrap()
                .to_contiguous(),
        )
        .unwrap();
        assert!(!cleared.is_log_append_time());
        cleared.verify_crc().unwrap();
    }

    proptest! {
        #[test]
        fn rewritten_batches_always_have_a_valid_crc_and_the_same_payload(
            attributes in any::<i16>().prop_map(|a| a & 0x78),
            n in 1..50i32,
            value_len in 0..300usize,
            producer_id in any::<i64>(),
            producer_epoch in any::<i16>(),
            base_sequence in any::<i32>(),
        ) {
            let src = source_batch(attributes, n, value_len);
            let identity = ProducerIdentity { producer_id, producer_epoch, base_sequence };
            let out = rewrite(&src, identity, RewriteOptions::default()).unwrap();
            let new = RecordBatch::try_from_bytes(out.to_contiguous()).unwrap();
            prop_assert!(new.verify_crc().is_ok());
            prop_assert_eq!(new.records(), src.records());
            prop_assert_eq!(new.producer_id(), producer_id);
            prop_assert_eq!(new.record_count(), src.record_count());
            prop_assert_eq!(new.last_offset_delta(), src.last_offset_delta());
            prop_assert_eq!(new.attributes(), src.attributes() & !batch::TRANSACTIONAL_BIT);
        }
    }
}
