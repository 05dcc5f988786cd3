//! The `group_responses` fuzz entry point and its seeds: consumer-group responses through
//! decoding and kmirror's own processing of them.

use bytes::Bytes;
use kafka_protocol::protocol::Request;

use super::fuzz::response_frame;
use crate::protocol::codec::decode_response;

/// The first byte picks a consumer-group response (FindCoordinator, ListGroups,
/// DescribeGroups, OffsetFetch, OffsetCommit, ConsumerGroupDescribe), the second its version; the rest is the frame.
/// Whatever decodes goes through kmirror's processing of that response: a value or a typed
/// issue, never a panic, and no committed offset below zero.
pub fn group_responses(data: &[u8]) {
    use kafka_protocol::messages::{
        ConsumerGroupDescribeRequest, DescribeGroupsRequest, FindCoordinatorRequest, ListGroupsRequest,
        OffsetCommitRequest, OffsetFetchRequest,
    };

    use crate::cluster::groups::{
        CommittedOffset, process_consumer_group_describe_response, process_describe_groups_response,
        process_find_coordinator_response, process_list_groups_response, process_offset_commit_response,
        process_offset_fetch_response,
    };

    fn decoded<R: Request>(frame: &[u8], version: i16) -> Option<R::Response> {
        (R::VERSIONS.min <= version && version <= R::VERSIONS.max)
            .then(|| decode_response::<R>(Bytes::copy_from_slice(frame), version, 0).ok())
            .flatten()
    }
    let [api, version, rest @ ..] = data else { return };
    let version = i16::from(*version % 12);
    match api % 6 {
        0 => {
            if let Some(r) = decoded::<FindCoordinatorRequest>(rest, version) {
                let _ = process_find_coordinator_response(&r, "g", version);
            }
        }
        1 => {
            if let Some(r) = decoded::<ListGroupsRequest>(rest, version)
                && let Ok(listed) = process_list_groups_response(&r, version)
            {
                // Without a type on the wire, a group's protocol type alone decides.
                if version < 5 {
                    assert!(listed.iter().all(|g| g.group_type.is_none()));
                }
                let _ = listed.iter().filter(|g| g.is_consumer_group()).count();
            }
        }
        2 => {
            if let Some(r) = decoded::<DescribeGroupsRequest>(rest, version) {
                let _ = process_describe_groups_response(&r, "g");
            }
        }
        3 => {
            if let Some(r) = decoded::<OffsetFetchRequest>(rest, version)
                && let Ok((offsets, _)) = process_offset_fetch_response(&r, "g", version)
            {
                assert!(offsets.iter().all(|o| o.offset >= 0));
            }
        }
        5 => {
            if let Some(r) = decoded::<ConsumerGroupDescribeRequest>(rest, version)
                && let Ok(Some(d)) = process_consumer_group_describe_response(&r, "g")
            {
                assert!(d.is_consumer_group());
            }
        }
        _ => {
            if let Some(r) = decoded::<OffsetCommitRequest>(rest, version) {
                let asked = [CommittedOffset {
                    topic: "t".to_owned(),
                    partition: 0,
                    offset: 1,
                    metadata: None,
                }];
                assert!(process_offset_commit_response(&r, &asked).len() <= 1);
            }
        }
    }
}

/// Well-formed group responses in the `group_responses` layout, for group `g`.
pub(super) fn group_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use kafka_protocol::messages::consumer_group_describe_response::{
        DescribedGroup as ConsumerGroupDescribed, Member as ConsumerGroupMember,
    };
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
        ConsumerGroupDescribeResponse, DescribeGroupsResponse, FindCoordinatorResponse, GroupId,
        ListGroupsResponse, OffsetCommitResponse, OffsetFetchResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    let g = || StrBytes::from_static_str("g");
    let t = || TopicName(StrBytes::from_static_str("t"));
    let mut out = Vec::new();
    let coordinator_old = FindCoordinatorResponse::default()
        .with_host(StrBytes::from_static_str("localhost"))
        .with_port(9092);
    for v in [0, 3] {
        out.push((
            "group_responses",
            format!("find_coordinator_v{v}"),
            response_frame(0, v, &coordinator_old),
        ));
    }
    let coordinator = FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_key(g())
            .with_host(StrBytes::from_static_str("localhost"))
            .with_port(9092),
    ]);
    out.push((
        "group_responses",
        "find_coordinator_v4".to_owned(),
        response_frame(0, 4, &coordinator),
    ));
    let listed = ListGroupsResponse::default().with_groups(vec![
        ListedGroup::default()
            .with_group_id(GroupId(g()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_group_type(StrBytes::from_static_str("Consumer")),
    ]);
    for v in [0, 3, 4, 5] {
        out.push((
            "group_responses",
            format!("list_groups_v{v}"),
            response_frame(1, v, &listed),
        ));
    }
    let described = DescribeGroupsResponse::default().with_groups(vec![
        DescribedGroup::default()
            .with_group_id(GroupId(g()))
            .with_group_state(StrBytes::from_static_str("Stable"))
            .with_members(vec![
                DescribedGroupMember::default().with_member_id(StrBytes::from_static_str("m")),
            ]),
    ]);
    for v in [0, 5] {
        out.push((
            "group_responses",
            format!("describe_groups_v{v}"),
            response_frame(2, v, &described),
        ));
    }
    let fetched_old = OffsetFetchResponse::default().with_topics(vec![
        OffsetFetchResponseTopic::default()
            .with_name(t())
            .with_partitions(vec![
                OffsetFetchResponsePartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)
                    .with_metadata(Some(StrBytes::from_static_str("m"))),
            ]),
    ]);
    for v in [1, 7] {
        out.push((
            "group_responses",
            format!("offset_fetch_v{v}"),
            response_frame(3, v, &fetched_old),
        ));
    }
    let fetched_new = OffsetFetchResponse::default().with_groups(vec![
        OffsetFetchResponseGroup::default()
            .with_group_id(GroupId(g()))
            .with_topics(vec![
                OffsetFetchResponseTopics::default()
                    .with_name(t())
                    .with_partitions(vec![
                        OffsetFetchResponsePartitions::default()
                            .with_partition_index(0)
                            .with_committed_offset(42),
                    ]),
            ]),
    ]);
    for v in [8, 9] {
        out.push((
            "group_responses",
            format!("offset_fetch_v{v}"),
            response_frame(3, v, &fetched_new),
        ));
    }
    let committed = OffsetCommitResponse::default().with_topics(vec![
        OffsetCommitResponseTopic::default()
            .with_name(t())
            .with_partitions(vec![
                OffsetCommitResponsePartition::default().with_partition_index(0),
            ]),
    ]);
    for v in [2, 8, 9] {
        out.push((
            "group_responses",
            format!("offset_commit_v{v}"),
            response_frame(4, v, &committed),
        ));
    }
    let consumer_group = ConsumerGroupDescribeResponse::default().with_groups(vec![
        ConsumerGroupDescribed::default()
            .with_group_id(GroupId(g()))
            .with_group_state(StrBytes::from_static_str("Stable"))
            .with_members(vec![
                ConsumerGroupMember::default()
                    .with_member_id(StrBytes::from_static_str("m"))
                    .with_subscribed_topic_names(vec![t()]),
            ]),
    ]);
    for v in [0, 1] {
        out.push((
            "group_responses",
            format!("consumer_group_describe_v{v}"),
            response_frame(5, v, &consumer_group),
        ));
    }
    out
}
