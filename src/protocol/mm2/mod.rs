//! MirrorMaker 2's internal records: offset syncs, checkpoints and heartbeats, byte for byte
//! as MM2 writes them, so MM2's own checkpoint connector, `RemoteClusterUtils` and the console
//! formatters read what kmirror writes (and the reverse).
//!
//! MM2 serialises them with Kafka's legacy protocol `Schema`/`Struct` classes
//! (`clients/.../common/protocol/types`): fields concatenated in schema order, no tags or
//! names, big-endian integers, and STRING = INT16 length + UTF-8 bytes (non-nullable, a
//! negative length is an error). A reader stops after the last field of its schema, so
//! trailing bytes are ignored. Checkpoint and heartbeat values start with an INT16 version
//! (only 0 exists); offset syncs have none.
//!
//! - [`offset_sync`]: `OffsetSync` (`connect/mirror/.../OffsetSync.java`).
//! - [`checkpoint`]: `Checkpoint` (`connect/mirror-client/.../Checkpoint.java`).
//! - [`heartbeat`]: `Heartbeat` (`connect/mirror-client/.../Heartbeat.java`).
//!
//! Decoding takes untrusted bytes (anyone may write to these topics) and returns a typed
//! [`Mm2Error`], never a panic.

pub mod checkpoint;
pub mod heartbeat;
pub mod offset_sync;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

pub use checkpoint::Checkpoint;
pub use heartbeat::Heartbeat;
pub use offset_sync::OffsetSync;

/// The longest STRING the legacy protocol types can carry (`Short.MAX_VALUE`).
pub const MAX_STRING_LEN: usize = i16::MAX as usize;

/// The only value-schema version MM2 has ever written for checkpoints and heartbeats.
pub const VERSION_0: i16 = 0;

/// Why bytes are not a valid MM2 record, or why a record cannot be encoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mm2Error {
    #[error("{record} {part}: field {field} needs {needed} bytes at byte {at}, only {available} left")]
    Truncated {
        record: &'static str,
        part: &'static str,
        field: &'static str,
        at: usize,
        needed: usize,
        available: usize,
    },
    #[error("{record} {part}: field {field} has a negative string length {length}")]
    NegativeLength {
        record: &'static str,
        part: &'static str,
        field: &'static str,
        length: i16,
    },
    #[error("{record} {part}: field {field} is not valid UTF-8")]
    InvalidUtf8 {
        record: &'static str,
        part: &'static str,
        field: &'static str,
    },
    #[error("{record} value: unsupported version {version} (only 0 exists)")]
    UnsupportedVersion { record: &'static str, version: i16 },
    #[error("{record}: field {field} is {length} bytes, longer than a STRING can hold ({MAX_STRING_LEN})")]
    StringTooLong {
        record: &'static str,
        field: &'static str,
        length: usize,
    },
}

/// A key and value of one MM2 internal record, as written to partition 0 of its topic.
pub trait Mm2Record: Sized {
    /// The record type's name in messages (`OffsetSync`, `Checkpoint`, `Heartbeat`).
    const NAME: &'static str;

    fn encode_key(&self) -> Result<Bytes, Mm2Error>;
    fn encode_value(&self) -> Result<Bytes, Mm2Error>;
    fn decode(key: &[u8], value: &[u8]) -> Result<Self, Mm2Error>;
}

/// Appends fields in schema order.
#[derive(Debug)]
pub(crate) struct Writer {
    record: &'static str,
    buf: BytesMut,
}

impl Writer {
    pub(crate) fn new(record: &'static str, capacity: usize) -> Self {
        Self {
            record,
            buf: BytesMut::with_capacity(capacity),
        }
    }

    pub(crate) fn i16(mut self, v: i16) -> Self {
        self.buf.put_i16(v);
        self
    }

    pub(crate) fn i32(mut self, v: i32) -> Self {
        self.buf.put_i32(v);
        self
    }

    pub(crate) fn i64(mut self, v: i64) -> Self {
        self.buf.put_i64(v);
        self
    }

    pub(crate) fn string(mut self, field: &'static str, s: &str) -> Result<Self, Mm2Error> {
        let length = i16::try_from(s.len()).map_err(|_| Mm2Error::StringTooLong {
            record: self.record,
            field,
            length: s.len(),
        })?;
        self.buf.put_i16(length);
        self.buf.put_slice(s.as_bytes());
        Ok(self)
    }

    pub(crate) fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}

/// Reads fields in schema order from untrusted bytes; trailing bytes are left unread, as
/// MM2's readers leave them.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    record: &'static str,
    part: &'static str,
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(record: &'static str, part: &'static str, data: &'a [u8]) -> Self {
        Self {
            record,
            part,
            data,
            at: 0,
        }
    }

    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Mm2Error> {
        let bytes = self.slice(field, N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn slice(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Mm2Error> {
        let rest = &self.data[self.at..];
        if rest.len() < n {
            return Err(Mm2Error::Truncated {
                record: self.record,
                part: self.part,
                field,
                at: self.at,
                needed: n,
                available: rest.len(),
            });
        }
        self.at += n;
        Ok(&rest[..n])
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, Mm2Error> {
        self.take(field).map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, Mm2Error> {
        self.take(field).map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, Mm2Error> {
        self.take(field).map(i64::from_be_bytes)
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, Mm2Error> {
        let length = self.i16(field)?;
        let n = usize::try_from(length).map_err(|_| Mm2Error::NegativeLength {
            record: self.record,
            part: self.part,
            field,
            length,
        })?;
        let bytes = self.slice(field, n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Mm2Error::InvalidUtf8 {
            record: self.record,
            part: self.part,
            field,
        })
    }

    /// Reads the INT16 version header of a value and accepts only version 0. (MM2 checks it
    /// with a Java `assert` only; refusing an unknown layout is safer than misreading it, and
    /// MM2's own client skips records it cannot read.)
    pub(crate) fn version_0(&mut self) -> Result<(), Mm2Error> {
        match self.i16("version")? {
            VERSION_0 => Ok(()),
            version => Err(Mm2Error::UnsupportedVersion {
                record: self.record,
                version,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_length_prefixed_and_bounded() {
        let w = Writer::new("T", 8).string("s", "ab").unwrap().finish();
        assert_eq!(&w[..], &[0, 2, b'a', b'b']);
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert!(matches!(
            Writer::new("T", 8).string("s", &long),
            Err(Mm2Error::StringTooLong { length, .. }) if length == MAX_STRING_LEN + 1
        ));
        let max = "x".repeat(MAX_STRING_LEN);
        let w = Writer::new("T", 8).string("s", &max).unwrap().finish();
        assert_eq!(&w[..2], &[0x7f, 0xff]);
    }

    #[test]
    fn reader_reports_where_it_stopped() {
        let mut r = Reader::new("T", "key", &[0, 5, b'a']);
        assert_eq!(
            r.string("topic"),
            Err(Mm2Error::Truncated {
                record: "T",
                part: "key",
                field: "topic",
                at: 2,
                needed: 5,
                available: 1,
            })
        );
        let mut r = Reader::new("T", "key", &[0xff, 0xff]);
        assert!(matches!(
            r.string("topic"),
            Err(Mm2Error::NegativeLength { length: -1, .. })
        ));
        let mut r = Reader::new("T", "key", &[0, 1, 0xff]);
        assert!(matches!(r.string("topic"), Err(Mm2Error::InvalidUtf8 { .. })));
    }
}
