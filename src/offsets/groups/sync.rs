//! Pure group offset sync decision: which translated offsets may be committed for a group on
//! the target.
//!
//! Rules (stricter than MM2's, §6.3 of the compatibility notes):
//! - a group with members, or in any state but `Empty` or `Dead` (unknown), is left alone:
//!   its consumers own its offsets. MM2 relies on the broker refusing the commit; kmirror
//!   does not send it. This holds for classic groups and for KIP-848 consumer groups alike
//!   (the description comes from ConsumerGroupDescribe for those).
//! - a target group that is not a consumer group (a Connect group, a share or streams group
//!   of the same name) is left alone too.
//! - a partition whose target offset is already at or past the translation is left alone:
//!   a group is never rewound. Nor is a partition whose target offset could not be read (the
//!   target answered OffsetFetch with an error for it): it may be ahead.

use std::collections::HashMap;

use super::checkpoint::GroupCheckpoint;
use crate::cluster::groups::{CommittedOffset, GroupDescription, GroupKind, GroupState};

/// What to do for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncDecision {
    /// The group is in use on the target.
    Active {
        state: GroupState,
        members: usize,
    },
    /// The target group of that name is not a consumer group.
    NotConsumerGroup {
        protocol_type: String,
    },
    Sync(SyncPlan),
}

/// The commits to send, and the partitions skipped because the target group is ahead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub commit: Vec<CommittedOffset>,
    pub ahead: Vec<SkippedAhead>,
    /// Partitions whose target offset already equals the translation.
    pub unchanged: usize,
    /// Partitions left alone because their target offset could not be read.
    pub unreadable: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedAhead {
    pub topic: String,
    pub partition: i32,
    pub target: i64,
    pub translated: i64,
}

