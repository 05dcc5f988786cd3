//! When to emit offset syncs: MM2's rules (apache/kafka `connect/mirror/.../OffsetSyncWriter.java`,
//! `PartitionState.update`, 3.7+) applied per acknowledged record, plus one rule of kmirror's:
//! **the first record of every forwarded batch is always synced**.
//!
//! An `OffsetSync(u, d)` says that the source record at offset `u` sits at target offset `d`.
//! A reader following MM2's translation (`OffsetSyncStore.translateDownstream`, the "+1 rule")
//! maps a group offset `g` to `d` of the newest sync with `u <= g`, plus 1 unless `u == g`. So
//! a group sitting exactly at a synced record translates exactly; kmirror syncs every batch
//! start because groups commit at batch boundaries far more often than anywhere else, and
//! the last record of a partition's newest batch is synced later ("delayed", promoted
//! periodically), which makes a group that consumed everything translate exactly too.
//!
//! MM2's triggers, per record `(u, d)` with `last` the downstream offset of the last sync:
//! 1. no sync yet for the partition;
//! 2. `d - (last + 1) >= offset.lag.max` (translation too stale);
//! 3. `u` does not follow the previous record (a gap: compaction, markers, aborted data);
//! 4. `d` is below the previous record's (the target was truncated or recreated).
//!
//! A record that triggers nothing becomes the partition's delayed sync (newest wins). The
//! source offsets are those of records that really exist: for renumbered (compacted) and
//! trimmed batches the caller passes each record's original offset.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::mm2::OffsetSync;

/// The source offsets of the records of one batch, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOffsets {
    /// Record `i` at `first + i` (a batch forwarded as it is, without gaps).
    Contiguous { first: i64, count: i32 },
    /// Each record's source offset (a renumbered, trimmed or replayed batch).
    Listed(Arc<[i64]>),
}

impl RecordOffsets {
    fn len(&self) -> i64 {
        match self {
            Self::Contiguous { count, .. } => i64::from(*count),
            Self::Listed(offsets) => offsets.len() as i64,
        }
    }
}

/// One batch the target acknowledged: its records' source offsets and the target offset of
/// its first record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedBatch {
    /// The source topic (offset syncs name it, not the renamed target topic).
    pub topic: Arc<str>,
    pub partition: i32,
    pub records: RecordOffsets,
    pub target_base: i64,
}

/// MM2's per-partition state, kept as MM2 would have it (kmirror's extra syncs do not move
/// `last_sync_downstream`), so that every sync MM2 would emit is emitted too.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    previous_upstream: i64,
    previous_downstream: i64,
    last_sync_downstream: i64,
    delayed: Option<(i64, i64)>,
}

impl Default for PartitionState {
    fn default() -> Self {
        Self {
            previous_upstream: -1,
            previous_downstream: -1,
            last_sync_downstream: -1,
            delayed: None,
        }
    }
}

impl PartitionState {
    /// Whether MM2 syncs record `(u, d)`; updates MM2's state for it.
    fn mm2_record(&mut self, u: i64, d: i64, lag_max: i64) -> bool {
        let fires = self.last_sync_downstream == -1
            || d.saturating_sub(self.last_sync_downstream.saturating_add(1)) >= lag_max
            || u.wrapping_sub(self.previous_upstream) != 1
            || d < self.previous_downstream;
        if fires {
            self.last_sync_downstream = d;
        }
        self.previous_upstream = u;
        self.previous_downstream = d;
        fires
    }
}

/// The emission rules for every partition of one flow.
#[derive(Debug)]
pub struct SyncRules {
    lag_max: i64,
    partitions: HashMap<(Arc<str>, i32), PartitionState>,
}

impl SyncRules {
    /// `lag_max` is `offset.lag.max` (negative values act as 0).
    pub fn new(lag_max: i64) -> Self {
        Self {
            lag_max: lag_max.max(0),
            partitions: HashMap::new(),
        }
    }

