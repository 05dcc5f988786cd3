//! Pure checkpoint logic: a source group's committed offsets translated through the flow's
//! exact map, and MM2's rule for which checkpoints are worth writing.

use std::collections::HashMap;

use crate::cluster::groups::CommittedOffset;
use crate::config::FlowConfig;
use crate::offsets::{PartitionKey, Translation, TranslationView};

/// One group's position on one partition, on both sides: what MM2 writes as a `Checkpoint`
/// record (`topic` is the target's name of the topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCheckpoint {
    pub group: String,
    pub source_topic: String,
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset on the source.
    pub upstream: i64,
    /// The same record's offset on the target.
    pub downstream: i64,
    /// The source commit's metadata (`""` for none, as MM2 writes it).
    pub metadata: String,
}

/// What translating one group's offsets gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translated {
    pub checkpoints: Vec<GroupCheckpoint>,
    /// Committed offsets inside data that was never replicated: moved to the next record.
    pub next_record: u64,
    /// Committed offsets inside a compacted batch: moved back to the batch's first record.
    pub batch_start: u64,
    /// Committed offsets the map cannot place (the group is ahead of replication, or before
    /// a trimmed history): no checkpoint.
    pub untranslated: u64,
}

/// Translates the committed offsets of `group` on partitions `flow` replicates (MM2 applies
/// the topic filter to source names here too). Partitions the flow has not replicated yet
/// give nothing.
pub fn translate_group(
    flow: &FlowConfig,
    view: &TranslationView,
    group: &str,
    offsets: &[CommittedOffset],
) -> Translated {
    let name = flow.name();
    let mut out = Translated::default();
    for o in offsets {
        if !flow.replicates(&o.topic) {
            continue;
        }
        let key = PartitionKey::new(name.as_str(), o.topic.as_str(), o.partition);
        let Some(translation) = view.translate(&key, o.offset) else {
            continue;
        };
        match translation {
            Translation::NextRecord(_) => out.next_record += 1,
            Translation::BatchStart(_) => out.batch_start += 1,
            Translation::Ahead | Translation::Forgotten => out.untranslated += 1,
            Translation::Exact(_) => {}
        }
        if let Some(downstream) = translation.offset() {
            out.checkpoints.push(GroupCheckpoint {
                group: group.to_owned(),
                source_topic: o.topic.clone(),
                topic: flow.target_topic(&o.topic),
                partition: o.partition,
                upstream: o.offset,
                downstream,
                metadata: o.metadata.clone().unwrap_or_default(),
            });
        }
    }
    out
}

/// MM2's `checkpointIsMoreRecent` (`MirrorCheckpointTask`): write a checkpoint when there is
/// none yet for its group and partition, when the source offset went backwards (the group
/// was rewound on the source) or when the target offset went forwards. An unchanged or
/// stale translation is not written again.
pub fn is_more_recent(previous: Option<&GroupCheckpoint>, new: &GroupCheckpoint) -> bool {
    previous.is_none_or(|p| new.upstream < p.upstream || new.downstream > p.downstream)
}

/// The last checkpoint written per (group, target topic, partition).
#[derive(Debug, Default)]
pub struct CheckpointLog {
    latest: HashMap<(String, String, i32), GroupCheckpoint>,
}

impl CheckpointLog {
    /// The checkpoints of `candidates` worth writing under [`is_more_recent`].
    pub fn select(&self, candidates: Vec<GroupCheckpoint>) -> Vec<GroupCheckpoint> {
        candidates
            .into_iter()
            .filter(|c| {
                is_more_recent(
                    self.latest.get(&(c.group.clone(), c.topic.clone(), c.partition)),
                    c,
                )
            })
            .collect()
    }

    /// Records checkpoints that were written.
    pub fn written(&mut self, checkpoints: &[GroupCheckpoint]) {
        for c in checkpoints {
            let _ = self
                .latest
                .insert((c.group.clone(), c.topic.clone(), c.partition), c.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::offsets::Entry;

    fn checkpoint(upstream: i64, downstream: i64) -> GroupCheckpoint {
        GroupCheckpoint {
            group: "g".to_owned(),
            source_topic: "t".to_owned(),
            topic: "A.t".to_owned(),
            partition: 0,
            upstream,
            downstream,
            metadata: String::new(),
        }
    }

    #[test]
    fn the_monotonic_rule_is_mm2s() {
        assert!(is_more_recent(None, &checkpoint(10, 5)));
        let prev = checkpoint(10, 5);
        // Unchanged: not written again.
        assert!(!is_more_recent(Some(&prev), &checkpoint(10, 5)));
        // Forwards downstream.
        assert!(is_more_recent(Some(&prev), &checkpoint(12, 7)));
        // The group was rewound on the source.
        assert!(is_more_recent(Some(&prev), &checkpoint(4, 2)));
        // Upstream forwards but downstream not: a stale translation.
        assert!(!is_more_recent(Some(&prev), &checkpoint(11, 5)));

        let mut log = CheckpointLog::default();
        let first = log.select(vec![checkpoint(10, 5)]);
        assert_eq!(first.len(), 1);
        log.written(&first);
        assert!(log.select(vec![checkpoint(10, 5)]).is_empty());
        assert_eq!(log.select(vec![checkpoint(11, 6)]).len(), 1);
    }

    #[test]
    fn only_replicated_partitions_are_translated_and_renamed() {
        let flow = FlowConfig::new("A", "B");
        let view = TranslationView::new(&BTreeMap::new(), 100);
        let key = PartitionKey::new("A->B", "orders", 1);
        view.apply(
            &key,
            &Entry::Baseline {
                source_offset: 0,
                target_end: 0,
            },
        );
        view.apply(
            &key,
            &Entry::Forwarded {
                source_base: 0,
                source_next: 10,
                target_base: 0,
                record_count: 4,
            },
        );
        let committed = |topic: &str, partition, offset| CommittedOffset {
            topic: topic.to_owned(),
            partition,
            offset,
            metadata: None,
        };
        let t = translate_group(
            &flow,
            &view,
            "app",
            &[
                committed("orders", 1, 0),
                committed("orders", 1, 4),
                committed("orders", 1, 11),
                // Not replicated yet, and not replicated at all (excluded by the filter).
                committed("orders", 2, 3),
                committed("__consumer_offsets", 0, 3),
            ],
        );
        assert_eq!(t.checkpoints.len(), 2);
        assert_eq!(t.checkpoints[0].topic, "A.orders");
        assert_eq!((t.checkpoints[0].upstream, t.checkpoints[0].downstream), (0, 0));
        assert_eq!((t.checkpoints[1].upstream, t.checkpoints[1].downstream), (4, 0));
        assert_eq!((t.batch_start, t.next_record, t.untranslated), (1, 0, 1));
    }
}
