//! The fake broker's group coordinator: groups with a state and a member count set by the
//! test, and committed offsets. It answers FindCoordinator (itself), ListGroups,
//! DescribeGroups (`Dead` for an unknown group, as Kafka before DescribeGroups v6),
//! ConsumerGroupDescribe (GROUP_ID_NOT_FOUND for every group: its groups are classic ones),
//! OffsetFetch in both layouts, and OffsetCommit, refusing an admin-style commit
//! (generation -1) to a group with members with `UNKNOWN_MEMBER_ID`, as Kafka's
//! `GroupCoordinator` does.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    BrokerId, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::protocol::answer::NODE_ID;

/// `UNKNOWN_MEMBER_ID`.
const UNKNOWN_MEMBER_ID: i16 = 25;

/// One group on the fake broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeGroup {
    /// As DescribeGroups reports it (`Empty`, `Stable`, …).
    pub state: String,
    pub members: usize,
    /// (topic, partition) → (offset, metadata).
    pub offsets: BTreeMap<(String, i32), (i64, String)>,
}

pub(super) fn find_coordinator(
    groups_host: &str,
    port: i32,
    req: &FindCoordinatorRequest,
    version: i16,
    error: Option<i16>,
) -> FindCoordinatorResponse {
    let code = error.unwrap_or(0);
    let host = StrBytes::from_string(groups_host.to_owned());
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(BrokerId(NODE_ID))
                    .with_host(host.clone())
                    .with_port(port)
                    .with_error_code(code)
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(NODE_ID))
            .with_host(host)
            .with_port(port)
    }
}

pub(super) fn list_groups(groups: &BTreeMap<String, FakeGroup>, error: Option<i16>) -> ListGroupsResponse {
    ListGroupsResponse::default()
        .with_error_code(error.unwrap_or(0))
        .with_groups(
            groups
                .iter()
                .map(|(name, g)| {
                    ListedGroup::default()
                        .with_group_id(StrBytes::from_string(name.clone()).into())
                        .with_protocol_type(StrBytes::from_static_str("consumer"))
                        .with_group_state(StrBytes::from_string(g.state.clone()))
                })
                .collect(),
        )
}

pub(super) fn describe_groups(
    groups: &BTreeMap<String, FakeGroup>,
    req: &DescribeGroupsRequest,
    error: Option<i16>,
) -> DescribeGroupsResponse {
    let described = req
        .groups
        .iter()
        .map(|id| {
            let (state, members) = groups
                .get(id.0.as_str())
                .map_or(("Dead".to_owned(), 0), |g| (g.state.clone(), g.members));
            DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(error.unwrap_or(0))
                .with_group_state(StrBytes::from_string(state))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_members(
                    (0..members)
                        .map(|i| {
                            DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(format!("member-{i}")))
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}

/// Every fake group is a classic group, which Kafka's coordinator does not describe as a
/// KIP-848 consumer group: GROUP_ID_NOT_FOUND, as for a group it does not know.
pub(super) fn consumer_group_describe(req: &ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup as Described;
    /// `GROUP_ID_NOT_FOUND`.
    const GROUP_ID_NOT_FOUND: i16 = 69;
    ConsumerGroupDescribeResponse::default().with_groups(
        req.group_ids
            .iter()
            .map(|id| {
                Described::default()
                    .with_group_id(id.clone())
                    .with_error_code(GROUP_ID_NOT_FOUND)
                    .with_error_message(Some(StrBytes::from_static_str("not a consumer group")))
            })
            .collect(),
    )
}

pub(super) fn offset_fetch(
    groups: &BTreeMap<String, FakeGroup>,
    req: &OffsetFetchRequest,
    version: i16,
    error: Option<i16>,
) -> OffsetFetchResponse {
    let code = error.unwrap_or(0);
    let offsets_of = |group: &str| -> BTreeMap<String, Vec<(i32, i64, String)>> {
        let mut by_topic: BTreeMap<String, Vec<(i32, i64, String)>> = BTreeMap::new();
        if let Some(g) = groups.get(group) {
            for ((t, p), (o, m)) in &g.offsets {
                by_topic.entry(t.clone()).or_default().push((*p, *o, m.clone()));
            }
        }
        by_topic
    };
    if version >= 8 {
        let answered = req
            .groups
            .iter()
            .map(|g| {
                let topics = offsets_of(g.group_id.0.as_str())
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(t)))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|(p, o, m)| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(o)
                                            .with_metadata(Some(StrBytes::from_string(m)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code)
                    .with_topics(topics)
            })
            .collect();
        OffsetFetchResponse::default().with_groups(answered)
    } else {
        let topics = offsets_of(req.group_id.0.as_str())
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|(p, o, m)| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(o)
                                    .with_metadata(Some(StrBytes::from_string(m)))
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default()
            .with_error_code(code)
            .with_topics(topics)
    }
}

pub(super) fn offset_commit(
    groups: &mut BTreeMap<String, FakeGroup>,
    req: &OffsetCommitRequest,
    error: Option<i16>,
) -> OffsetCommitResponse {
    let group = groups
        .entry(req.group_id.0.to_string())
        .or_insert_with(|| FakeGroup {
            state: "Empty".to_owned(),
            ..FakeGroup::default()
        });
    let refused = req.generation_id_or_member_epoch < 0 && group.members > 0;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = error.unwrap_or(if refused { UNKNOWN_MEMBER_ID } else { 0 });
                    if code == 0 {
                        let _ = group.offsets.insert(
                            (t.name.0.to_string(), p.partition_index),
                            (
                                p.committed_offset,
                                p.committed_metadata
                                    .as_ref()
                                    .map(|m| m.to_string())
                                    .unwrap_or_default(),
                            ),
                        );
                    }
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
