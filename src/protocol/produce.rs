//! Produce request encoding that chains slices instead of copying batches.
//!
//! The kafka-protocol crate writes a request into one buffer and so copies every batch into
//! it. kmirror builds the frame as a list of `Bytes` chunks instead: the framing (length
//! prefix, request header, topic and partition fields, length fields) is written into one small
//! buffer that is then cut into pieces, and between those pieces each batch appears as its own
//! header and records slices, the same allocations the caller passed in. The connection writes
//! the chunks with vectored writes, so a fetched batch reaches the socket without a user-space
//! copy of its records.
//!
//! Wire format, versions 3 to 12 (apache/kafka `ProduceRequest.json`, `RequestHeader.json`):
//!
//! ```text
//! frame          = length:i32 header body          length counts header and body
//! header v1      = api_key:i16 api_version:i16 correlation_id:i32 client_id:nullable string
//! header v2      = header v1, then an empty tagged-field section    (Produce v9 and later)
//! body           = transactional_id:nullable string acks:i16 timeout_ms:i32 topic_data:[topic]
//! topic          = name:string partition_data:[partition]
//! partition      = index:i32 records:nullable bytes
//! ```
//!
//! Up to v8 a string is an `i16` length then the bytes (-1 for null), an array an `i32` count,
//! a byte field an `i32` length. From v9 on (flexible versions) strings, arrays and byte fields
//! carry an unsigned varint of length + 1 (0 for null), and every structure (partition, topic,
//! the body) ends with a tagged-field section, here always empty: a single 0 byte. The client
//! id in the header keeps its `i16` length in every header version. Produce v13 names topics
//! by id and is not encoded here.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::codec::{CodecError, start_request_frame};
use super::frame::PREFIX_LEN;
use super::rewrite::RewrittenBatch;

/// The lowest Produce version encoded here: the first that carries a transactional id and
/// requires exactly one v2 batch per partition.
pub const MIN_VERSION: i16 = 3;
/// The highest Produce version encoded here; v13 identifies topics by id only.
pub const MAX_VERSION: i16 = 12;
/// From this version on the body uses compact lengths and tagged fields.
const FIRST_FLEXIBLE: i16 = 9;

/// One partition's entry: exactly one batch, as brokers require from v3 on.
#[derive(Debug, Clone)]
pub struct ProducePartition {
    pub partition: i32,
    pub batch: RewrittenBatch,
}

/// The entries of one topic in a request.
#[derive(Debug, Clone)]
pub struct ProduceTopic {
    pub name: String,
    pub partitions: Vec<ProducePartition>,
}

/// Encodes one whole Produce request frame (length prefix included) as chunks to be written
/// one after the other. Each batch contributes its header and records `Bytes` as chunks of
/// their own (the caller's allocations, not copies); every other chunk is a slice of one small
/// buffer holding the framing. No chunk is empty.
///
/// The transactional id is null: kmirror writes as an idempotent or plain producer. With
/// `acks = 0` the broker sends no response.
///
/// Fails on a version outside 3..=12, a client id or topic name longer than 32767 bytes, or
/// a frame larger than `i32::MAX` bytes.
pub fn encode_produce_request(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    acks: i16,
    timeout_ms: i32,
    topics: &[ProduceTopic],
) -> Result<Vec<Bytes>, CodecError> {
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(encode_error(
            version,
            format!("kmirror encodes Produce versions {MIN_VERSION} to {MAX_VERSION} only"),
        ));
    }
    let batches: usize = topics.iter().map(|t| t.partitions.len()).sum();
    // Fixed fields, plus per topic its name and array lengths, per partition its index, length
    // and tagged fields: enough that the framing buffer never grows.
    let capacity =
        64 + client_id.len() + topics.iter().map(|t| t.name.len() + 16).sum::<usize>() + batches * 16;
    let mut w = Writer {
        buf: BytesMut::with_capacity(capacity),
        flexible: version >= FIRST_FLEXIBLE,
        version,
    };
    let start = start_request_frame(&mut w.buf, ApiKey::Produce, version, correlation_id, client_id)?;

    // Where each batch goes: its position in the framing buffer, and the batch.
    let mut marks: Vec<(usize, &RewrittenBatch)> = Vec::with_capacity(batches);
    let mut batch_bytes = 0usize;

    w.null_string();
    w.buf.put_i16(acks);
    w.buf.put_i32(timeout_ms);
    w.array_len(topics.len())?;
    for topic in topics {
        w.string(&topic.name)?;
        w.array_len(topic.partitions.len())?;
        for p in &topic.partitions {
            w.buf.put_i32(p.partition);
            w.bytes_len(p.batch.len())?;
            marks.push((w.buf.len(), &p.batch));
            batch_bytes = batch_bytes.saturating_add(p.batch.len());
            w.tagged_fields();
        }
        w.tagged_fields();
    }
    w.tagged_fields();

    let frame_len = (w.buf.len() - start - PREFIX_LEN).saturating_add(batch_bytes);
    let prefix = i32::try_from(frame_len).map_err(|_| {
        encode_error(
            version,
            format!(
                "request of {frame_len} bytes exceeds the largest frame of {} bytes",
                i32::MAX
            ),
        )
    })?;
    w.buf[start..start + PREFIX_LEN].copy_from_slice(&prefix.to_be_bytes());

    let mut framing = w.buf.freeze();
    let mut cut = 0;
    let mut chunks = Vec::with_capacity(2 + 3 * marks.len());
    let mut push = |chunk: Bytes| {
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    };
    for (at, batch) in marks {
        push(framing.split_to(at - cut));
        cut = at;
        push(batch.header().clone());
        push(batch.records().clone());
    }
    push(framing);
    Ok(chunks)
}

fn encode_error(version: i16, message: String) -> CodecError {
    CodecError::Encode {
        api: ApiKey::Produce,
        version,
        message,
    }
}

/// The framing buffer and the encoding rules of one version.
struct Writer {
    buf: BytesMut,
    flexible: bool,
    version: i16,
}

impl Writer {
    fn unsigned_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// A length as the classic `i32` or the compact `length + 1` varint. Byte fields and
    /// arrays share the limit of `i32::MAX - 1`, so that the compact form fits an `i32` too.
    fn length(&mut self, what: &str, n: usize) -> Result<(), CodecError> {
        let n = i32::try_from(n)
            .ok()
            .filter(|n| *n < i32::MAX)
            .ok_or_else(|| encode_error(self.version, format!("{what} of length {n} is too long")))?;
        if self.flexible {
            self.unsigned_varint(n as u32 + 1);
        } else {
            self.buf.put_i32(n);
        }
        Ok(())
    }

    fn array_len(&mut self, n: usize) -> Result<(), CodecError> {
        self.length("array", n)
    }

    fn bytes_len(&mut self, n: usize) -> Result<(), CodecError> {
        self.length("records", n)
    }

    /// Kafka limits strings to 32767 bytes in both encodings.
    fn string(&mut self, s: &str) -> Result<(), CodecError> {
        let len = i16::try_from(s.len()).map_err(|_| {
            encode_error(
                self.version,
                format!(
                    "string of {} bytes exceeds the limit of {} bytes",
                    s.len(),
                    i16::MAX
                ),
            )
        })?;
        if self.flexible {
            self.unsigned_varint(len as u32 + 1);
        } else {
            self.buf.put_i16(len);
        }
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    fn null_string(&mut self) {
        if self.flexible {
            self.unsigned_varint(0);
        } else {
            self.buf.put_i16(-1);
        }
    }

    /// An empty tagged-field section (flexible versions only).
    fn tagged_fields(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests;
