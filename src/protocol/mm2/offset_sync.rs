//! `OffsetSync` (apache/kafka `connect/mirror/.../OffsetSync.java`): "the source record at
//! `upstream_offset` of `topic`-`partition` was written to the remote partition at
//! `downstream_offset`". Both are offsets of a record, not "next" offsets.
//!
//! Key: `topic` STRING (the source topic, not renamed), `partition` INT32.
//! Value: `upstreamOffset` INT64, `offset` INT64 (downstream). No version header: the value
//! is exactly 16 bytes.

use bytes::Bytes;

use super::{Mm2Error, Mm2Record, Reader, Writer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetSync {
    /// The source topic name as on the source cluster.
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
}

impl Mm2Record for OffsetSync {
    const NAME: &'static str = "OffsetSync";

    fn encode_key(&self) -> Result<Bytes, Mm2Error> {
        Ok(Writer::new(Self::NAME, 6 + self.topic.len())
            .string("topic", &self.topic)?
            .i32(self.partition)
            .finish())
    }

    fn encode_value(&self) -> Result<Bytes, Mm2Error> {
        Ok(Writer::new(Self::NAME, 16)
            .i64(self.upstream_offset)
            .i64(self.downstream_offset)
            .finish())
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<Self, Mm2Error> {
        let mut k = Reader::new(Self::NAME, "key", key);
        let topic = k.string("topic")?;
        let partition = k.i32("partition")?;
        let mut v = Reader::new(Self::NAME, "value", value);
        let upstream_offset = v.i64("upstreamOffset")?;
        let downstream_offset = v.i64("offset")?;
        Ok(Self {
            topic,
            partition,
            upstream_offset,
            downstream_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn orders() -> OffsetSync {
        OffsetSync {
            topic: "orders".to_owned(),
            partition: 3,
            upstream_offset: 1000,
            downstream_offset: 990,
        }
    }

    /// The worked example of mm2-compat.md §2.2, byte by byte.
    #[test]
    fn encodes_the_worked_example() {
        let key = [
            0x00, 0x06, b'o', b'r', b'd', b'e', b'r', b's', 0x00, 0x00, 0x00, 0x03,
        ];
        let value = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xde,
        ];
        let s = orders();
        assert_eq!(&s.encode_key().unwrap()[..], &key);
        assert_eq!(&s.encode_value().unwrap()[..], &value);
        assert_eq!(OffsetSync::decode(&key, &value).unwrap(), s);
    }

    #[test]
    fn negative_offsets_are_big_endian_twos_complement() {
        let s = OffsetSync {
            topic: String::new(),
            partition: -1,
            upstream_offset: -1,
            downstream_offset: i64::MIN,
        };
        assert_eq!(&s.encode_key().unwrap()[..], &[0, 0, 0xff, 0xff, 0xff, 0xff]);
        let v = s.encode_value().unwrap();
        assert_eq!(&v[..8], &[0xff; 8]);
        assert_eq!(&v[8..], &[0x80, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn trailing_bytes_are_ignored_and_short_input_is_an_error() {
        let s = orders();
        let mut key = s.encode_key().unwrap().to_vec();
        let mut value = s.encode_value().unwrap().to_vec();
        key.push(9);
        value.extend_from_slice(&[1, 2, 3]);
        assert_eq!(OffsetSync::decode(&key, &value).unwrap(), s);
        assert!(matches!(
            OffsetSync::decode(&key, &value[..15]),
            Err(Mm2Error::Truncated {
                field: "offset",
                part: "value",
                at: 8,
                needed: 8,
                available: 7,
                ..
            })
        ));
        assert!(matches!(
            OffsetSync::decode(&key[..9], &value),
            Err(Mm2Error::Truncated {
                field: "partition",
                part: "key",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trips(topic in "[a-zA-Z0-9._-]{0,249}", partition: i32, u: i64, d: i64) {
            let s = OffsetSync { topic, partition, upstream_offset: u, downstream_offset: d };
            let decoded = OffsetSync::decode(&s.encode_key().unwrap(), &s.encode_value().unwrap()).unwrap();
            prop_assert_eq!(decoded, s);
        }
    }
}
