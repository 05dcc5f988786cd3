//! The v2 record batch as opaque bytes: a view over its 61-byte header, the framer that walks
//! the records blob of a Fetch response, and the per-batch classification a forwarder needs.
//!
//! Nothing here decompresses or parses records. Layout (`docs/implementation.html` in
//! apache/kafka, "Record Batch"), big-endian:
//!
//! ```text
//!  0 baseOffset i64        12 partitionLeaderEpoch i32   21 attributes i16 (CRC from here)
//!  8 batchLength i32       16 magic i8                   23 lastOffsetDelta i32
//! 17 crc u32 (CRC-32C)     27 baseTimestamp i64          35 maxTimestamp i64
//! 43 producerId i64        51 producerEpoch i16          53 baseSequence i32
//! 57 recordCount i32       61 records...
//! ```

use bytes::Bytes;
use thiserror::Error;

/// Bytes in front of every log entry, whatever its magic: base offset and length.
pub const LOG_OVERHEAD: usize = 12;
/// Length of the v2 batch header, records excluded.
pub const HEADER_LEN: usize = 61;
/// The CRC covers the batch from the attributes field to its end.
pub const CRC_START: usize = 21;

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const BATCH_LENGTH: usize = 8;
pub(crate) const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
pub(crate) const LAST_OFFSET_DELTA: usize = 23;
pub(crate) const BASE_TIMESTAMP: usize = 27;
pub(crate) const MAX_TIMESTAMP: usize = 35;
pub(crate) const PRODUCER_ID: usize = 43;
pub(crate) const PRODUCER_EPOCH: usize = 51;
pub(crate) const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

/// Attribute bits (`docs/implementation.html`, "Record Batch").
pub const COMPRESSION_MASK: i16 = 0x07;
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub const TRANSACTIONAL_BIT: i16 = 0x10;
pub const CONTROL_BIT: i16 = 0x20;
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Producer id of a batch written without an idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;

/// The codec named by attribute bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn from_bits(bits: i16) -> Option<Self> {
        match bits & COMPRESSION_MASK {
            0 => Some(Self::None),
            1 => Some(Self::Gzip),
            2 => Some(Self::Snappy),
            3 => Some(Self::Lz4),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// What a forwarder must do differently with a batch, read from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKind {
    /// Records with consecutive offsets: forwardable as they are.
    Data,
    /// A transaction marker. Never forwarded.
    Control,
    /// No records left (kept by the log cleaner to preserve producer state). Brokers refuse
    /// empty batches on produce.
    Empty,
    /// Records with offset gaps (compaction removed some): `lastOffsetDelta + 1 !=
    /// recordCount`. Brokers refuse these on produce; they need renumbering.
    Gapped,
}

/// Where a batch lies relative to the offset a fetch asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPosition {
    /// Every record is below the fetch offset: skip the batch.
    Before,
    /// Starts below the fetch offset and ends at or above it. Forwarding it whole repeats
    /// the records before the fetch offset.
    Straddles,
    /// Starts at or after the fetch offset.
    AtOrAfter,
}

/// Bytes that cannot be a record batch. Carries the offset of the entry and its position in
/// the records blob so that the caller can name topic, partition and offset.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error(
        "batch at offset {base_offset} (byte {position}) declares length {length}, below the minimum of {min}"
    )]
    LengthTooSmall {
        base_offset: i64,
        position: usize,
        length: i32,
        min: usize,
    },
    #[error("entry at offset {base_offset} (byte {position}) has unknown magic {magic}")]
    UnknownMagic {
        base_offset: i64,
        position: usize,
        magic: i8,
    },
    #[error(
        "entry at offset {base_offset} uses the legacy message format (magic {magic}); only v2 batches are supported"
    )]
    LegacyMagic { base_offset: i64, magic: i8 },
    #[error("batch at offset {base_offset} has an invalid header: {reason}")]
    InvalidHeader { base_offset: i64, reason: &'static str },
    #[error(
        "batch at offset {base_offset} fails its CRC-32C check (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        base_offset: i64,
        stored: u32,
        computed: u32,
    },
}

