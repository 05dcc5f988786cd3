//! Whose failure an error is: one partition's, which `partition_failure = stop-partition`
//! stops alone, or the process's (configuration, the offset store, a cluster that cannot be
//! reached or will not let kmirror in), which stops every flow whatever the setting.
//!
//! Pure: an error in, a [`Scope`] out. A partition's scope carries the reason the
//! `kmirror_partition_stopped` metric labels it with.

use crate::cluster::ClusterError;
use crate::error::Side;
use crate::offsets::OffsetsError;
use crate::protocol::errors;
use crate::protocol::renumber::RenumberError;

use super::ReplicationError;

/// Error codes a broker answers about a partition that still concern the whole cluster
/// connection: kmirror's rights, the protocol it speaks, its authentication.
const CLUSTER_WIDE: &[i16] = &[
    31, // CLUSTER_AUTHORIZATION_FAILED (idempotent writes need it)
    33, // UNSUPPORTED_SASL_MECHANISM
    34, // ILLEGAL_SASL_STATE
    errors::UNSUPPORTED_VERSION,
    53, // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    58, // SASL_AUTHENTICATION_FAILED
];

/// Whose failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// This partition cannot go on; the others can. The reason, as the metric labels it.
    Partition(&'static str),
    /// Nothing can go on.
    Process,
}

/// Whose failure `e` is.
pub(crate) fn scope(e: &ReplicationError) -> Scope {
    match e {
        ReplicationError::Batch { .. } => Scope::Partition("corrupt_batch"),
        ReplicationError::Renumber {
            source: RenumberError::Corrupt { .. },
            ..
        } => Scope::Partition("corrupt_batch"),
        ReplicationError::Renumber { .. } => Scope::Partition("undecodable_batch"),
        ReplicationError::GappedBatch { .. } => Scope::Partition("gapped_batch"),
        ReplicationError::SourceDataLost { .. } => Scope::Partition("source_data_lost"),
        ReplicationError::SourceTopicRecreated { .. } => Scope::Partition("source_topic_recreated"),
        ReplicationError::Panicked { .. } => Scope::Partition("panic"),
        ReplicationError::Cluster { side, source } => cluster_scope(*side, source),
        ReplicationError::Offsets { source, .. } => match **source {
            // The target partition holds what this flow's offsets say it cannot: that
            // partition's data, not the store, is the problem.
            OffsetsError::TargetBehind { .. }
            | OffsetsError::PartialBatch { .. }
            | OffsetsError::EmptyReplayBatch { .. } => Scope::Partition("target_diverged"),
            _ => Scope::Process,
        },
        ReplicationError::Interrupted | ReplicationError::Config(_) | ReplicationError::Store(_) => {
            Scope::Process
        }
    }
}

/// A broker's final answer about this partition (a refused batch, a fetch it will not serve)
/// is the partition's; anything about the connection (TLS, SASL, a broker that cannot be
/// reached, routing) and the cluster-wide codes are the process's.
fn cluster_scope(side: Side, e: &ClusterError) -> Scope {
    let partition = match e {
        ClusterError::Partition { error, .. } => !CLUSTER_WIDE.contains(&error.0),
        ClusterError::MissingPartition { .. } => true,
        _ => false,
    };
    match (partition, side) {
        (true, Side::Target) => Scope::Partition("target_refused"),
        (true, Side::Source) => Scope::Partition("source_refused"),
        (false, _) => Scope::Process,
    }
}

/// The source offset an error names, if it names one: the batch that could not be forwarded,
/// or the position the source refused to serve.
pub(crate) fn source_offset(e: &ReplicationError) -> Option<i64> {
    match e {
        ReplicationError::Batch { offset, .. }
        | ReplicationError::Renumber { offset, .. }
        | ReplicationError::GappedBatch { offset, .. }
        | ReplicationError::SourceDataLost { offset, .. }
        | ReplicationError::SourceTopicRecreated { offset, .. } => Some(*offset),
        ReplicationError::Cluster {
            side: Side::Source,
            source: ClusterError::Partition { offset, .. },
        } => *offset,
        _ => None,
    }
}