    /// Applies one acknowledged batch; appends the syncs due now to `out`, in record order.
    pub fn on_batch(&mut self, batch: &AckedBatch, out: &mut Vec<OffsetSync>) {
        let n = batch.records.len();
        if n == 0 {
            return;
        }
        let lag_max = self.lag_max;
        let state = self
            .partitions
            .entry((batch.topic.clone(), batch.partition))
            .or_default();
        let mut emit = |u: i64, d: i64| {
            out.push(OffsetSync {
                topic: batch.topic.to_string(),
                partition: batch.partition,
                upstream_offset: u,
                downstream_offset: d,
            })
        };
        let (last_synced, last) = match &batch.records {
            RecordOffsets::Contiguous { first, .. } => {
                let (first, base) = (*first, batch.target_base);
                let _ = state.mm2_record(first, base, lag_max);
                emit(first, base);
                // Inside the batch only MM2's staleness rule can fire, every lag_max + 1
                // records from its last sync.
                let step = lag_max.saturating_add(1);
                let mut d = state.last_sync_downstream.saturating_add(step);
                let mut synced = base;
                while d < base + n {
                    emit(first + (d - base), d);
                    synced = d;
                    state.last_sync_downstream = d;
                    d = d.saturating_add(step);
                }
                state.previous_upstream = first + n - 1;
                state.previous_downstream = base + n - 1;
                (synced, (first + n - 1, base + n - 1))
            }
            RecordOffsets::Listed(offsets) => {
                let mut synced = batch.target_base;
                let mut last = (0, 0);
                for (i, &u) in offsets.iter().enumerate() {
                    let d = batch.target_base + i as i64;
                    if state.mm2_record(u, d, lag_max) || i == 0 {
                        emit(u, d);
                        synced = d;
                    }
                    last = (u, d);
                }
                (synced, last)
            }
        };
        // The newest record not synced now is synced later (promoted), unless a newer batch
        // comes first.
        state.delayed = (last_synced != last.1).then_some(last);
    }

