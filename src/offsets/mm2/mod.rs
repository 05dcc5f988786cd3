//! MirrorMaker 2's internal topics, written by kmirror in MM2's byte format
//! ([`crate::protocol::mm2`]) so that MM2 tooling and client libraries read them.
//!
//! - [`ensure_internal_topic`]: creates a compacted, single-partition topic when missing, as
//!   MM2 does for `mm2-offset-syncs.<alias>.internal`, `<source>.checkpoints.internal` and
//!   `heartbeats` (apache/kafka `connect/mirror/.../MirrorUtils.java`, `createCompactedTopic`).
//! - [`InternalTopicWriter`]: a small async writer producing keyed records to partition 0 of
//!   such a topic, off the replication hot path.
//! - [`SyncRules`] (pure) and [`spawn_offset_syncs`]: offset syncs for every acknowledged
//!   batch, at least where MM2 would emit them and at every batch start.
//! - [`heartbeat_pairs`] and [`run_heartbeats`]: MM2's heartbeats for both directions of
//!   every flow.

mod heartbeats;
mod sync_task;
mod syncs;
mod topic;
mod writer;

use thiserror::Error;

pub use heartbeats::{HeartbeatPair, heartbeat_pairs, run_heartbeats};
pub use sync_task::{OffsetSyncSender, SYNC_QUEUE_BATCHES, SyncOutbox, SyncTopic, spawn_offset_syncs};
pub use syncs::{AckedBatch, RecordOffsets, SyncRules};
pub use topic::{Ensured, ensure_internal_topic};
pub use writer::{InternalTopicWriter, KeyedRecord, WRITER_QUEUE_RECORDS};

use crate::cluster::ClusterError;
use crate::protocol::mm2::Mm2Error;

/// A failure around one internal topic; every variant names the topic.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InternalTopicError {
    #[error("internal topic {topic}: cannot create it: {source}")]
    Create {
        topic: String,
        #[source]
        source: Box<ClusterError>,
    },
    #[error("internal topic {topic}: cannot encode a record: {source}")]
    Encode {
        topic: String,
        #[source]
        source: Mm2Error,
    },
    #[error("internal topic {topic}: the writer's queue is full ({capacity} records)")]
    QueueFull { topic: String, capacity: usize },
    #[error("internal topic {topic}: the writer has stopped")]
    Closed { topic: String },
}
