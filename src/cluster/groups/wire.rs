//! Pure request builders and response processors of the consumer-group APIs a replicator
//! needs: FindCoordinator, ListGroups, DescribeGroups, OffsetFetch and an admin-style
//! OffsetCommit. Versions matter where the layout changed: FindCoordinator batches keys from
//! v4 (KIP-699) and OffsetFetch batches groups from v8 (KIP-709); both are built and read in
//! either shape.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::partition::{ResponseIssue, check};
use crate::protocol::errors::{self, ErrorCode};

/// `FindCoordinatorRequest.CoordinatorType.GROUP`.
const KEY_TYPE_GROUP: i8 = 0;
/// `GROUP_ID_NOT_FOUND`: DescribeGroups v6+ (and tansu) answer it for a group that does not
/// exist, where older versions answer state `Dead`.
pub const GROUP_ID_NOT_FOUND: i16 = 69;

/// A group's state as DescribeGroups names it (`ClassicGroupState` in apache/kafka).
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
    pub fn parse(s: &str) -> Self {
        match s {
            "Empty" => Self::Empty,
            "Stable" => Self::Stable,
            "PreparingRebalance" => Self::PreparingRebalance,
            "CompletingRebalance" => Self::CompletingRebalance,
            "Dead" => Self::Dead,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What DescribeGroups says about one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub members: usize,
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

pub fn build_list_groups_request() -> ListGroupsRequest {
    ListGroupsRequest::default()
}

/// Group ids with their protocol type (`consumer` for consumer groups, empty for groups that
/// only ever committed offsets).
pub fn process_list_groups_response(r: &ListGroupsResponse) -> Result<Vec<(String, String)>, ResponseIssue> {
    check(r.error_code, None)?;
    Ok(r.groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.protocol_type.to_string()))
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
        return Ok(GroupDescription {
            state: GroupState::Dead,
            members: 0,
        });
    }
    check(g.error_code, g.error_message.as_ref())?;
    Ok(GroupDescription {
        state: GroupState::parse(g.group_state.as_str()),
        members: g.members.len(),
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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };

    use super::*;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    #[test]
    fn find_coordinator_in_both_layouts() {
        assert_eq!(build_find_coordinator_request("g", 4).coordinator_keys, [s("g")]);
        assert_eq!(build_find_coordinator_request("g", 3).key, s("g"));
        let v4 = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_key(s("g"))
                .with_host(s("::1"))
                .with_port(9092),
        ]);
        assert_eq!(
            process_find_coordinator_response(&v4, "g", 4),
            Ok("[::1]:9092".to_owned())
        );
        assert_eq!(
            process_find_coordinator_response(&v4, "h", 4),
            Err(ResponseIssue::Missing)
        );
        let v3 = FindCoordinatorResponse::default().with_error_code(15);
        assert!(matches!(
            process_find_coordinator_response(&v3, "g", 3),
            Err(ResponseIssue::Error {
                code: ErrorCode(15),
                ..
            })
        ));
    }

    #[test]
    fn an_unknown_group_is_dead() {
        let r = DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default()
                .with_group_id(group_id("g"))
                .with_error_code(GROUP_ID_NOT_FOUND),
        ]);
        let d = process_describe_groups_response(&r, "g").unwrap();
        assert_eq!((d.state, d.members), (GroupState::Dead, 0));
        assert_eq!(GroupState::parse("Stable"), GroupState::Stable);
        assert_eq!(
            GroupState::parse("Assigning"),
            GroupState::Other("Assigning".to_owned())
        );
    }

    #[test]
    fn offset_fetch_in_both_layouts_skips_partitions_without_offsets() {
        let old = OffsetFetchResponse::default().with_topics(vec![
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(7)
                        .with_metadata(Some(s("m"))),
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(-1),
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(2)
                        .with_error_code(3),
                ]),
        ]);
        let (offsets, issues) = process_offset_fetch_response(&old, "g", 7).unwrap();
        assert_eq!(
            offsets,
            [CommittedOffset {
                topic: "t".to_owned(),
                partition: 0,
                offset: 7,
                metadata: Some("m".to_owned())
            }]
        );
        assert_eq!(issues[0].partition, 2);
        let new = OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_group_id(group_id("g"))
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(3)
                                .with_committed_offset(9),
                        ]),
                ]),
        ]);
        let (offsets, _) = process_offset_fetch_response(&new, "g", 8).unwrap();
        assert_eq!((offsets[0].partition, offsets[0].offset), (3, 9));
        assert_eq!(
            process_offset_fetch_response(&new, "x", 8),
            Err(ResponseIssue::Missing)
        );
        assert_eq!(build_offset_fetch_request("g", 8).groups.len(), 1);
        assert_eq!(build_offset_fetch_request("g", 7).group_id, group_id("g"));
    }

    #[test]
    fn an_admin_commit_names_every_refused_partition() {
        let offsets: Vec<CommittedOffset> = (0..3)
            .map(|p| CommittedOffset {
                topic: "t".to_owned(),
                partition: p,
                offset: 10,
                metadata: None,
            })
            .collect();
        let r = build_offset_commit_request("g", &offsets);
        assert_eq!((r.generation_id_or_member_epoch, r.member_id.as_str()), (-1, ""));
        assert_eq!((r.topics.len(), r.topics[0].partitions.len()), (1, 3));
        let response = OffsetCommitResponse::default().with_topics(vec![
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetCommitResponsePartition::default().with_partition_index(0),
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(1)
                        .with_error_code(25),
                ]),
        ]);
        let issues = process_offset_commit_response(&response, &offsets);
        let failed: Vec<(i32, i16)> = issues.iter().map(|i| (i.partition, i.code.0)).collect();
        assert_eq!(failed, [(1, 25), (2, -1)]);
    }
}