    /// Takes every partition's delayed sync (MM2's `promoteDelayedOffsetSyncs`), in no
    /// particular order.
    pub fn promote_delayed(&mut self, out: &mut Vec<OffsetSync>) {
        for ((topic, partition), state) in &mut self.partitions {
            if let Some((u, d)) = state.delayed.take() {
                out.push(OffsetSync {
                    topic: topic.to_string(),
                    partition: *partition,
                    upstream_offset: u,
                    downstream_offset: d,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn batch(records: RecordOffsets, target_base: i64) -> AckedBatch {
        AckedBatch {
            topic: "orders".into(),
            partition: 0,
            records,
            target_base,
        }
    }

    fn contiguous(first: i64, count: i32, target_base: i64) -> AckedBatch {
        batch(RecordOffsets::Contiguous { first, count }, target_base)
    }

    fn listed(offsets: &[i64], target_base: i64) -> AckedBatch {
        batch(RecordOffsets::Listed(offsets.into()), target_base)
    }

    fn pairs(syncs: &[OffsetSync]) -> Pairs {
        syncs
            .iter()
            .map(|s| (s.upstream_offset, s.downstream_offset))
            .collect()
    }

    /// (upstream, downstream) pairs.
    type Pairs = Vec<(i64, i64)>;

    /// The syncs emitted for `batches`, and the delayed ones promoted after them.
    fn run(lag_max: i64, batches: &[AckedBatch]) -> (Pairs, Pairs) {
        let mut rules = SyncRules::new(lag_max);
        let mut out = Vec::new();
        for b in batches {
            rules.on_batch(b, &mut out);
        }
        let mut delayed = Vec::new();
        rules.promote_delayed(&mut delayed);
        (pairs(&out), pairs(&delayed))
    }

    /// MM2's algorithm record by record (the reference), without kmirror's batch rule.
    fn mm2_reference(lag_max: i64, records: &[(i64, i64)]) -> Pairs {
        let mut s = PartitionState::default();
        records
            .iter()
            .filter(|(u, d)| s.mm2_record(*u, *d, lag_max))
            .copied()
            .collect()
    }

    #[test]
    fn every_batch_start_is_synced_and_the_last_record_is_delayed() {
        let (syncs, delayed) = run(100, &[contiguous(0, 10, 0), contiguous(10, 5, 10)]);
        assert_eq!(syncs, [(0, 0), (10, 10)]);
        assert_eq!(delayed, [(14, 14)]);
        // A one-record batch is its own last record: nothing is left to promote.
        let (syncs, delayed) = run(100, &[contiguous(7, 1, 3)]);
        assert_eq!((syncs, delayed), (vec![(7, 3)], vec![]));
    }

    #[test]
    fn staleness_fires_inside_large_batches() {
        let (syncs, delayed) = run(3, &[contiguous(100, 10, 50)]);
        // After the sync at 50: 54 is the first with 54 - (50 + 1) >= 3, then 58.
        assert_eq!(syncs, [(100, 50), (104, 54), (108, 58)]);
        assert_eq!(delayed, [(109, 59)]);
        let (syncs, delayed) = run(0, &[contiguous(0, 3, 0)]);
        assert_eq!(syncs, [(0, 0), (1, 1), (2, 2)]);
        assert!(delayed.is_empty());
    }

    #[test]
    fn gaps_inside_compacted_batches_are_synced_at_the_record_after_the_gap() {
        let (syncs, delayed) = run(100, &[listed(&[3, 4, 9, 10, 15], 0)]);
        assert_eq!(syncs, [(3, 0), (9, 2), (15, 4)]);
        assert!(delayed.is_empty());
        let (syncs, delayed) = run(100, &[listed(&[3, 4, 9, 10], 0)]);
        assert_eq!(syncs, [(3, 0), (9, 2)]);
        assert_eq!(delayed, [(10, 3)]);
    }

    #[test]
    fn target_truncation_and_source_rewinds_resync() {
        let (syncs, _) = run(100, &[contiguous(0, 5, 100), contiguous(5, 5, 0)]);
        assert_eq!(syncs, [(0, 100), (5, 0)]);
        let (syncs, _) = run(100, &[contiguous(50, 5, 0), listed(&[0, 1], 5)]);
        assert_eq!(syncs, [(50, 0), (0, 5)]);
    }

    #[test]
    fn partitions_are_independent() {
        let mut rules = SyncRules::new(100);
        let mut out = Vec::new();
        rules.on_batch(&contiguous(0, 2, 0), &mut out);
        let other = AckedBatch {
            partition: 1,
            ..contiguous(2, 2, 0)
        };
        rules.on_batch(&other, &mut out);
        assert_eq!(out.iter().map(|s| s.partition).collect::<Vec<_>>(), [0, 1]);
        let mut delayed = Vec::new();
        rules.promote_delayed(&mut delayed);
        delayed.sort_by_key(|s| s.partition);
        assert_eq!(pairs(&delayed), [(1, 1), (3, 1)]);
        rules.promote_delayed(&mut delayed);
        assert_eq!(delayed.len(), 2, "promoted once");
    }

    proptest! {
        /// Whatever the batches: every MM2 sync is emitted (at least when MM2 would), every
        /// batch start is synced, and each sync pairs a record's source offset with its own
        /// target offset. Contiguous and listed descriptions of the same records agree.
        #[test]
        fn a_superset_of_mm2_and_exact(
            lag_max in 0i64..20,
            shapes in prop::collection::vec((1i32..40, 0i64..4, any::<bool>()), 1..12),
        ) {
            let (mut u, mut d) = (0i64, 0i64);
            let (mut batches, mut listed_batches, mut records, mut starts) = (vec![], vec![], vec![], vec![]);
            for (count, gap, as_listed) in shapes {
                u += gap;
                let offsets: Vec<i64> = (0..i64::from(count)).map(|i| u + i).collect();
                starts.push((u, d));
                records.extend(offsets.iter().zip(d..).map(|(u, d)| (*u, d)));
                listed_batches.push(listed(&offsets, d));
                batches.push(if as_listed { listed(&offsets, d) } else { contiguous(u, count, d) });
                u += i64::from(count);
                d += i64::from(count);
            }
            let (syncs, delayed) = run(lag_max, &batches);
            prop_assert_eq!(&run(lag_max, &listed_batches), &(syncs.clone(), delayed.clone()));
            for s in mm2_reference(lag_max, &records) {
                prop_assert!(syncs.contains(&s), "MM2 would sync {:?}", s);
            }
            for s in &starts {
                prop_assert!(syncs.contains(s));
            }
            for s in syncs.iter().chain(&delayed) {
                prop_assert!(records.contains(s), "{:?} is not a record pair", s);
            }
            prop_assert!(syncs.windows(2).all(|w| w[0].1 < w[1].1));
        }
    }
}
