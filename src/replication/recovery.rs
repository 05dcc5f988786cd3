//! What a failed produce means for the next session of a partition.
//!
//! A produce can fail with its outcome unknown: the request timed out, the connection was
//! lost, the leader moved, or the broker appended the batch and then could not replicate it
//! in time (NOT_ENOUGH_REPLICAS_AFTER_APPEND). The batch may be in the leader's log above the
//! high watermark and become committed once followers catch up, so the high watermark does not
//! tell whether it was written. The next session therefore sends the same batches again under
//! the same producer id, epoch and sequences, and the broker's duplicate detection answers a
//! batch it already has with the offsets of its first copy (see `offsets::ProducerMark`).
//!
//! Only when the broker says it no longer knows the producer (its state expired or was lost
//! with the log, or the epoch was bumped) is a new identity taken; then the high watermark is
//! all there is to reconcile against, as no batch of the old identity can be pending above it
//! on that leader.

use crate::cluster::ClusterError;
use crate::protocol::errors::{self, ErrorCode};

/// How the partition goes on after a produce failure.
#[derive(Debug, Clone)]
pub(crate) struct Recovery {
    pub(crate) cause: ClusterError,
    /// The broker lost or fenced the producer identity: the next session takes a new one.
    pub(crate) new_identity: bool,
}

/// The recovery a produce failure calls for, or `None` when retrying cannot help (the batch
/// itself is refused, authorization is missing, the topic is misconfigured).
pub(crate) fn after_produce_failure(e: &ClusterError) -> Option<bool> {
    match e.error_code() {
        Some(ErrorCode(
            errors::OUT_OF_ORDER_SEQUENCE_NUMBER
            | errors::UNKNOWN_PRODUCER_ID
            | errors::INVALID_PRODUCER_EPOCH
            | errors::PRODUCER_FENCED,
        )) => Some(true),
        // Brokers before duplicate answers carried offsets said this for a batch they had
        // already appended: it is on the target, its offset will show once it is committed.
        Some(ErrorCode(errors::DUPLICATE_SEQUENCE_NUMBER)) => Some(false),
        _ if e.is_retriable() => Some(false),
        _ => None,
    }
}

impl Recovery {
    /// [`after_produce_failure`] with the cause kept.
    pub(crate) fn of(cause: ClusterError) -> Result<Self, ClusterError> {
        match after_produce_failure(&cause) {
            Some(new_identity) => Ok(Self { cause, new_identity }),
            None => Err(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce_error(code: i16) -> ClusterError {
        ClusterError::Partition {
            cluster: "target".to_owned(),
            api: "Produce",
            topic: "t".to_owned(),
            partition: 0,
            offset: None,
            error: ErrorCode(code),
            message: None,
        }
    }

    #[test]
    fn unknown_outcomes_keep_the_identity() {
        // REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
        // NOT_ENOUGH_REPLICAS_AFTER_APPEND, a lost connection: same batches, same sequences.
        for code in [7, 6, 19, 20, errors::DUPLICATE_SEQUENCE_NUMBER] {
            assert_eq!(after_produce_failure(&produce_error(code)), Some(false), "{code}");
        }
        let lost = ClusterError::Connection {
            cluster: "target".to_owned(),
            source: crate::net::ConnectionError::ClosedByPeer {
                addr: "127.0.0.1:9092".to_owned(),
            },
        };
        assert_eq!(after_produce_failure(&lost), Some(false));
    }

    #[test]
    fn a_lost_or_fenced_producer_takes_a_new_identity() {
        for code in [45, 47, 59, 90] {
            assert_eq!(after_produce_failure(&produce_error(code)), Some(true), "{code}");
        }
    }

    #[test]
    fn refused_batches_are_final() {
        // INVALID_TIMESTAMP, MESSAGE_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED, INVALID_RECORD.
        for code in [32, 10, 29, 87] {
            assert!(after_produce_failure(&produce_error(code)).is_none(), "{code}");
            assert!(Recovery::of(produce_error(code)).is_err());
        }
        assert!(Recovery::of(produce_error(7)).is_ok_and(|r| !r.new_identity));
    }
}
