use thiserror::Error;

use crate::cluster::{ClusterError, TopicId};
use crate::error::Side;
use crate::offsets::OffsetsError;
use crate::protocol::batch::BatchError;
use crate::protocol::renumber::RenumberError;

/// Why replication of a flow or partition stopped. Each variant names the partition (flow,
/// source and target topic-partition) or the side, and the offset where there is one.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplicationError {
    #[error("{side} cluster: {source}")]
    Cluster {
        side: Side,
        #[source]
        source: ClusterError,
    },
    #[error("{partition}: batch at source offset {offset}: {source}")]
    Batch {
        partition: String,
        offset: i64,
        #[source]
        source: BatchError,
    },
    #[error("{partition}: cannot rewrite the records of the batch at source offset {offset}: {source}")]
    Renumber {
        partition: String,
        offset: i64,
        #[source]
        source: RenumberError,
    },
    #[error(
        "{partition}: the batch at source offset {offset} has offset gaps (a compacted topic) and gapped_batches = fail"
    )]
    GappedBatch { partition: String, offset: i64 },
    #[error(
        "{partition}: source offset {offset} is no longer on the source (deleted by retention, or the topic was recreated); the records up to there were never replicated and kmirror will not skip them silently"
    )]
    SourceDataLost { partition: String, offset: i64 },
    #[error(
        "{partition}: source cluster {cluster} deleted topic {topic} and created it again (topic id {old} became {new}); the new topic's records are not those the target holds up to source offset {offset}, and kmirror will not mix them into it (delete or rename the target topic and this partition's state to replicate the new topic from its start)"
    )]
    SourceTopicRecreated {
        partition: String,
        cluster: String,
        topic: String,
        offset: i64,
        old: TopicId,
        new: TopicId,
    },
    #[error("{partition}: {source}")]
    Offsets {
        partition: String,
        #[source]
        source: Box<OffsetsError>,
    },
    /// A bug: nothing from the network or a file may make kmirror panic.
    #[error("{partition}: the partition task panicked (a bug in kmirror, please report it): {message}")]
    Panicked { partition: String, message: String },
    /// Stopping interrupted a step that would otherwise have been retried; not a failure.
    #[error("interrupted by shutdown")]
    Interrupted,
    #[error("configuration: {0}")]
    Config(#[source] Box<crate::config::ConfigError>),
    #[error("offset store: {0}")]
    Store(#[source] Box<OffsetsError>),
}
