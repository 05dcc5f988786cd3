//! Pure request builders and response processors of the consumer-group APIs a replicator
//! needs: FindCoordinator, ListGroups, DescribeGroups, ConsumerGroupDescribe, OffsetFetch and an
//! admin-style OffsetCommit. Versions matter where the layout changed: FindCoordinator batches keys from
//! v4 (KIP-699) and OffsetFetch batches groups from v8 (KIP-709); both are built and read in
//! either shape.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::partition::{ResponseIssue, check};
use crate::protocol::errors::{self, ErrorCode};

/// `FindCoordinatorRequest.CoordinatorType.GROUP`.
const KEY_TYPE_GROUP: i8 = 0;
/// `GROUP_ID_NOT_FOUND`: DescribeGroups v6+ answer it for a group that does not
/// exist, where older versions answer state `Dead`.
pub const GROUP_ID_NOT_FOUND: i16 = 69;

/// A group's state as DescribeGroups names it (`ClassicGroupState` in apache/kafka), or
/// ConsumerGroupDescribe (`ConsumerGroup.ConsumerGroupState`: `Empty`, `Assigning`,
/// `Reconciling`, `Stable`, `Dead`; the two in-between states are kept as `Other`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    Stable,
    PreparingRebalance,
    CompletingRebalance,
    /// Unknown to the coordinator, or removed.
    Dead,
    /// A name this client does not know.
    Other(String),
}

impl GroupState {
    /// Case-insensitive: Kafka writes these names capitalised, other brokers may not.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "empty" => Self::Empty,
            "stable" => Self::Stable,
            "preparingrebalance" => Self::PreparingRebalance,
            "completingrebalance" => Self::CompletingRebalance,
            "dead" => Self::Dead,
            _ => Self::Other(s.to_owned()),
        }
    }
}

/// The two kinds of consumer group a Kafka 4 coordinator keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKind {
    /// A group of the classic protocol (JoinGroup/SyncGroup), with its protocol type:
    /// `consumer` for consumers, empty for a group that only ever had offsets committed,
    /// anything else (`connect`, kmirror's own) for groups that are not consumer groups.
    Classic { protocol_type: String },
    /// A group of the consumer protocol of KIP-848 (`group.protocol=consumer`).
    Consumer,
}

/// What the coordinator says about one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub members: usize,
    pub kind: GroupKind,
}

impl GroupDescription {
    /// A group the coordinator does not know.
    pub fn unknown() -> Self {
        Self {
            state: GroupState::Dead,
            members: 0,
            kind: GroupKind::Classic {
                protocol_type: String::new(),
            },
        }
    }

    /// True for consumer groups, whose offsets kmirror syncs: KIP-848 groups and classic
    /// groups of protocol type `consumer` or none.
    pub fn is_consumer_group(&self) -> bool {
        match &self.kind {
            GroupKind::Consumer => true,
            GroupKind::Classic { protocol_type } => is_consumer_protocol(protocol_type),
        }
    }
}

/// The protocol types of consumer groups: `consumer` (classic consumers, and KIP-848 groups in
/// ListGroups), or none (a group only committed to, by an admin client or a consumer that
/// assigns its partitions itself). `AdminClient.listConsumerGroups` keeps the same two.
pub fn is_consumer_protocol(protocol_type: &str) -> bool {
    protocol_type.is_empty() || protocol_type == "consumer"
}

/// One group of a ListGroups answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub id: String,
    pub protocol_type: String,
    /// ListGroups v5+ (KIP-848): `classic`, `consumer`, `share`, `streams`; `None` before, or
    /// when the broker left it empty.
    pub group_type: Option<String>,
}

impl ListedGroup {
    /// A consumer group: protocol type `consumer` or none, and, where the broker says, of type
    /// `classic` or `consumer` (never a share or streams group, nor a Connect or kmirror group).
    pub fn is_consumer_group(&self) -> bool {
        let typed = self
            .group_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("classic") || t.eq_ignore_ascii_case("consumer"));
        typed && is_consumer_protocol(&self.protocol_type)
    }
}

/// One committed offset of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// The next record the group would read.
    pub offset: i64,
    pub metadata: Option<String>,
}

/// A per-partition failure inside a group response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIssue {
    pub topic: String,
    pub partition: i32,
    pub code: ErrorCode,
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

pub fn build_find_coordinator_request(group: &str, version: i16) -> FindCoordinatorRequest {
    let key = StrBytes::from_string(group.to_owned());
    let r = FindCoordinatorRequest::default().with_key_type(KEY_TYPE_GROUP);
    if version >= 4 {
        r.with_coordinator_keys(vec![key])
    } else {
        r.with_key(key)
    }
}

