//! Client-side quota throttling (KIP-219): where a response carries `throttle_time_ms`, and
//! whether the client must honour it.
//!
//! A broker whose quota a client exceeded answers the request at once with the time the
//! client must wait, then stops reading from the connection ("mutes" it) for that long. Kafka's
//! clients send nothing more to that broker until the time has passed (apache/kafka:
//! `NetworkClient.maybeThrottle`, `ClusterConnectionStates.throttle`). Older versions of each
//! API were throttled by the broker delaying the response instead; for those the field only
//! reports what the broker already waited, and the client must not wait again
//! (`AbstractResponse.shouldClientThrottle` per response type).
//!
//! The field is the first of the body in every response kmirror sends except Produce (where
//! it follows the partition results) and ApiVersions (never throttled here: it is the
//! handshake). The reader task looks at every response, so this reads four bytes where it
//! can and decodes only Produce responses, which are small.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ProduceResponse};
use kafka_protocol::protocol::Decodable;

/// The first version of `api` whose throttle time the client must honour itself, for the
/// APIs kmirror sends whose responses carry the time as the first body field; `None` for
/// APIs without one (or without client-side throttling).
fn first_field_from(api: ApiKey) -> Option<i16> {
    Some(match api {
        ApiKey::Fetch => 8,
        ApiKey::ListOffsets => 3,
        ApiKey::Metadata => 6,
        ApiKey::OffsetCommit => 4,
        ApiKey::OffsetFetch => 4,
        ApiKey::FindCoordinator => 2,
        ApiKey::DescribeGroups => 2,
        ApiKey::ListGroups => 2,
        ApiKey::CreateTopics => 3,
        ApiKey::InitProducerId => 1,
        ApiKey::DescribeConfigs => 2,
        ApiKey::CreatePartitions => 1,
        ApiKey::JoinGroup => 3,
        ApiKey::SyncGroup => 2,
        ApiKey::Heartbeat => 2,
        ApiKey::LeaveGroup => 2,
        ApiKey::ConsumerGroupDescribe => 0,
        ApiKey::DescribeAcls => 1,
        ApiKey::CreateAcls => 1,
        ApiKey::IncrementalAlterConfigs => 0,
        ApiKey::DescribeCluster => 0,
        _ => return None,
    })
}

/// First Produce version throttled by the client.
const PRODUCE_FROM: i16 = 6;

/// The throttle time (ms, > 0) the client must wait after `frame`, the response (header
/// included, length prefix stripped) to a request of `api` at `version`; `None` when there is
/// none to honour or the frame cannot say.
pub(crate) fn client_throttle_ms(api: ApiKey, version: i16, frame: &Bytes) -> Option<i32> {
    let mut body = frame.clone();
    skip_header(&mut body, api.response_header_version(version))?;
    let ms = if api == ApiKey::Produce {
        if version < PRODUCE_FROM {
            return None;
        }
        ProduceResponse::decode(&mut body, version).ok()?.throttle_time_ms
    } else {
        if version < first_field_from(api)? || body.remaining() < 4 {
            return None;
        }
        body.get_i32()
    };
    (ms > 0).then_some(ms)
}

/// Skips the correlation id and, in header v1, the tagged fields.
fn skip_header(buf: &mut Bytes, header_version: i16) -> Option<()> {
    if buf.remaining() < 4 {
        return None;
    }
    buf.advance(4);
    if header_version >= 1 {
        let fields = unsigned_varint(buf)?;
        for _ in 0..fields {
            let _tag = unsigned_varint(buf)?;
            let size = usize::try_from(unsigned_varint(buf)?).ok()?;
            if buf.remaining() < size {
                return None;
            }
            buf.advance(size);
        }
    }
    Some(())
}

