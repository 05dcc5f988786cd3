//! The state of one partition: where to resume on the source, where the target ends, and the
//! map of forwarded batches that offset translation reads.

use std::collections::VecDeque;

use super::{Entry, OffsetsError, ProducerMark};

/// Mappings kept per partition unless the store is configured otherwise. Gapless partitions
/// stay at one mapping (adjacent batches merge); only batches that cannot merge (gapped ones,
/// or batches around skipped offsets) use more.
pub const DEFAULT_MAX_HISTORY: usize = 10_000;
/// The largest history bound accepted; larger requests are clamped to it (a state record of
/// that many mappings is 512 MiB).
pub const MAX_HISTORY_LIMIT: usize = 1 << 24;

/// Source offsets `[source_base, source_next)` hold the `record_count` records now at target
/// offsets `[target_base, target_base + record_count)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub source_base: i64,
    pub source_next: i64,
    pub target_base: i64,
    pub record_count: i64,
}

impl Mapping {
    /// Every source offset inside is a record, at `target_base + (offset - source_base)`.
    /// False for a compacted (gapped) batch, whose surviving records' offsets the map does
    /// not know.
    pub fn is_linear(&self) -> bool {
        self.source_next.checked_sub(self.source_base) == Some(self.record_count)
    }

    /// The target offset after the last record.
    pub fn target_next(&self) -> i64 {
        self.target_base.saturating_add(self.record_count)
    }

    fn continued_by(&self, next: &Mapping) -> bool {
        self.is_linear()
            && next.is_linear()
            && next.source_base == self.source_next
            && next.target_base == self.target_next()
    }

    /// Why the mapping cannot describe a forwarded batch, if it cannot.
    fn check(&self) -> Result<(), &'static str> {
        if self.record_count < 1 {
            return Err("a forwarded batch holds at least one record");
        }
        if self.source_base < 0 || self.target_base < 0 {
            return Err("offsets are negative");
        }
        if self
            .source_next
            .checked_sub(self.source_base)
            .is_none_or(|span| span < self.record_count)
        {
            return Err("the source offset range is shorter than the record count");
        }
        if self.target_base.checked_add(self.record_count).is_none() {
            return Err("the target offset range overflows");
        }
        Ok(())
    }
}

/// What the log says about one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionState {
    /// The next source offset to fetch.
    pub resume_offset: i64,
    /// The target end offset the log implies: after the last forwarded batch, or the
    /// baseline.
    pub target_next: i64,
    /// Forwarded batches, oldest first, disjoint and increasing on both sides. Bounded; linear
    /// mappings that continue each other are merged into one.
    pub history: VecDeque<Mapping>,
    /// The producer identity the partition's records are written with, once one was logged.
    pub producer: Option<ProducerMark>,
}

impl PartitionState {
    /// Folds one logged entry into the state. `max_history` bounds the history (clamped to
    /// `1..=MAX_HISTORY_LIMIT`); the oldest mappings go first.
    ///
    /// An entry that moves backwards is refused and leaves the state unchanged: a baseline or
    /// skip below the resume offset, a batch that ends at or before the resume offset, starts
    /// inside the last forwarded batch, or starts below the target end the log implies. A
    /// batch may start below the resume offset when nothing was forwarded there (a batch that
    /// straddles the baseline is forwarded whole).
    pub fn apply(&mut self, entry: &Entry, max_history: usize) -> Result<(), OffsetsError> {
        let backwards = |state: &Self| OffsetsError::Backwards {
            key: None,
            entry: *entry,
            resume_offset: state.resume_offset,
            target_next: state.target_next,
        };
        let invalid = |reason| OffsetsError::InvalidEntry {
            key: None,
            entry: *entry,
            reason,
        };
        match *entry {
            Entry::Baseline {
                source_offset,
                target_end,
            } => {
                if source_offset < 0 || target_end < 0 {
                    return Err(invalid("offsets are negative"));
                }
                if source_offset < self.resume_offset || target_end < self.target_next {
                    return Err(backwards(self));
                }
                self.resume_offset = source_offset;
                self.target_next = target_end;
            }
            Entry::Forwarded {
                source_base,
                source_next,
                target_base,
                record_count,
            } => {
                let mapping = Mapping {
                    source_base,
                    source_next,
                    target_base,
                    record_count: i64::from(record_count),
                };
                mapping.check().map_err(invalid)?;
                let overlaps = self
                    .history
                    .back()
                    .is_some_and(|last| source_base < last.source_next);
                if source_next <= self.resume_offset || overlaps || target_base < self.target_next {
                    return Err(backwards(self));
                }
                self.push(mapping, max_history);
                self.resume_offset = source_next;
                self.target_next = mapping.target_next();
            }
            Entry::Skipped { source_next } => {
                if source_next < self.resume_offset {
                    return Err(backwards(self));
                }
                self.resume_offset = source_next;
            }
            Entry::Producer(mark) => {
                mark.check().map_err(invalid)?;
                // A new identity starts where the target ends when it is taken, at or beyond
                // what the log knows (records between the two are replayed after it).
                if mark.first_target_offset < self.target_next {
                    return Err(backwards(self));
                }
                self.producer = Some(mark);
            }
        }
        Ok(())
    }

