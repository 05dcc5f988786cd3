//! Restart reconciliation: what the target holds beyond the log.
//!
//! The engine syncs the log about once a second, so a crash can leave batches on the target
//! whose entries never became durable. The flow is the only writer of its target partitions
//! and batches are appended whole, in source order; so the records beyond the logged target
//! end are exactly the first records of the forwardable batches after the resume offset.
//! Replaying them without producing (and logging them at the offsets they already have)
//! resumes without duplicates and without loss.

use super::{OffsetsError, PartitionState};

/// Compares the target partition's end offset with the one the log implies.
///
/// - equal: nothing was lost, nothing to skip;
/// - beyond it: that many records reached the target after the last durable entry, and
///   the replay skips them ([`ReplaySkip`]);
/// - before it: the target partition lost data or was recreated. kmirror never re-sends on
///   its own in that case: the error names both offsets.
pub fn reconcile(state: &PartitionState, target_end: i64) -> Result<ReplaySkip, OffsetsError> {
    if target_end < state.target_next {
        return Err(OffsetsError::TargetBehind {
            key: None,
            logged: state.target_next,
            actual: target_end,
        });
    }
    Ok(ReplaySkip {
        next_target: state.target_next,
        // Both are offsets (non-negative) in a state built by `apply`; saturating keeps a
        // hand-built state from overflowing.
        remaining: target_end.saturating_sub(state.target_next),
    })
}

/// The records already on the target that the replay after a restart must not write again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySkip {
    /// Target offset of the next already-written record.
    next_target: i64,
    remaining: i64,
}

impl ReplaySkip {
    /// Records still to skip.
    pub fn remaining(&self) -> i64 {
        self.remaining
    }

    /// Whether the replay is over: every further batch must be produced.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Takes the next batch the engine would forward, in order. `Some(target_base)` when the
    /// batch is on the target already (the engine logs `Entry::Forwarded` at that base
    /// instead of producing), `None` once the replay is over.
    ///
    /// A batch that would only partly fit in what remains is an error: batches are appended
    /// whole, so the target holds data this flow did not write. The state is unchanged then.
    pub fn already_written(&mut self, record_count: i32) -> Result<Option<i64>, OffsetsError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        if record_count < 1 {
            return Err(OffsetsError::EmptyReplayBatch {
                key: None,
                record_count,
            });
        }
        let count = i64::from(record_count);
        if count > self.remaining {
            return Err(OffsetsError::PartialBatch {
                key: None,
                target_base: self.next_target,
                record_count,
                remaining: self.remaining,
            });
        }
        let base = self.next_target;
        self.next_target = self.next_target.saturating_add(count);
        self.remaining -= count;
        Ok(Some(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::{DEFAULT_MAX_HISTORY, Entry, PartitionKey};
    use proptest::prelude::*;

    fn logged(target_next: i64) -> PartitionState {
        let mut state = PartitionState::default();
        state
            .apply(
                &Entry::Baseline {
                    source_offset: 0,
                    target_end: target_next,
                },
                DEFAULT_MAX_HISTORY,
            )
            .unwrap();
        state
    }

    #[test]
    fn a_target_at_the_logged_end_skips_nothing() {
        let mut skip = reconcile(&logged(40), 40).unwrap();
        assert_eq!(skip.remaining(), 0);
        assert!(skip.is_done());
        assert_eq!(skip.already_written(5).unwrap(), None);
    }

    #[test]
    fn records_beyond_the_logged_end_are_skipped_batch_by_batch() {
        let mut skip = reconcile(&logged(40), 48).unwrap();
        assert_eq!(skip.remaining(), 8);
        assert_eq!(skip.already_written(3).unwrap(), Some(40));
        assert_eq!(skip.already_written(5).unwrap(), Some(43));
        assert!(skip.is_done());
        assert_eq!(skip.already_written(2).unwrap(), None);
    }

    #[test]
    fn a_batch_that_only_partly_fits_is_refused() {
        let mut skip = reconcile(&logged(40), 44).unwrap();
        assert_eq!(skip.already_written(3).unwrap(), Some(40));
        let key = PartitionKey::new("A->B", "orders", 0);
        let err = skip.already_written(2).unwrap_err().with_key(&key);
        assert!(
            matches!(
                &err,
                OffsetsError::PartialBatch {
                    target_base: 43,
                    record_count: 2,
                    remaining: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("A->B orders-0: "), "{err}");
        // Unchanged: the caller can still report where it stopped.
        assert_eq!(skip.remaining(), 1);
        assert!(matches!(
            skip.already_written(0),
            Err(OffsetsError::EmptyReplayBatch { .. })
        ));
    }

    #[test]
    fn a_target_behind_the_log_is_an_error_naming_both_offsets() {
        let err = reconcile(&logged(40), 12).unwrap_err();
        assert!(
            matches!(
                err,
                OffsetsError::TargetBehind {
                    logged: 40,
                    actual: 12,
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("offset 12") && text.contains("offset 40"), "{text}");
    }

    proptest! {
        /// A crash after any number of acknowledged but unlogged batches: replaying the same
        /// batches skips exactly those and produces the rest.
        #[test]
        fn replay_skips_exactly_the_unlogged_batches(
            counts in proptest::collection::vec(1i32..10, 0..20),
            logged_batches in 0usize..20,
            written_batches in 0usize..20,
        ) {
            let logged_batches = logged_batches.min(counts.len());
            let written_batches = written_batches.clamp(logged_batches, counts.len());
            let end = |n: usize| counts[..n].iter().map(|c| i64::from(*c)).sum::<i64>();
            let mut skip = reconcile(&logged(end(logged_batches)), end(written_batches)).unwrap();
            let mut target = end(logged_batches);
            for (i, &count) in counts.iter().enumerate().skip(logged_batches) {
                let got = skip.already_written(count).unwrap();
                if i < written_batches {
                    prop_assert_eq!(got, Some(target));
                } else {
                    prop_assert_eq!(got, None);
                }
                target += i64::from(count);
            }
            prop_assert!(skip.is_done());
        }
    }
}
