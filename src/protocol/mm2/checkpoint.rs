//! `Checkpoint` (apache/kafka `connect/mirror-client/.../Checkpoint.java`): a consumer group's
//! committed source offset and its translation on the target.
//!
//! Key: `group` STRING, `topic` STRING (the downstream, renamed topic), `partition` INT32.
//! Value: `version` INT16 (0), then `upstreamOffset` INT64, `offset` INT64 (downstream),
//! `metadata` STRING (the source commit's metadata; MM2 writes `""` for null).

use bytes::Bytes;

use super::{Mm2Error, Mm2Record, Reader, VERSION_0, Writer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub group: String,
    /// The topic name on the target (e.g. `A.orders`).
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset on the source.
    pub upstream_offset: i64,
    /// The translated offset on the target.
    pub downstream_offset: i64,
    pub metadata: String,
}

impl Mm2Record for Checkpoint {
    const NAME: &'static str = "Checkpoint";

    fn encode_key(&self) -> Result<Bytes, Mm2Error> {
        Ok(Writer::new(Self::NAME, 8 + self.group.len() + self.topic.len())
            .string("group", &self.group)?
            .string("topic", &self.topic)?
            .i32(self.partition)
            .finish())
    }

    fn encode_value(&self) -> Result<Bytes, Mm2Error> {
        Ok(Writer::new(Self::NAME, 20 + self.metadata.len())
            .i16(VERSION_0)
            .i64(self.upstream_offset)
            .i64(self.downstream_offset)
            .string("metadata", &self.metadata)?
            .finish())
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<Self, Mm2Error> {
        let mut k = Reader::new(Self::NAME, "key", key);
        let group = k.string("group")?;
        let topic = k.string("topic")?;
        let partition = k.i32("partition")?;
        let mut v = Reader::new(Self::NAME, "value", value);
        v.version_0()?;
        Ok(Self {
            group,
            topic,
            partition,
            upstream_offset: v.i64("upstreamOffset")?,
            downstream_offset: v.i64("offset")?,
            metadata: v.string("metadata")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn g1() -> Checkpoint {
        Checkpoint {
            group: "g1".to_owned(),
            topic: "A.orders".to_owned(),
            partition: 3,
            upstream_offset: 1000,
            downstream_offset: 991,
            metadata: String::new(),
        }
    }

    /// The worked example of mm2-compat.md §2.3, byte by byte (value 20 bytes).
    #[test]
    fn encodes_the_worked_example() {
        let key = [
            0x00, 0x02, b'g', b'1', 0x00, 0x08, b'A', b'.', b'o', b'r', b'd', b'e', b'r', b's', 0x00, 0x00,
            0x00, 0x03,
        ];
        let value = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x03, 0xdf, 0x00, 0x00,
        ];
        let c = g1();
        assert_eq!(&c.encode_key().unwrap()[..], &key);
        assert_eq!(&c.encode_value().unwrap()[..], &value);
        assert_eq!(Checkpoint::decode(&key, &value).unwrap(), c);
    }

    #[test]
    fn metadata_follows_the_offsets() {
        let c = Checkpoint {
            metadata: "m\u{e9}".to_owned(),
            ..g1()
        };
        let v = c.encode_value().unwrap();
        assert_eq!(&v[18..], &[0x00, 0x03, b'm', 0xc3, 0xa9]);
        assert_eq!(Checkpoint::decode(&c.encode_key().unwrap(), &v).unwrap(), c);
    }

    #[test]
    fn refuses_other_versions_and_short_values() {
        let c = g1();
        let key = c.encode_key().unwrap();
        let mut value = c.encode_value().unwrap().to_vec();
        assert!(matches!(
            Checkpoint::decode(&key, &value[..19]),
            Err(Mm2Error::Truncated {
                field: "metadata",
                ..
            })
        ));
        value[1] = 1;
        assert_eq!(
            Checkpoint::decode(&key, &value),
            Err(Mm2Error::UnsupportedVersion {
                record: "Checkpoint",
                version: 1
            })
        );
        assert!(matches!(
            Checkpoint::decode(&key, &[]),
            Err(Mm2Error::Truncated { field: "version", .. })
        ));
    }

    #[test]
    fn refuses_to_encode_an_oversized_metadata() {
        let c = Checkpoint {
            metadata: "x".repeat(40_000),
            ..g1()
        };
        assert!(matches!(
            c.encode_value(),
            Err(Mm2Error::StringTooLong {
                field: "metadata",
                length: 40_000,
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trips(group in ".{0,40}", topic in "[a-zA-Z0-9._-]{0,249}", partition: i32,
                       u: i64, d: i64, metadata in ".{0,40}") {
            let c = Checkpoint { group, topic, partition, upstream_offset: u, downstream_offset: d, metadata };
            let decoded = Checkpoint::decode(&c.encode_key().unwrap(), &c.encode_value().unwrap()).unwrap();
            prop_assert_eq!(decoded, c);
        }
    }
}