    fn push(&mut self, mapping: Mapping, max_history: usize) {
        match self.history.back_mut() {
            Some(last) if last.continued_by(&mapping) => {
                last.source_next = mapping.source_next;
                last.record_count += mapping.record_count;
            }
            _ => self.history.push_back(mapping),
        }
        self.trim(max_history);
    }

    /// Drops the oldest mappings beyond `max_history` (clamped to `1..=MAX_HISTORY_LIMIT`).
    pub fn trim(&mut self, max_history: usize) {
        let bound = max_history.clamp(1, MAX_HISTORY_LIMIT);
        if self.history.len() > bound {
            drop(self.history.drain(..self.history.len() - bound));
        }
    }

    /// The target offset of the record at `source_offset`, or of the next replicated record
    /// when the offset points at dropped data (skipped offsets, gaps between batches). The
    /// resume offset itself maps to `target_next`, where the next replicated record will land
    /// (the flow is the only writer of its target partition).
    ///
    /// `None` outside `[oldest mapping's source_base, resume_offset]`, and strictly inside a
    /// gapped (compacted) batch, where the offsets of the records that survived compaction are
    /// not known; its base offset still maps exactly, to its first target record.
    ///
    /// Tests only: group checkpointing and `offsets translate` use
    /// [`translate_committed`](super::translate_committed), which also says why a translation
    /// is inexact.
    #[cfg(test)]
    pub(crate) fn translate(&self, source_offset: i64) -> Option<i64> {
        use super::Translation;
        match super::translate_committed(self, source_offset, false) {
            Translation::Exact(t) | Translation::NextRecord(t) => Some(t),
            Translation::BatchStart(_) | Translation::Ahead | Translation::Forgotten => None,
        }
    }

