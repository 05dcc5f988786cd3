//! Errors of a takeover, each naming what it was reading.

use thiserror::Error;

use super::connect_offsets::OffsetRecordError;
use super::matching::MatchError;
use crate::cluster::ClusterError;
use crate::offsets::OffsetsError;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TakeoverError {
    #[error("cluster {cluster}: {source}")]
    Cluster {
        cluster: String,
        #[source]
        source: Box<ClusterError>,
    },
    #[error("{topic}-{partition} at offset {offset}: {reason}")]
    Records {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error(
        "MM2's offsets topic {topic} on cluster {cluster} does not exist: has MirrorMaker 2 run the flow {flow}? (another name: --mm2-offsets-topic)"
    )]
    NoOffsetsTopic {
        cluster: String,
        topic: String,
        flow: String,
    },
    #[error("MM2's offsets topic {topic}, partition {partition}, offset {offset}: {source}")]
    OffsetRecord {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: OffsetRecordError,
    },
    #[error("{source_topic}-{partition} -> {target_topic}: {source}")]
    Match {
        source_topic: String,
        target_topic: String,
        partition: i32,
        #[source]
        source: MatchError,
    },
    #[error(
        "{source_topic}-{partition} -> {target_topic}: MM2 committed source offset {committed} but the target partition is empty: the target lost data or the topic was recreated"
    )]
    EmptyTarget {
        source_topic: String,
        target_topic: String,
        partition: i32,
        committed: i64,
    },
    #[error(
        "{target_topic}-{partition}: the end offset moved from {before} to {after} while the takeover read it: is MirrorMaker 2 still running? Stop it first"
    )]
    TargetMoving {
        target_topic: String,
        partition: i32,
        before: i64,
        after: i64,
    },
    #[error(
        "{key}: kmirror's offset store already has this partition (resume at source offset {resume}): a takeover only starts partitions kmirror has never replicated"
    )]
    AlreadyKnown {
        key: crate::offsets::PartitionKey,
        resume: i64,
    },
    #[error(transparent)]
    Offsets(#[from] OffsetsError),
}

impl TakeoverError {
    pub(super) fn records(topic: &str, partition: i32, offset: i64, reason: impl ToString) -> Self {
        Self::Records {
            topic: topic.to_owned(),
            partition,
            offset,
            reason: reason.to_string(),
        }
    }
}
