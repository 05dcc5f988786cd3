//! `Heartbeat` (apache/kafka `connect/mirror-client/.../Heartbeat.java`): proof that the
//! flow from `source_alias` to `target_alias` is alive, written to `heartbeats` on the target
//! every `emit.heartbeats.interval.seconds`.
//!
//! Key: `sourceClusterAlias` STRING, `targetClusterAlias` STRING.
//! Value: `version` INT16 (0), then `timestamp` INT64 (epoch milliseconds at emission).

use bytes::Bytes;

use super::{Mm2Error, Mm2Record, Reader, VERSION_0, Writer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Heartbeat {
    pub source_alias: String,
    pub target_alias: String,
    /// Epoch milliseconds; also the record's timestamp.
    pub timestamp: i64,
}

impl Mm2Record for Heartbeat {
    const NAME: &'static str = "Heartbeat";

    fn encode_key(&self) -> Result<Bytes, Mm2Error> {
        Ok(
            Writer::new(Self::NAME, 4 + self.source_alias.len() + self.target_alias.len())
                .string("sourceClusterAlias", &self.source_alias)?
                .string("targetClusterAlias", &self.target_alias)?
                .finish(),
        )
    }

    fn encode_value(&self) -> Result<Bytes, Mm2Error> {
        Ok(Writer::new(Self::NAME, 10)
            .i16(VERSION_0)
            .i64(self.timestamp)
            .finish())
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<Self, Mm2Error> {
        let mut k = Reader::new(Self::NAME, "key", key);
        let source_alias = k.string("sourceClusterAlias")?;
        let target_alias = k.string("targetClusterAlias")?;
        let mut v = Reader::new(Self::NAME, "value", value);
        v.version_0()?;
        Ok(Self {
            source_alias,
            target_alias,
            timestamp: v.i64("timestamp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The worked example of mm2-compat.md §2.4, byte by byte (value 10 bytes).
    #[test]
    fn encodes_the_worked_example() {
        let key = [0x00, 0x01, b'A', 0x00, 0x01, b'B'];
        let value = [0x00, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00];
        let h = Heartbeat {
            source_alias: "A".to_owned(),
            target_alias: "B".to_owned(),
            timestamp: 1_700_000_000_000,
        };
        assert_eq!(&h.encode_key().unwrap()[..], &key);
        assert_eq!(&h.encode_value().unwrap()[..], &value);
        assert_eq!(Heartbeat::decode(&key, &value).unwrap(), h);
    }

    #[test]
    fn refuses_other_versions_and_bad_keys() {
        let key = [0x00, 0x01, b'A', 0x00, 0x01, b'B'];
        let value = [0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            Heartbeat::decode(&key, &value),
            Err(Mm2Error::UnsupportedVersion {
                record: "Heartbeat",
                version: -1
            })
        );
        assert!(matches!(
            Heartbeat::decode(&key[..4], &value),
            Err(Mm2Error::Truncated {
                field: "targetClusterAlias",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trips(source_alias in ".{0,20}", target_alias in ".{0,20}", timestamp: i64) {
            let h = Heartbeat { source_alias, target_alias, timestamp };
            let decoded = Heartbeat::decode(&h.encode_key().unwrap(), &h.encode_value().unwrap()).unwrap();
            prop_assert_eq!(decoded, h);
        }
    }
}