    /// Why the state cannot have come from applying entries, if it cannot: what a state
    /// record read back from a log must satisfy before it replaces a partition's state.
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if self.resume_offset < 0 || self.target_next < 0 {
            return Err("offsets are negative");
        }
        if let Some(mark) = &self.producer {
            mark.check()?;
        }
        let mut prev: Option<&Mapping> = None;
        for m in &self.history {
            m.check()?;
            if let Some(p) = prev
                && (m.source_base < p.source_next || m.target_base < p.target_next())
            {
                return Err("mappings overlap or are out of order");
            }
            prev = Some(m);
        }
        if let Some(last) = prev
            && (last.source_next > self.resume_offset || last.target_next() > self.target_next)
        {
            return Err("the last mapping ends after the resume position");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn forwarded(source_base: i64, source_next: i64, target_base: i64, record_count: i32) -> Entry {
        Entry::Forwarded {
            source_base,
            source_next,
            target_base,
            record_count,
        }
    }

    fn state_of(entries: &[Entry], max_history: usize) -> PartitionState {
        let mut state = PartitionState::default();
        for e in entries {
            state.apply(e, max_history).unwrap();
        }
        state
    }

    #[test]
    fn gapless_batches_merge_into_one_mapping() {
        let state = state_of(
            &[
                Entry::Baseline {
                    source_offset: 100,
                    target_end: 40,
                },
                forwarded(100, 103, 40, 3),
                forwarded(103, 110, 43, 7),
                forwarded(110, 111, 50, 1),
            ],
            DEFAULT_MAX_HISTORY,
        );
        assert_eq!(state.resume_offset, 111);
        assert_eq!(state.target_next, 51);
        assert_eq!(
            Vec::from(state.history.clone()),
            vec![Mapping {
                source_base: 100,
                source_next: 111,
                target_base: 40,
                record_count: 11
            }]
        );
        assert_eq!(state.translate(100), Some(40));
        assert_eq!(state.translate(105), Some(45));
        assert_eq!(state.translate(111), Some(51));
        assert_eq!(state.translate(99), None);
        assert_eq!(state.translate(112), None);
    }

    #[test]
    fn gapped_batches_and_skips_break_the_merge() {
        let state = state_of(
            &[
                forwarded(0, 3, 0, 3),
                // Compacted: offsets 3..10 hold 4 records.
                forwarded(3, 10, 3, 4),
                forwarded(10, 12, 7, 2),
                // A transaction marker at 12.
                Entry::Skipped { source_next: 13 },
                forwarded(13, 15, 9, 2),
                Entry::Skipped { source_next: 20 },
            ],
            DEFAULT_MAX_HISTORY,
        );
        assert_eq!(state.history.len(), 4);
        assert_eq!((state.resume_offset, state.target_next), (20, 11));
        assert_eq!(state.translate(2), Some(2));
        // The gapped batch: its base maps exactly, its inside does not.
        assert_eq!(state.translate(3), Some(3));
        assert_eq!(state.translate(5), None);
        assert_eq!(state.translate(9), None);
        assert_eq!(state.translate(10), Some(7));
        // The marker is dropped data: the next replicated record.
        assert_eq!(state.translate(12), Some(9));
        assert_eq!(state.translate(14), Some(10));
        // Skipped offsets at the end, and the resume offset: where the next record lands.
        assert_eq!(state.translate(17), Some(11));
        assert_eq!(state.translate(20), Some(11));
        assert_eq!(state.translate(21), None);
    }

    #[test]
    fn a_baseline_alone_translates_only_the_resume_offset() {
        let state = state_of(
            &[Entry::Baseline {
                source_offset: 7,
                target_end: 3,
            }],
            DEFAULT_MAX_HISTORY,
        );
        assert_eq!(state.translate(7), Some(3));
        assert_eq!(state.translate(6), None);
    }

    #[test]
    fn a_batch_straddling_the_baseline_is_accepted_whole() {
        let state = state_of(
            &[
                Entry::Baseline {
                    source_offset: 5,
                    target_end: 0,
                },
                forwarded(3, 8, 0, 5),
            ],
            DEFAULT_MAX_HISTORY,
        );
        assert_eq!(state.translate(3), Some(0));
        assert_eq!(state.translate(6), Some(3));
    }

    #[test]
    fn entries_that_move_backwards_are_refused_and_change_nothing() {
        let start = state_of(
            &[
                Entry::Baseline {
                    source_offset: 10,
                    target_end: 100,
                },
                forwarded(10, 20, 100, 10),
                Entry::Skipped { source_next: 22 },
            ],
            DEFAULT_MAX_HISTORY,
        );
        let refused = [
            Entry::Baseline {
                source_offset: 21,
                target_end: 200,
            },
            Entry::Baseline {
                source_offset: 30,
                target_end: 109,
            },
            Entry::Skipped { source_next: 21 },
            // Ends at the resume offset: nothing new.
            forwarded(20, 22, 110, 2),
            // Starts inside the last forwarded batch.
            forwarded(19, 25, 110, 6),
            // Below the target end.
            forwarded(22, 24, 109, 2),
        ];
        for entry in refused {
            let mut state = start.clone();
            let err = state.apply(&entry, DEFAULT_MAX_HISTORY).unwrap_err();
            assert!(matches!(err, OffsetsError::Backwards { .. }), "{entry}: {err}");
            assert_eq!(state, start);
        }
        let key = crate::offsets::PartitionKey::new("A->B", "orders", 3);
        let mut state = start.clone();
        let err = state
            .apply(&Entry::Skipped { source_next: 21 }, 10)
            .unwrap_err()
            .with_key(&key);
        assert_eq!(
            err.to_string(),
            "A->B orders-3: skip to source offset 21 moves backwards: the log is at source offset 22 and target offset 110"
        );
        // Equal positions are not backwards; a gap forward on either side is accepted.
        state.apply(&Entry::Skipped { source_next: 22 }, 10).unwrap();
        state.apply(&forwarded(25, 27, 120, 2), 10).unwrap();
    }

    #[test]
    fn malformed_entries_are_refused() {
        for entry in [
            forwarded(0, 3, 0, 0),
            forwarded(0, 3, 0, 4),
            forwarded(-1, 3, 0, 1),
            forwarded(0, 3, -5, 1),
            forwarded(0, 3, i64::MAX, 2),
            forwarded(i64::MIN, i64::MAX, 0, 1),
            Entry::Baseline {
                source_offset: -1,
                target_end: 0,
            },
        ] {
            let mut state = PartitionState::default();
            let err = state.apply(&entry, 10).unwrap_err();
            assert!(matches!(err, OffsetsError::InvalidEntry { .. }), "{entry}: {err}");
            assert_eq!(state, PartitionState::default());
        }
    }

    #[test]
    fn the_history_keeps_the_newest_mappings() {
        // Gapped batches never merge: one mapping each.
        let entries: Vec<Entry> = (0..10)
            .map(|i| forwarded(i * 10, i * 10 + 10, i * 5, 5))
            .collect();
        let state = state_of(&entries, 3);
        assert_eq!(state.history.len(), 3);
        assert_eq!(state.history[0].source_base, 70);
        assert_eq!(state.translate(69), None);
        assert_eq!(state.translate(70), Some(35));
        assert_eq!(state.translate(100), Some(50));
        // A bound of zero still keeps the last batch.
        assert_eq!(state_of(&entries, 0).history.len(), 1);
    }

    /// One step of a generated partition log.
    #[derive(Debug, Clone)]
    enum Step {
        Linear(i64),
        /// A compacted batch: `span` offsets, `records` of them left.
        Gapped {
            span: i64,
            records: i64,
        },
        Skip(i64),
        /// Target records this flow did not write (before a new baseline).
        TargetGap(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1i64..6).prop_map(Step::Linear),
            2 => (2i64..8).prop_flat_map(|span| (Just(span), 1..span))
                .prop_map(|(span, records)| Step::Gapped { span, records }),
            2 => (1i64..4).prop_map(Step::Skip),
            1 => (1i64..4).prop_map(Step::TargetGap),
        ]
    }

