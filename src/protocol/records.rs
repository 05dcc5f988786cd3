//! Records inside a v2 batch, for the few places that must look inside one: building batches
//! (tests, the renumber path) and decoding them (cross-checks, the renumber path).
//!
//! The kafka-protocol crate's record type keeps headers in a map and so collapses repeated
//! header keys, which KIP-82 allows and which are part of the data; this codec keeps headers
//! as an ordered list. Decompression is this module's own and bounded (`records/decompress.rs`);
//! compression reuses the kafka-protocol crate's codecs, whose output Kafka's Java consumer
//! reads (xerial-framed snappy, LZ4 frames with independent blocks).
//!
//! Record layout (`docs/implementation.html`, "Record"): length varint, attributes i8,
//! timestampDelta varlong, offsetDelta varint, key, value (varint length, -1 = null), header
//! count varint, then per header a key (varint length) and a value (varint length, -1 = null).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, None as Plain, Snappy, Zstd};
use thiserror::Error;

use super::batch::{self, CRC_START, Compression, HEADER_LEN, RecordBatch};

mod decompress;

/// One record as stored in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In order, duplicates kept; a `None` value is a null header value.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordsError {
    #[error("records section ends inside a record (record {index})")]
    Truncated { index: usize },
    #[error("record {index} has an invalid {field} length {length}")]
    BadLength {
        index: usize,
        field: &'static str,
        length: i64,
    },
    #[error("varint longer than its type allows in record {index}")]
    BadVarint { index: usize },
    #[error("cannot {action} {codec:?} records: {message}")]
    Codec {
        action: &'static str,
        codec: Compression,
        message: String,
    },
    #[error("batch declares {declared} records but holds {found}")]
    CountMismatch { declared: i32, found: usize },
    #[error("{codec:?} records inflate beyond the limit of {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
    #[error("record {index} declares {declared} bytes but its fields take {read}")]
    RecordSize {
        index: usize,
        declared: usize,
        read: usize,
    },
}

// === varints (zig-zag, as in protobuf) ===

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn get_varlong(buf: &mut Bytes, index: usize) -> Result<i64, RecordsError> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        if !buf.has_remaining() {
            return Err(RecordsError::Truncated { index });
        }
        let b = buf.get_u8();
        if shift == 63 && b > 1 {
            return Err(RecordsError::BadVarint { index });
        }
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(RecordsError::BadVarint { index })
}

fn get_varint(buf: &mut Bytes, index: usize) -> Result<i32, RecordsError> {
    let v = get_varlong(buf, index)?;
    i32::try_from(v).map_err(|_| RecordsError::BadVarint { index })
}