/// One complete v2 batch: a cheap `Bytes` slice of the buffer it was framed from.
///
/// Constructed only by [`BatchIter`] (or [`RecordBatch::try_from_bytes`]), which check the
/// length, the magic byte and the header fields, so the accessors cannot fail.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("record_count", &self.record_count())
            .field("attributes", &self.attributes())
            .field("producer_id", &self.producer_id())
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl RecordBatch {
    /// Checks that `bytes` is exactly one v2 batch and wraps it.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, BatchError> {
        let mut iter = BatchIter::new(bytes.clone());
        match iter.next() {
            Some(Ok(batch)) if batch.len() == bytes.len() => Ok(batch),
            Some(Err(e)) => Err(e),
            _ => Err(BatchError::InvalidHeader {
                base_offset: bytes.get(..8).map_or(-1, |b| be_i64(b, 0)),
                reason: "bytes are not exactly one complete batch",
            }),
        }
    }

    fn validated(bytes: Bytes) -> Result<Self, BatchError> {
        let batch = Self { bytes };
        let invalid = |reason| BatchError::InvalidHeader {
            base_offset: batch.base_offset(),
            reason,
        };
        if Compression::from_bits(batch.attributes()).is_none() {
            return Err(invalid("unknown compression codec"));
        }
        if batch.record_count() < 0 {
            return Err(invalid("negative record count"));
        }
        if batch.last_offset_delta() < 0 {
            return Err(invalid("negative last offset delta"));
        }
        if batch.base_offset() < 0 {
            return Err(invalid("negative base offset"));
        }
        if batch
            .base_offset()
            .checked_add(i64::from(batch.last_offset_delta()))
            .is_none()
        {
            return Err(invalid("last offset overflows"));
        }
        Ok(batch)
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The whole batch as it arrived.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
    /// The records section (after the 61-byte header), compressed or not: the part a
    /// forwarder never changes.
    pub fn records(&self) -> Bytes {
        self.bytes.slice(HEADER_LEN..)
    }

    pub fn base_offset(&self) -> i64 {
        be_i64(&self.bytes, BASE_OFFSET)
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(&self.bytes, BATCH_LENGTH)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.bytes, LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }
    pub fn crc(&self) -> u32 {
        be_i32(&self.bytes, CRC) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(&self.bytes, ATTRIBUTES)
    }
    pub fn compression(&self) -> Compression {
        // Checked in `validated`.
        Compression::from_bits(self.attributes()).unwrap_or(Compression::None)
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_BIT != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.bytes, LAST_OFFSET_DELTA)
    }
    /// Offset of the last record the batch held when written (compaction keeps it).
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }
    /// The offset to fetch after this batch. Never `base + recordCount`: compaction leaves
    /// gaps.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.bytes, BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.bytes, MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(&self.bytes, PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.bytes, PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.bytes, BASE_SEQUENCE)
    }
    pub fn record_count(&self) -> i32 {
        be_i32(&self.bytes, RECORD_COUNT)
    }

    /// The classification a forwarder acts on (see the batch decision table in docs/internals.md).
    pub fn kind(&self) -> BatchKind {
        if self.is_control() {
            BatchKind::Control
        } else if self.record_count() == 0 {
            BatchKind::Empty
        } else if i64::from(self.last_offset_delta()) + 1 != i64::from(self.record_count()) {
            BatchKind::Gapped
        } else {
            BatchKind::Data
        }
    }

    pub fn position(&self, fetch_offset: i64) -> FetchPosition {
        if self.last_offset() < fetch_offset {
            FetchPosition::Before
        } else if self.base_offset() < fetch_offset {
            FetchPosition::Straddles
        } else {
            FetchPosition::AtOrAfter
        }
    }

    /// CRC-32C of the range the stored CRC covers (attributes to the end), computed.
    pub fn computed_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[CRC_START..])
    }

    /// Checks the stored CRC against the bytes.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let computed = self.computed_crc();
        if computed == self.crc() {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch {
                base_offset: self.base_offset(),
                stored: self.crc(),
                computed,
            })
        }
    }
}

/// Walks the records blob of one partition in a Fetch response, batch by batch.
///
/// - A partial trailing batch ends the iteration quietly: brokers cut responses at a byte
///   limit, not at batch boundaries.
/// - A legacy (magic 0/1) entry yields [`BatchError::LegacyMagic`] and iteration continues
///   after it; its framing is the same as v2.
/// - Any other malformed entry yields one error and ends the iteration: after a bad length
///   nothing that follows can be trusted.
#[derive(Debug, Clone)]
pub struct BatchIter {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl BatchIter {
    pub fn new(records: Bytes) -> Self {
        Self {
            buf: records,
            pos: 0,
            done: false,
        }
    }

    /// Bytes consumed by the batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left after the last whole entry (non-zero when the response ended mid-batch).
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn fail(&mut self, e: BatchError) -> Option<Result<RecordBatch, BatchError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.len() < LOG_OVERHEAD {
            self.done = true;
            return None;
        }
        let base_offset = be_i64(rest, BASE_OFFSET);
        let length = be_i32(rest, BATCH_LENGTH);
        // Magic, at byte 16, is the last byte every format has before its own fields.
        const MIN_ANY: usize = MAGIC + 1 - LOG_OVERHEAD;
        let Some(body_len) = usize::try_from(length).ok().filter(|l| *l >= MIN_ANY) else {
            let position = self.pos;
            return self.fail(BatchError::LengthTooSmall {
                base_offset,
                position,
                length,
                min: MIN_ANY,
            });
        };
        let Some(total) = body_len.checked_add(LOG_OVERHEAD).filter(|t| *t <= rest.len()) else {
            // Partial trailing entry.
            self.done = true;
            return None;
        };
        let magic = rest[MAGIC] as i8;
        let start = self.pos;
        match magic {
            2 if total < HEADER_LEN => self.fail(BatchError::LengthTooSmall {
                base_offset,
                position: start,
                length,
                min: HEADER_LEN - LOG_OVERHEAD,
            }),
            2 => {
                self.pos += total;
                match RecordBatch::validated(self.buf.slice(start..start + total)) {
                    Ok(batch) => Some(Ok(batch)),
                    Err(e) => self.fail(e),
                }
            }
            0 | 1 => {
                self.pos += total;
                Some(Err(BatchError::LegacyMagic { base_offset, magic }))
            }
            _ => self.fail(BatchError::UnknownMagic {
                base_offset,
                position: start,
                magic,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