/// A produce refusal with `code`, as the produce loop reports it.
#[cfg(test)]
fn refused(code: i16) -> ClusterError {
    use crate::protocol::errors::ErrorCode;
    ClusterError::Partition {
        cluster: "target".into(),
        api: "Produce",
        topic: "source.t".into(),
        partition: 3,
        offset: None,
        error: ErrorCode(code),
        message: Some("Timestamp 1 of message with offset 0 is out of range".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ConnectionError;
    use crate::offsets::PartitionKey;
    use crate::protocol::batch::BatchError;

    fn cluster(side: Side, source: ClusterError) -> ReplicationError {
        ReplicationError::Cluster { side, source }
    }

    #[test]
    fn a_batch_the_target_refuses_is_the_partitions() {
        for code in [
            32, /* INVALID_TIMESTAMP */
            errors::INVALID_RECORD,
            10, /* MESSAGE_TOO_LARGE */
            29,
        ] {
            assert_eq!(
                scope(&cluster(Side::Target, refused(code))),
                Scope::Partition("target_refused"),
                "{code}"
            );
        }
        assert_eq!(
            scope(&cluster(Side::Source, refused(29))),
            Scope::Partition("source_refused")
        );
        assert_eq!(source_offset(&cluster(Side::Target, refused(32))), None);
    }

    #[test]
    fn cluster_wide_answers_and_connections_are_the_processs() {
        for code in [31, 58, errors::UNSUPPORTED_VERSION] {
            assert_eq!(scope(&cluster(Side::Target, refused(code))), Scope::Process);
        }
        let unreachable = ClusterError::Connection {
            cluster: "target".into(),
            source: ConnectionError::Closed {
                addr: "b:9092".into(),
            },
        };
        assert_eq!(scope(&cluster(Side::Target, unreachable)), Scope::Process);
        let denied = ClusterError::Request {
            cluster: "target".into(),
            what: "InitProducerId".into(),
            error: crate::protocol::errors::ErrorCode(31),
            message: None,
        };
        assert_eq!(scope(&cluster(Side::Target, denied)), Scope::Process);
        let store = ReplicationError::Store(Box::new(OffsetsError::WriterFailed {
            message: "disk full".into(),
        }));
        assert_eq!(scope(&store), Scope::Process);
        assert_eq!(scope(&ReplicationError::Interrupted), Scope::Process);
    }

    #[test]
    fn bad_source_data_is_the_partitions_with_its_offset() {
        let corrupt = ReplicationError::Batch {
            partition: "a->b t-0 -> a.t-0".into(),
            offset: 40,
            source: BatchError::CrcMismatch {
                base_offset: 40,
                stored: 1,
                computed: 2,
            },
        };
        assert_eq!(scope(&corrupt), Scope::Partition("corrupt_batch"));
        assert_eq!(source_offset(&corrupt), Some(40));
        let gapped = ReplicationError::GappedBatch {
            partition: "p".into(),
            offset: 7,
        };
        assert_eq!(
            (scope(&gapped), source_offset(&gapped)),
            (Scope::Partition("gapped_batch"), Some(7))
        );
        let lost = ReplicationError::SourceDataLost {
            partition: "p".into(),
            offset: 9,
        };
        assert_eq!(
            (scope(&lost), source_offset(&lost)),
            (Scope::Partition("source_data_lost"), Some(9))
        );
        let undecodable = ReplicationError::Renumber {
            partition: "p".into(),
            offset: 3,
            source: RenumberError::Oversized {
                base_offset: 3,
                len: 1,
            },
        };
        assert_eq!(scope(&undecodable), Scope::Partition("undecodable_batch"));
        let panicked = ReplicationError::Panicked {
            partition: "p".into(),
            message: "index out of bounds".into(),
        };
        assert_eq!(
            (scope(&panicked), source_offset(&panicked)),
            (Scope::Partition("panic"), None)
        );
        let fetch = ClusterError::Partition {
            cluster: "source".into(),
            api: "Fetch",
            topic: "t".into(),
            partition: 3,
            offset: Some(12),
            error: crate::protocol::errors::ErrorCode(29),
            message: None,
        };
        assert_eq!(source_offset(&cluster(Side::Source, fetch)), Some(12));
    }

    #[test]
    fn a_target_that_diverged_is_the_partitions_a_broken_store_is_not() {
        let key = PartitionKey::new("a->b", "t", 0);
        let behind = ReplicationError::Offsets {
            partition: "p".into(),
            source: Box::new(OffsetsError::TargetBehind {
                key: Some(key),
                logged: 10,
                actual: 4,
            }),
        };
        assert_eq!(scope(&behind), Scope::Partition("target_diverged"));
        let failed = ReplicationError::Offsets {
            partition: "p".into(),
            source: Box::new(OffsetsError::WriterFailed {
                message: "gone".into(),
            }),
        };
        assert_eq!(scope(&failed), Scope::Process);
    }
}
