//! Translating a consumer group's committed source offset to the target, exactly, and a live
//! view of every partition's map for the tasks that checkpoint and sync groups while the
//! engine runs.
//!
//! A committed offset is the next record the group would read. Its translation is the target
//! offset of that same record ([`Translation::Exact`]). Where no such record exists on the
//! target, the group moves to the next record that does:
//!
//! - the offset points at data the flow never forwarded: transaction markers, aborted or empty
//!   batches ([`Entry::Skipped`]), or offsets before the flow's baseline (removed by retention
//!   before kmirror read them, or never read because the flow started later) →
//!   [`Translation::NextRecord`];
//! - the offset points strictly inside a compacted (gapped) batch, whose surviving records'
//!   offsets the map does not keep → [`Translation::BatchStart`]: the target offset of the
//!   batch's first record. Conservative: the group re-reads the records of that batch that
//!   precede its position, it never skips one.
//!
//! Both are counted (`kmirror_checkpoint_inexact_total`). No translation exists for an offset
//! past what the flow acknowledged (the group is ahead of replication) or before a history
//! that was trimmed to its bound (`offsets.history.max`): nothing is checkpointed for those.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::{Entry, PartitionKey, PartitionState};

/// Where a committed source offset lands on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// The target offset of the very record the source offset points at (or, for the resume
    /// offset, where that record will land).
    Exact(i64),
    /// The source offset points at data that was never replicated; the target offset of the
    /// next replicated record.
    NextRecord(i64),
    /// Inside a compacted batch: the target offset of the batch's first record.
    BatchStart(i64),
    /// Past the acknowledged data: the group is ahead of replication.
    Ahead,
    /// Before the retained history, which was trimmed.
    Forgotten,
}

impl Translation {
    /// The target offset to checkpoint, if any.
    pub fn offset(self) -> Option<i64> {
        match self {
            Self::Exact(t) | Self::NextRecord(t) | Self::BatchStart(t) => Some(t),
            Self::Ahead | Self::Forgotten => None,
        }
    }

    pub fn is_exact(self) -> bool {
        matches!(self, Self::Exact(_))
    }
}

/// Translates `source_offset` through `state`. `history_complete` says that the history still
/// reaches back to the flow's first batch (it was never trimmed), so offsets before it were
/// never replicated rather than forgotten.
pub fn translate_committed(
    state: &PartitionState,
    source_offset: i64,
    history_complete: bool,
) -> Translation {
    if source_offset > state.resume_offset {
        return Translation::Ahead;
    }
    let first = state.history.front();
    let start = first.map_or(state.resume_offset, |m| m.source_base);
    if source_offset < start {
        return if history_complete {
            Translation::NextRecord(first.map_or(state.target_next, |m| m.target_base))
        } else {
            Translation::Forgotten
        };
    }
    let i = state.history.partition_point(|m| m.source_next <= source_offset);
    match state.history.get(i) {
        // Past the last batch: skipped offsets, or the resume offset itself.
        None if source_offset == state.resume_offset => Translation::Exact(state.target_next),
        None => Translation::NextRecord(state.target_next),
        Some(m) if source_offset < m.source_base => Translation::NextRecord(m.target_base),
        Some(m) if source_offset == m.source_base => Translation::Exact(m.target_base),
        Some(m) if m.is_linear() => Translation::Exact(m.target_base + (source_offset - m.source_base)),
        Some(m) => Translation::BatchStart(m.target_base),
    }
}

/// Every partition's state as the offsets writer applies entries: shared, read by group
/// checkpointing while the engine writes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TranslationView {
    states: Arc<RwLock<HashMap<PartitionKey, PartitionState>>>,
    max_history: usize,
}

impl TranslationView {
    /// A view starting from the stored states; `max_history` is the store's history bound.
    pub fn new(states: &BTreeMap<PartitionKey, PartitionState>, max_history: usize) -> Self {
        Self {
            states: Arc::new(RwLock::new(
                states.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            max_history: max_history.max(1),
        }
    }

    /// Folds an entry the store accepted into the view.
    pub(crate) fn apply(&self, key: &PartitionKey, entry: &Entry) {
        let mut states = self.states.write().unwrap_or_else(|p| p.into_inner());
        let state = states.entry(key.clone()).or_default();
        // The store applied the same entry to the same state and accepted it.
        if let Err(e) = state.apply(entry, self.max_history) {
            tracing::warn!(partition = %key, error = %e, "translation view out of step with the store");
        }
    }

    /// Translates a committed offset of a replicated partition; `None` for a partition the
    /// flow has not replicated.
    pub fn translate(&self, key: &PartitionKey, source_offset: i64) -> Option<Translation> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        let state = states.get(key)?;
        Some(translate_committed(
            state,
            source_offset,
            state.history.len() < self.max_history,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(source_base: i64, source_next: i64, target_base: i64, record_count: i32) -> Entry {
        Entry::Forwarded {
            source_base,
            source_next,
            target_base,
            record_count,
        }
    }

    fn view(entries: &[Entry], max_history: usize) -> (TranslationView, PartitionKey) {
        let key = PartitionKey::new("A->B", "t", 0);
        let view = TranslationView::new(&BTreeMap::new(), max_history);
        for e in entries {
            view.apply(&key, e);
        }
        (view, key)
    }

    #[test]
    fn committed_offsets_translate_exactly_or_to_the_next_record() {
        let (view, key) = view(
            &[
                Entry::Baseline {
                    source_offset: 10,
                    target_end: 100,
                },
                forwarded(10, 15, 100, 5),
                // Compacted: 15..20 holds 2 records.
                forwarded(15, 20, 105, 2),
                // A marker at 20.
                Entry::Skipped { source_next: 21 },
                forwarded(21, 23, 107, 2),
            ],
            100,
        );
        let t = |o| view.translate(&key, o).unwrap();
        // Before the baseline: never replicated, the first replicated record.
        assert_eq!(t(3), Translation::NextRecord(100));
        // Inside a batch, exactly.
        assert_eq!(t(10), Translation::Exact(100));
        assert_eq!(t(13), Translation::Exact(103));
        assert_eq!(t(15), Translation::Exact(105));
        // Inside the compacted batch: its start, no record skipped.
        assert_eq!(t(17), Translation::BatchStart(105));
        assert_eq!(t(20), Translation::NextRecord(107));
        assert_eq!(t(22), Translation::Exact(108));
        assert_eq!(t(23), Translation::Exact(109));
        assert_eq!(t(24), Translation::Ahead);
        assert_eq!(view.translate(&PartitionKey::new("A->B", "t", 1), 0), None);
    }

    #[test]
    fn offsets_before_a_trimmed_history_are_forgotten_not_guessed() {
        let entries: Vec<Entry> = (0..5).map(|i| forwarded(i * 10, i * 10 + 10, i * 5, 5)).collect();
        let (view, key) = view(&entries, 2);
        assert_eq!(view.translate(&key, 29), Some(Translation::Forgotten));
        assert_eq!(view.translate(&key, 30), Some(Translation::Exact(15)));
        assert_eq!(Translation::Forgotten.offset(), None);
    }
}