fn put_bytes(buf: &mut BytesMut, b: Option<&Bytes>) {
    match b {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

fn get_bytes(buf: &mut Bytes, index: usize, field: &'static str) -> Result<Option<Bytes>, RecordsError> {
    let len = get_varint(buf, index)?;
    if len == -1 {
        return Ok(None);
    }
    let n = usize::try_from(len).map_err(|_| RecordsError::BadLength {
        index,
        field,
        length: len.into(),
    })?;
    if buf.remaining() < n {
        return Err(RecordsError::Truncated { index });
    }
    Ok(Some(buf.split_to(n)))
}

impl Record {
    /// Appends the record, length prefix included.
    pub(crate) fn encode(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        body.put_i8(self.attributes);
        put_varlong(&mut body, self.timestamp_delta);
        put_varlong(&mut body, self.offset_delta.into());
        put_bytes(&mut body, self.key.as_ref());
        put_bytes(&mut body, self.value.as_ref());
        put_varlong(&mut body, self.headers.len() as i64);
        for (k, v) in &self.headers {
            put_bytes(&mut body, Some(k));
            put_bytes(&mut body, v.as_ref());
        }
        put_varlong(out, body.len() as i64);
        out.put_slice(&body);
    }

    fn decode(buf: &mut Bytes, index: usize) -> Result<Self, RecordsError> {
        let len = get_varint(buf, index)?;
        let n = usize::try_from(len).map_err(|_| RecordsError::BadLength {
            index,
            field: "record",
            length: len.into(),
        })?;
        if buf.remaining() < n || n == 0 {
            return Err(RecordsError::Truncated { index });
        }
        let mut body = buf.split_to(n);
        let attributes = body.get_i8();
        let timestamp_delta = get_varlong(&mut body, index)?;
        let offset_delta = get_varint(&mut body, index)?;
        let key = get_bytes(&mut body, index, "key")?;
        let value = get_bytes(&mut body, index, "value")?;
        let count = get_varint(&mut body, index)?;
        let count = usize::try_from(count).map_err(|_| RecordsError::BadLength {
            index,
            field: "header count",
            length: count.into(),
        })?;
        // Each header takes at least two bytes; refuse counts the body cannot hold.
        if count > body.remaining() / 2 {
            return Err(RecordsError::Truncated { index });
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let k = get_bytes(&mut body, index, "header key")?.ok_or(RecordsError::BadLength {
                index,
                field: "header key",
                length: -1,
            })?;
            headers.push((k, get_bytes(&mut body, index, "header value")?));
        }
        // Kafka refuses a record whose fields end before its declared length
        // (`apache/kafka: clients/src/main/java/org/apache/kafka/common/record/DefaultRecord.java`,
        // `readFrom`); dropping the extra bytes would not be lossless.
        if body.has_remaining() {
            return Err(RecordsError::RecordSize {
                index,
                declared: n,
                read: n - body.remaining(),
            });
        }
        Ok(Self {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        })
    }
}

fn codec_err(action: &'static str, codec: Compression, e: anyhow::Error) -> RecordsError {
    RecordsError::Codec {
        action,
        codec,
        message: format!("{e:#}"),
    }
}

/// Decompresses (when needed) and decodes every record of a batch, with no limit on the
/// decompressed size. For trusted input (tests, cross-checks); the renumber path uses
/// [`decode_records_bounded`].
pub fn decode_records(batch: &RecordBatch) -> Result<Vec<Record>, RecordsError> {
    decode_records_bounded(batch, usize::MAX)
}

/// Decompresses (when needed) and decodes every record of a batch, refusing a records section
/// that inflates beyond `max_uncompressed_bytes` ([`RecordsError::TooLarge`]) without
/// allocating more than that plus the codec's working state.
pub fn decode_records_bounded(
    batch: &RecordBatch,
    max_uncompressed_bytes: usize,
) -> Result<Vec<Record>, RecordsError> {
    let mut buf = decompress::decompress(batch.compression(), batch.records(), max_uncompressed_bytes)?;
    let declared = batch.record_count();
    // A record takes at least 7 bytes; the declared count cannot be trusted for the capacity.
    let mut records = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(buf.len() / 7));
    while buf.has_remaining() {
        records.push(Record::decode(&mut buf, records.len())?);
    }
    if i64::try_from(records.len()).ok() != Some(i64::from(declared)) {
        return Err(RecordsError::CountMismatch {
            declared,
            found: records.len(),
        });
    }
    Ok(records)
}

/// Appends the records section for `records` (encoded, then compressed with `codec`) to `out`.
pub(crate) fn encode_records_into(
    out: &mut BytesMut,
    codec: Compression,
    records: &[Record],
) -> Result<(), RecordsError> {
    let write = |b: &mut BytesMut| {
        for r in records {
            r.encode(b);
        }
        Ok(())
    };
    match codec {
        Compression::None => Plain::compress(out, write),
        Compression::Gzip => Gzip::compress(out, write),
        Compression::Snappy => Snappy::compress(out, write),
        Compression::Lz4 => Lz4::compress(out, write),
        Compression::Zstd => Zstd::compress(out, write),
    }
    .map_err(|e| codec_err("compress", codec, e))
}

/// The header fields of a batch to build; the offsets, count and CRC are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSpec {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    /// Attribute bits other than the codec (timestamp type, transactional, control, ...).
    pub attributes: i16,
    pub compression: Compression,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Overrides `lastOffsetDelta` (for gapped batches); derived from the records otherwise.
    pub last_offset_delta: Option<i32>,
}