fn unsigned_varint(buf: &mut Bytes) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let b = buf.get_u8();
        value |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::{
        ConsumerGroupDescribeResponse, CreateAclsResponse, CreatePartitionsResponse, CreateTopicsResponse,
        DescribeAclsResponse, DescribeClusterResponse, DescribeConfigsResponse, DescribeGroupsResponse,
        FetchResponse, FindCoordinatorResponse, IncrementalAlterConfigsResponse, InitProducerIdResponse,
        ListGroupsResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse, OffsetFetchResponse,
        ResponseHeader, TopicName,
    };
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    fn frame<R: Encodable + HeaderVersion>(api: ApiKey, version: i16, body: &R) -> Bytes {
        let mut buf = BytesMut::new();
        let mut header = ResponseHeader::default().with_correlation_id(9);
        if api.response_header_version(version) >= 1 {
            // An unknown tagged field in the header must be skipped, not read as the body.
            header.unknown_tagged_fields.insert(7, Bytes::from_static(b"abc"));
        }
        header
            .encode(&mut buf, api.response_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    /// Every API kmirror sends, at every version it may speak, from a response the crate
    /// encodes with a throttle time: the time is found exactly where the client must honour it.
    #[test]
    fn the_throttle_time_is_found_in_every_response_that_carries_one() {
        let t = 1234;
        macro_rules! check {
            ($api:expr, $ty:ty, $versions:expr) => {
                for v in $versions {
                    let f = frame($api, v, &<$ty>::default().with_throttle_time_ms(t));
                    let want = first_field_from($api).filter(|&from| v >= from).map(|_| t);
                    assert_eq!(client_throttle_ms($api, v, &f), want, "{:?} v{v}", $api);
                }
            };
        }
        check!(ApiKey::Fetch, FetchResponse, 4..=18);
        check!(ApiKey::ListOffsets, ListOffsetsResponse, 2..=10);
        check!(ApiKey::Metadata, MetadataResponse, 3..=13);
        check!(ApiKey::OffsetCommit, OffsetCommitResponse, 3..=9);
        check!(ApiKey::OffsetFetch, OffsetFetchResponse, 3..=9);
        check!(ApiKey::FindCoordinator, FindCoordinatorResponse, 1..=6);
        check!(ApiKey::DescribeGroups, DescribeGroupsResponse, 1..=6);
        check!(ApiKey::ListGroups, ListGroupsResponse, 1..=5);
        check!(ApiKey::CreateTopics, CreateTopicsResponse, 2..=7);
        check!(ApiKey::InitProducerId, InitProducerIdResponse, 0..=5);
        check!(ApiKey::DescribeConfigs, DescribeConfigsResponse, 1..=4);
        check!(ApiKey::CreatePartitions, CreatePartitionsResponse, 0..=3);
        check!(ApiKey::DescribeAcls, DescribeAclsResponse, 1..=3);
        check!(ApiKey::CreateAcls, CreateAclsResponse, 1..=3);
        check!(
            ApiKey::IncrementalAlterConfigs,
            IncrementalAlterConfigsResponse,
            0..=1
        );
        check!(ApiKey::DescribeCluster, DescribeClusterResponse, 0..=1);
        check!(
            ApiKey::ConsumerGroupDescribe,
            ConsumerGroupDescribeResponse,
            0..=1
        );
    }

    #[test]
    fn produce_responses_carry_it_after_the_partitions_from_v6() {
        let body = ProduceResponse::default()
            .with_responses(vec![
                TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_responses(vec![
                        PartitionProduceResponse::default()
                            .with_index(3)
                            .with_base_offset(77),
                    ]),
            ])
            .with_throttle_time_ms(2500);
        for v in 3..=12 {
            let f = frame(ApiKey::Produce, v, &body);
            let want = (v >= PRODUCE_FROM).then_some(2500);
            assert_eq!(client_throttle_ms(ApiKey::Produce, v, &f), want, "v{v}");
        }
    }

    #[test]
    fn zero_unknown_and_truncated_responses_ask_for_no_wait() {
        let f = frame(ApiKey::Fetch, 11, &FetchResponse::default());
        assert_eq!(client_throttle_ms(ApiKey::Fetch, 11, &f), None);
        let f = frame(
            ApiKey::Fetch,
            11,
            &FetchResponse::default().with_throttle_time_ms(-5),
        );
        assert_eq!(client_throttle_ms(ApiKey::Fetch, 11, &f), None);
        assert_eq!(client_throttle_ms(ApiKey::SaslHandshake, 1, &f), None);
        let mut short = BytesMut::new();
        short.put_i32(9);
        short.put_u8(0xff);
        for cut in 0..short.len() {
            let f = short.clone().freeze().slice(..cut);
            assert_eq!(client_throttle_ms(ApiKey::Metadata, 12, &f), None);
        }
    }
}
