//! MirrorMaker 2's committed source positions: the Connect source offsets its
//! `MirrorSourceConnector` tasks store in `mm2-offsets.<source>.internal` on the target.
//!
//! Connect stores them with its JSON converter, schemas off (apache/kafka:
//! connect/runtime/.../storage/OffsetStorageWriter.java, connect/mirror/.../MirrorUtils.java):
//!
//! ```text
//! key    ["MirrorSourceConnector", {"cluster": "<source alias>", "partition": 3, "topic": "orders"}]
//! value  {"offset": 41}          the source offset of the last record MM2 had delivered
//! ```
//!
//! MM2 resumes at `offset + 1` (MirrorSourceTask.java). A null value is a tombstone (the
//! offsets were reset). The topic may have many partitions; a key always lands in the same one,
//! so the last record read for a key, in offset order within its partition, is the current
//! value.

use std::collections::BTreeMap;

use serde_json::Value;

/// The connector whose offsets count: the class's simple name is the connector's name in
/// dedicated mode.
pub const SOURCE_CONNECTOR: &str = "MirrorSourceConnector";

/// A source partition MM2 replicates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePartition {
    pub topic: String,
    pub partition: i32,
}

/// What one record of the offsets topic says, if it is about `MirrorSourceConnector` and the
/// source cluster `source_alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetRecord {
    /// The last delivered source offset of a partition.
    Committed(SourcePartition, i64),
    /// The partition's offset was removed.
    Cleared(SourcePartition),
}

/// Why a record of the offsets topic was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetRecordError {
    #[error("the key is not JSON: {0}")]
    KeyNotJson(String),
    #[error("the key is not [connector, {{cluster, topic, partition}}]: {0}")]
    KeyShape(String),
    #[error("the value is not JSON: {0}")]
    ValueNotJson(String),
    #[error("the value has no integer \"offset\": {0}")]
    ValueShape(String),
}

/// Decodes one record; `Ok(None)` for records of other connectors or other source clusters
/// (MM2's checkpoint and heartbeat connectors keep offsets in the same topic).
pub fn decode(
    key: &[u8],
    value: Option<&[u8]>,
    source_alias: &str,
) -> Result<Option<OffsetRecord>, OffsetRecordError> {
    let shown = |b: &[u8]| String::from_utf8_lossy(b).chars().take(200).collect::<String>();
    let key_json: Value =
        serde_json::from_slice(key).map_err(|_| OffsetRecordError::KeyNotJson(shown(key)))?;
    let Some([connector, partition]) = key_json.as_array().map(Vec::as_slice) else {
        return Err(OffsetRecordError::KeyShape(shown(key)));
    };
    let Some(connector) = connector.as_str() else {
        return Err(OffsetRecordError::KeyShape(shown(key)));
    };
    if connector != SOURCE_CONNECTOR {
        return Ok(None);
    }
    let cluster = partition.get("cluster").and_then(Value::as_str);
    let topic = partition.get("topic").and_then(Value::as_str);
    let number = partition
        .get("partition")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok());
    let (Some(cluster), Some(topic), Some(number)) = (cluster, topic, number) else {
        return Err(OffsetRecordError::KeyShape(shown(key)));
    };
    if cluster != source_alias {
        return Ok(None);
    }
    let sp = SourcePartition {
        topic: topic.to_owned(),
        partition: number,
    };
    let Some(value) = value else {
        return Ok(Some(OffsetRecord::Cleared(sp)));
    };
    let value_json: Value =
        serde_json::from_slice(value).map_err(|_| OffsetRecordError::ValueNotJson(shown(value)))?;
    if value_json.is_null() {
        return Ok(Some(OffsetRecord::Cleared(sp)));
    }
    let offset = value_json
        .get("offset")
        .and_then(Value::as_i64)
        .ok_or_else(|| OffsetRecordError::ValueShape(shown(value)))?;
    Ok(Some(OffsetRecord::Committed(sp, offset)))
}

/// Folds records read in order (per offsets-topic partition) into the current committed
/// offset per source partition.
pub fn fold(records: impl IntoIterator<Item = OffsetRecord>) -> BTreeMap<SourcePartition, i64> {
    let mut current = BTreeMap::new();
    for r in records {
        match r {
            OffsetRecord::Committed(sp, offset) => {
                let _ = current.insert(sp, offset);
            }
            OffsetRecord::Cleared(sp) => {
                let _ = current.remove(&sp);
            }
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(topic: &str, partition: i32) -> SourcePartition {
        SourcePartition {
            topic: topic.to_owned(),
            partition,
        }
    }

    #[test]
    fn decodes_mm2_source_offsets() {
        // As MM2 4.3 writes them (the map's keys sorted by the JSON converter).
        let key = br#"["MirrorSourceConnector",{"cluster":"source","partition":3,"topic":"orders"}]"#;
        assert_eq!(
            decode(key, Some(br#"{"offset":41}"#), "source").unwrap(),
            Some(OffsetRecord::Committed(sp("orders", 3), 41))
        );
        assert_eq!(
            decode(key, None, "source").unwrap(),
            Some(OffsetRecord::Cleared(sp("orders", 3)))
        );
        assert_eq!(decode(key, Some(b"{\"offset\":41}"), "other").unwrap(), None);
    }

    #[test]
    fn other_connectors_are_ignored() {
        let key = br#"["MirrorCheckpointConnector",{"group":"g","topic":"t","partition":0}]"#;
        assert_eq!(decode(key, Some(br#"{"offset":0}"#), "source").unwrap(), None);
    }

    #[test]
    fn malformed_records_are_errors() {
        assert!(matches!(
            decode(b"not json", Some(b"{}"), "s"),
            Err(OffsetRecordError::KeyNotJson(_))
        ));
        assert!(matches!(
            decode(br#"["MirrorSourceConnector",{"cluster":"s"}]"#, Some(b"{}"), "s"),
            Err(OffsetRecordError::KeyShape(_))
        ));
        let key = br#"["MirrorSourceConnector",{"cluster":"s","partition":0,"topic":"t"}]"#;
        assert!(matches!(
            decode(key, Some(br#"{"offset":"x"}"#), "s"),
            Err(OffsetRecordError::ValueShape(_))
        ));
    }

    #[test]
    fn the_last_record_per_partition_wins_and_tombstones_clear() {
        let folded = fold([
            OffsetRecord::Committed(sp("a", 0), 5),
            OffsetRecord::Committed(sp("a", 1), 7),
            OffsetRecord::Committed(sp("a", 0), 9),
            OffsetRecord::Cleared(sp("a", 1)),
        ]);
        assert_eq!(folded.into_iter().collect::<Vec<_>>(), [(sp("a", 0), 9)]);
    }
}