impl Default for BatchSpec {
    fn default() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            compression: Compression::None,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: batch::NO_PRODUCER_ID,
            producer_epoch: -1,
            base_sequence: -1,
            last_offset_delta: None,
        }
    }
}

fn codec_bits(c: Compression) -> i16 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

/// Builds a complete v2 batch, CRC included.
pub fn encode_batch(spec: &BatchSpec, records: &[Record]) -> Result<Bytes, RecordsError> {
    let mut out = BytesMut::with_capacity(HEADER_LEN + records.len() * 64);
    out.put_bytes(0, HEADER_LEN);
    let codec = spec.compression;
    encode_records_into(&mut out, codec, records)?;

    let last_delta = spec
        .last_offset_delta
        .unwrap_or_else(|| records.iter().map(|r| r.offset_delta).max().unwrap_or(0));
    let batch_length = (out.len() - batch::LOG_OVERHEAD) as i32;
    let h = &mut out[..HEADER_LEN];
    h[0..8].copy_from_slice(&spec.base_offset.to_be_bytes());
    h[8..12].copy_from_slice(&batch_length.to_be_bytes());
    h[12..16].copy_from_slice(&spec.partition_leader_epoch.to_be_bytes());
    h[16] = 2;
    let attributes = (spec.attributes & !batch::COMPRESSION_MASK) | codec_bits(codec);
    h[21..23].copy_from_slice(&attributes.to_be_bytes());
    h[23..27].copy_from_slice(&last_delta.to_be_bytes());
    h[27..35].copy_from_slice(&spec.base_timestamp.to_be_bytes());
    h[35..43].copy_from_slice(&spec.max_timestamp.to_be_bytes());
    h[43..51].copy_from_slice(&spec.producer_id.to_be_bytes());
    h[51..53].copy_from_slice(&spec.producer_epoch.to_be_bytes());
    h[53..57].copy_from_slice(&spec.base_sequence.to_be_bytes());
    h[57..61].copy_from_slice(&(records.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_record() -> impl Strategy<Value = Record> {
        let bytes = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from));
        let header = (
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Bytes::from),
            bytes.clone(),
        );
        (
            any::<i64>(),
            0..1000i32,
            bytes.clone(),
            bytes,
            proptest::collection::vec(header, 0..4),
        )
            .prop_map(|(timestamp_delta, offset_delta, key, value, headers)| Record {
                attributes: 0,
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
            })
    }

    proptest! {
        #[test]
        fn batches_round_trip_with_every_codec(
            records in proptest::collection::vec(arb_record(), 1..20),
            codec in prop_oneof![Just(Compression::None), Just(Compression::Gzip),
                Just(Compression::Snappy), Just(Compression::Lz4), Just(Compression::Zstd)],
        ) {
            let spec = BatchSpec { compression: codec, ..BatchSpec::default() };
            let bytes = encode_batch(&spec, &records).unwrap();
            let batch = RecordBatch::try_from_bytes(bytes).unwrap();
            batch.verify_crc().unwrap();
            prop_assert_eq!(batch.compression(), codec);
            prop_assert_eq!(decode_records(&batch).unwrap(), records);
        }
    }

    #[test]
    fn duplicate_and_null_headers_survive() {
        let r = Record {
            key: Some(Bytes::from_static(b"k")),
            headers: vec![
                (Bytes::from_static(b"trace"), Some(Bytes::from_static(b"a"))),
                (Bytes::from_static(b"trace"), Some(Bytes::from_static(b"b"))),
                (Bytes::from_static(b"n"), None),
            ],
            ..Record::default()
        };
        let batch = RecordBatch::try_from_bytes(
            encode_batch(&BatchSpec::default(), std::slice::from_ref(&r)).unwrap(),
        )
        .unwrap();
        assert_eq!(decode_records(&batch).unwrap(), vec![r]);
    }

    #[test]
    fn varlong_extremes_round_trip() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(get_varlong(&mut b.freeze(), 0).unwrap(), v);
        }
    }
}
