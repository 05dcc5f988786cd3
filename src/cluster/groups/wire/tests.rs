//! Layouts of the group responses in every version, and what kmirror reads from them.

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

#[test]
fn only_consumer_groups_are_listed_as_such() {
    use kafka_protocol::messages::list_groups_response::ListedGroup as Wire;
    let listed = |id: &str, protocol: &str, kind: &str| {
        Wire::default()
            .with_group_id(group_id(id))
            .with_protocol_type(s(protocol))
            .with_group_type(s(kind))
    };
    let r = ListGroupsResponse::default().with_groups(vec![
        listed("classic", "consumer", "Classic"),
        listed("kip848", "consumer", "Consumer"),
        listed("offsets-only", "", "Classic"),
        listed("share", "share", "Share"),
        listed("streams", "streams", "Streams"),
        listed("connect", "connect", "Classic"),
        listed("odd", "consumer", "Share"),
    ]);
    let kept = |version| -> Vec<String> {
        process_list_groups_response(&r, version)
            .unwrap()
            .into_iter()
            .filter(ListedGroup::is_consumer_group)
            .map(|g| g.id)
            .collect()
    };
    assert_eq!(kept(5), ["classic", "kip848", "offsets-only"]);
    // Before v5 the type is not on the wire: the protocol type decides.
    assert_eq!(kept(4), ["classic", "kip848", "offsets-only", "odd"]);
}

#[test]
fn kip_848_groups_are_described_by_consumer_group_describe() {
    use kafka_protocol::messages::consumer_group_describe_response::{DescribedGroup as Wire, Member};
    let r = ConsumerGroupDescribeResponse::default().with_groups(vec![
        Wire::default()
            .with_group_id(group_id("g"))
            .with_group_state(s("Reconciling"))
            .with_members(vec![Member::default(), Member::default()]),
        Wire::default()
            .with_group_id(group_id("classic"))
            .with_error_code(GROUP_ID_NOT_FOUND),
        Wire::default()
            .with_group_id(group_id("denied"))
            .with_error_code(30),
    ]);
    let d = process_consumer_group_describe_response(&r, "g")
        .unwrap()
        .unwrap();
    assert_eq!(d.kind, GroupKind::Consumer);
    assert_eq!(
        (d.state.clone(), d.members),
        (GroupState::Other("Reconciling".to_owned()), 2)
    );
    assert!(d.is_consumer_group());
    assert_eq!(process_consumer_group_describe_response(&r, "classic"), Ok(None));
    assert!(process_consumer_group_describe_response(&r, "denied").is_err());
    assert_eq!(
        process_consumer_group_describe_response(&r, "missing"),
        Err(ResponseIssue::Missing)
    );
    assert_eq!(
        build_consumer_group_describe_request("g").group_ids,
        [group_id("g")]
    );
    assert_eq!(GroupState::parse("empty"), GroupState::Empty);
}

#[test]
fn a_classic_group_of_another_protocol_is_not_a_consumer_group() {
    let r = DescribeGroupsResponse::default().with_groups(vec![
        DescribedGroup::default()
            .with_group_id(group_id("g"))
            .with_group_state(s("Stable"))
            .with_protocol_type(s("connect")),
    ]);
    let d = process_describe_groups_response(&r, "g").unwrap();
    assert!(!d.is_consumer_group());
    assert!(GroupDescription::unknown().is_consumer_group());
}

#[test]
fn an_empty_group_type_is_no_type() {
    use kafka_protocol::messages::list_groups_response::ListedGroup as Wire;
    let r = ListGroupsResponse::default().with_groups(vec![
        Wire::default()
            .with_group_id(group_id("g"))
            .with_protocol_type(s("consumer")),
    ]);
    let listed = process_list_groups_response(&r, 5).unwrap();
    assert_eq!(listed[0].group_type, None);
    assert!(listed[0].is_consumer_group());
}