    /// What translation must give for each source offset, computed the slow way.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Record(i64),
        /// Dropped data: the next replicated record.
        Next,
        /// Inside a gapped batch.
        Unknown,
    }

    proptest! {
        #[test]
        fn translation_matches_a_per_offset_model(
            start in 0i64..50,
            target_start in 0i64..50,
            steps in proptest::collection::vec(step(), 0..40),
            max_history in 1usize..12,
        ) {
            let mut entries = vec![Entry::Baseline { source_offset: start, target_end: target_start }];
            let mut model: Vec<(i64, Expect)> = Vec::new();
            // Target offset of the first record of each batch, by source base.
            let mut batch_targets: Vec<(i64, i64)> = Vec::new();
            let (mut source, mut target) = (start, target_start);
            for s in &steps {
                match *s {
                    Step::Linear(n) => {
                        entries.push(forwarded(source, source + n, target, n as i32));
                        batch_targets.push((source, target));
                        model.extend((0..n).map(|i| (source + i, Expect::Record(target + i))));
                        source += n;
                        target += n;
                    }
                    Step::Gapped { span, records } => {
                        entries.push(forwarded(source, source + span, target, records as i32));
                        batch_targets.push((source, target));
                        model.push((source, Expect::Record(target)));
                        model.extend((1..span).map(|i| (source + i, Expect::Unknown)));
                        source += span;
                        target += records;
                    }
                    Step::Skip(n) => {
                        entries.push(Entry::Skipped { source_next: source + n });
                        model.extend((0..n).map(|i| (source + i, Expect::Next)));
                        source += n;
                    }
                    Step::TargetGap(n) => {
                        target += n;
                        entries.push(Entry::Baseline { source_offset: source, target_end: target });
                    }
                }
            }
            model.push((source, Expect::Next));
            let state = state_of(&entries, max_history);
            prop_assert_eq!(state.resume_offset, source);
            prop_assert_eq!(state.target_next, target);
            prop_assert!(state.history.len() <= max_history);
            prop_assert!(state.check().is_ok());

            let covered_from = state.history.front().map_or(source, |m| m.source_base);
            for &(offset, expect) in &model {
                let want = if offset < covered_from {
                    None
                } else {
                    match expect {
                        Expect::Record(t) => Some(t),
                        Expect::Unknown => None,
                        Expect::Next => Some(
                            batch_targets
                                .iter()
                                .find(|(base, _)| *base > offset)
                                .map_or(target, |(_, t)| *t),
                        ),
                    }
                };
                prop_assert_eq!(state.translate(offset), want, "offset {}", offset);
            }
            prop_assert_eq!(state.translate(source + 1), None);
            prop_assert_eq!(state.translate(start - 1), None);

            // Gapless runs merge: without gapped batches, skips or target gaps there is one
            // mapping at most.
            if steps.iter().all(|s| matches!(s, Step::Linear(_))) {
                prop_assert!(state.history.len() <= 1);
            }
        }
    }
}