/// The coordinator's `host:port`.
pub fn process_find_coordinator_response(
    r: &FindCoordinatorResponse,
    group: &str,
    version: i16,
) -> Result<String, ResponseIssue> {
    let (code, message, host, port) = if version >= 4 {
        let c = r
            .coordinators
            .iter()
            .find(|c| c.key.as_str() == group)
            .ok_or(ResponseIssue::Missing)?;
        (c.error_code, c.error_message.as_ref(), &c.host, c.port)
    } else {
        (r.error_code, r.error_message.as_ref(), &r.host, r.port)
    };
    check(code, message)?;
    let host = host.as_str();
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Every group of every type: no state filter, no type filter (the caller filters, the same
/// way whatever the version).
pub fn build_list_groups_request() -> ListGroupsRequest {
    ListGroupsRequest::default()
}

/// Every listed group with its protocol type and, from v5, its type.
pub fn process_list_groups_response(
    r: &ListGroupsResponse,
    version: i16,
) -> Result<Vec<ListedGroup>, ResponseIssue> {
    check(r.error_code, None)?;
    Ok(r.groups
        .iter()
        .map(|g| ListedGroup {
            id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            // An empty type says nothing (a broker that does not fill it in).
            group_type: (version >= 5 && !g.group_type.is_empty()).then(|| g.group_type.to_string()),
        })
        .collect())
}

pub fn build_describe_groups_request(group: &str) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default().with_groups(vec![group_id(group)])
}

pub fn process_describe_groups_response(
    r: &DescribeGroupsResponse,
    group: &str,
) -> Result<GroupDescription, ResponseIssue> {
    let g = r
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or(ResponseIssue::Missing)?;
    if g.error_code == GROUP_ID_NOT_FOUND {
        return Ok(GroupDescription::unknown());
    }
    check(g.error_code, g.error_message.as_ref())?;
    Ok(GroupDescription {
        state: GroupState::parse(g.group_state.as_str()),
        members: g.members.len(),
        kind: GroupKind::Classic {
            protocol_type: g.protocol_type.to_string(),
        },
    })
}

/// Every committed offset of `group` (topics `None`: all partitions).
pub fn build_offset_fetch_request(group: &str, version: i16) -> OffsetFetchRequest {
    if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(None),
        ])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(None)
    }
}

/// The group's committed offsets (partitions without one, offset -1, are left out), and the
/// partitions the broker answered with an error.
pub fn process_offset_fetch_response(
    r: &OffsetFetchResponse,
    group: &str,
    version: i16,
) -> Result<(Vec<CommittedOffset>, Vec<PartitionIssue>), ResponseIssue> {
    let mut offsets = Vec::new();
    let mut issues = Vec::new();
    let mut take = |topic: &str, partition: i32, offset: i64, metadata: Option<&StrBytes>, code: i16| {
        if code != errors::NONE {
            issues.push(PartitionIssue {
                topic: topic.to_owned(),
                partition,
                code: ErrorCode(code),
            });
        } else if offset >= 0 {
            offsets.push(CommittedOffset {
                topic: topic.to_owned(),
                partition,
                offset,
                metadata: metadata.map(|m| m.to_string()),
            });
        }
    };
    if version >= 8 {
        let g = r
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or(ResponseIssue::Missing)?;
        check(g.error_code, None)?;
        for t in &g.topics {
            for p in &t.partitions {
                take(
                    &t.name.0,
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_ref(),
                    p.error_code,
                );
            }
        }
    } else {
        check(r.error_code, None)?;
        for t in &r.topics {
            for p in &t.partitions {
                take(
                    &t.name.0,
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_ref(),
                    p.error_code,
                );
            }
        }
    }
    Ok((offsets, issues))
}

/// An admin-style commit, as `AdminClient.alterConsumerGroupOffsets` sends it: generation
/// -1 and an empty member id, which the coordinator accepts only for a group without active
/// members.
pub fn build_offset_commit_request(group: &str, offsets: &[CommittedOffset]) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for o in offsets {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(o.partition)
            .with_committed_offset(o.offset)
            .with_committed_leader_epoch(-1)
            .with_committed_metadata(Some(StrBytes::from_string(
                o.metadata.clone().unwrap_or_default(),
            )));
        match topics.iter_mut().find(|t| t.name.0.as_str() == o.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(o.topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::default())
        .with_group_instance_id(None)
        .with_retention_time_ms(-1)
        .with_topics(topics)
}

/// The partitions the commit failed for; a partition the response does not mention failed
/// too (code -1).
pub fn process_offset_commit_response(
    r: &OffsetCommitResponse,
    offsets: &[CommittedOffset],
) -> Vec<PartitionIssue> {
    offsets
        .iter()
        .filter_map(|o| {
            let code = r
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == o.topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == o.partition)
                .map_or(-1, |p| p.error_code);
            (code != errors::NONE).then(|| PartitionIssue {
                topic: o.topic.clone(),
                partition: o.partition,
                code: ErrorCode(code),
            })
        })
        .collect()
}

/// ConsumerGroupDescribe (API 69, KIP-848) for one group.
pub fn build_consumer_group_describe_request(group: &str) -> ConsumerGroupDescribeRequest {
    ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)])
}

/// The group, if it is a KIP-848 consumer group; `None` when the coordinator does not know it
/// as one (GROUP_ID_NOT_FOUND: no such group, or a classic group, which DescribeGroups then
/// describes).
pub fn process_consumer_group_describe_response(
    r: &ConsumerGroupDescribeResponse,
    group: &str,
) -> Result<Option<GroupDescription>, ResponseIssue> {
    let g = r
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or(ResponseIssue::Missing)?;
    if g.error_code == GROUP_ID_NOT_FOUND {
        return Ok(None);
    }
    check(g.error_code, g.error_message.as_ref())?;
    Ok(Some(GroupDescription {
        state: GroupState::parse(g.group_state.as_str()),
        members: g.members.len(),
        kind: GroupKind::Consumer,
    }))
}

#[cfg(test)]
mod tests;