/// Decides for one group: `described` is the group on the target, `target_offsets` its
/// committed offsets there, `unreadable` the partitions (target topic, partition) whose
/// committed offset the target could not tell, `checkpoints` its translations (target topic
/// names).
pub fn decide(
    described: &GroupDescription,
    target_offsets: &[CommittedOffset],
    unreadable: &[(String, i32)],
    checkpoints: &[GroupCheckpoint],
) -> SyncDecision {
    if let GroupKind::Classic { protocol_type } = &described.kind
        && !described.is_consumer_group()
    {
        return SyncDecision::NotConsumerGroup {
            protocol_type: protocol_type.clone(),
        };
    }
    let idle = described.members == 0 && matches!(described.state, GroupState::Empty | GroupState::Dead);
    if !idle {
        return SyncDecision::Active {
            state: described.state.clone(),
            members: described.members,
        };
    }
    let current: HashMap<(&str, i32), i64> = target_offsets
        .iter()
        .map(|o| ((o.topic.as_str(), o.partition), o.offset))
        .collect();
    let mut plan = SyncPlan::default();
    for c in checkpoints {
        if unreadable.iter().any(|(t, p)| *t == c.topic && *p == c.partition) {
            plan.unreadable += 1;
            continue;
        }
        match current.get(&(c.topic.as_str(), c.partition)) {
            Some(&target) if target > c.downstream => plan.ahead.push(SkippedAhead {
                topic: c.topic.clone(),
                partition: c.partition,
                target,
                translated: c.downstream,
            }),
            Some(&target) if target == c.downstream => plan.unchanged += 1,
            _ => plan.commit.push(CommittedOffset {
                topic: c.topic.clone(),
                partition: c.partition,
                offset: c.downstream,
                metadata: Some(c.metadata.clone()),
            }),
        }
    }
    SyncDecision::Sync(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(partition: i32, downstream: i64) -> GroupCheckpoint {
        GroupCheckpoint {
            group: "g".to_owned(),
            source_topic: "t".to_owned(),
            topic: "A.t".to_owned(),
            partition,
            upstream: downstream + 100,
            downstream,
            metadata: "m".to_owned(),
        }
    }

    fn committed(partition: i32, offset: i64) -> CommittedOffset {
        CommittedOffset {
            topic: "A.t".to_owned(),
            partition,
            offset,
            metadata: None,
        }
    }

    fn described(state: GroupState, members: usize) -> GroupDescription {
        GroupDescription {
            state,
            members,
            kind: GroupKind::Consumer,
        }
    }

    #[test]
    fn an_empty_group_moves_forward_only() {
        let d = decide(
            &described(GroupState::Empty, 0),
            &[committed(0, 5), committed(1, 50), committed(2, 7)],
            &[],
            &[
                checkpoint(0, 10),
                checkpoint(1, 20),
                checkpoint(2, 7),
                checkpoint(3, 1),
            ],
        );
        let SyncDecision::Sync(plan) = d else {
            panic!("{d:?}")
        };
        let commits: Vec<(i32, i64)> = plan.commit.iter().map(|c| (c.partition, c.offset)).collect();
        assert_eq!(commits, [(0, 10), (3, 1)]);
        assert_eq!(plan.commit[0].metadata.as_deref(), Some("m"));
        assert_eq!(
            plan.ahead,
            [SkippedAhead {
                topic: "A.t".to_owned(),
                partition: 1,
                target: 50,
                translated: 20
            }]
        );
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn an_unknown_group_gets_every_translation() {
        let d = decide(&described(GroupState::Dead, 0), &[], &[], &[checkpoint(0, 10)]);
        assert!(matches!(d, SyncDecision::Sync(p) if p.commit.len() == 1));
    }

    #[test]
    fn a_group_in_use_is_left_alone() {
        for (state, members) in [
            (GroupState::Stable, 2),
            (GroupState::PreparingRebalance, 1),
            (GroupState::CompletingRebalance, 0),
            (GroupState::Empty, 1),
            (GroupState::Other("Assigning".to_owned()), 0),
        ] {
            let d = decide(&described(state.clone(), members), &[], &[], &[checkpoint(0, 10)]);
            assert_eq!(d, SyncDecision::Active { state, members });
        }
    }

    #[test]
    fn a_partition_whose_target_offset_is_unreadable_is_not_committed() {
        // The target could not tell partition 1's offset: it may be ahead of the translation,
        // so committing there could rewind the group.
        let d = decide(
            &described(GroupState::Empty, 0),
            &[committed(0, 5)],
            &[("A.t".to_owned(), 1)],
            &[checkpoint(0, 10), checkpoint(1, 20)],
        );
        let SyncDecision::Sync(plan) = d else {
            panic!("{d:?}")
        };
        let commits: Vec<(i32, i64)> = plan.commit.iter().map(|c| (c.partition, c.offset)).collect();
        assert_eq!(commits, [(0, 10)]);
        assert_eq!(plan.unreadable, 1);
    }
}

#[cfg(test)]
mod kinds {
    use super::*;

    fn group(state: GroupState, members: usize, kind: GroupKind) -> GroupDescription {
        GroupDescription { state, members, kind }
    }

    fn checkpoint() -> GroupCheckpoint {
        GroupCheckpoint {
            group: "g".to_owned(),
            source_topic: "t".to_owned(),
            topic: "A.t".to_owned(),
            partition: 0,
            upstream: 10,
            downstream: 10,
            metadata: String::new(),
        }
    }

    #[test]
    fn classic_and_kip_848_groups_follow_the_same_rules() {
        let classic = |p: &str| GroupKind::Classic {
            protocol_type: p.to_owned(),
        };
        for kind in [GroupKind::Consumer, classic("consumer"), classic("")] {
            let idle = decide(
                &group(GroupState::Empty, 0, kind.clone()),
                &[],
                &[],
                &[checkpoint()],
            );
            assert!(
                matches!(idle, SyncDecision::Sync(p) if p.commit.len() == 1),
                "{kind:?}"
            );
            let busy = decide(
                &group(GroupState::Stable, 1, kind.clone()),
                &[],
                &[],
                &[checkpoint()],
            );
            assert!(matches!(busy, SyncDecision::Active { .. }), "{kind:?}");
        }
    }

    #[test]
    fn a_group_of_another_protocol_is_never_committed_to() {
        let kind = GroupKind::Classic {
            protocol_type: "connect".to_owned(),
        };
        let d = decide(&group(GroupState::Empty, 0, kind), &[], &[], &[checkpoint()]);
        assert_eq!(
            d,
            SyncDecision::NotConsumerGroup {
                protocol_type: "connect".to_owned()
            }
        );
    }
}
