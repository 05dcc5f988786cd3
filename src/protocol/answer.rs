//! Broker-side answers, for the in-process brokers (the test kit's fake broker and the
//! benchmark's synthetic source and sink): the shape of each response, walking the request's
//! topics and partitions, with the per-partition decision left to the caller.

use std::net::SocketAddr;

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::versions::SUPPORTED;

/// Node id of a one-broker cluster; it leads every partition.
pub const NODE_ID: i32 = 0;

/// Every API version kmirror speaks.
pub fn api_versions(error: i16) -> ApiVersionsResponse {
    let keys = SUPPORTED
        .iter()
        .map(|(k, lo, hi)| {
            ApiVersion::default()
                .with_api_key(*k as i16)
                .with_min_version(*lo)
                .with_max_version(*hi)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(keys)
}

/// The topic names a Metadata request asks about; `None` for all.
pub fn requested_topics(req: &MetadataRequest) -> Option<Vec<String>> {
    req.topics.as_ref().map(|ts| {
        ts.iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect()
    })
}

/// A one-broker cluster at `addr`: each topic with its partition count (all led by
/// [`NODE_ID`], each partition answered with `partition_error`), or unknown.
pub fn metadata(
    cluster_id: &'static str,
    addr: SocketAddr,
    topics: impl IntoIterator<Item = (String, Option<i32>)>,
    partition_error: i16,
) -> MetadataResponse {
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let topic =
                MetadataResponseTopic::default().with_name(Some(TopicName(StrBytes::from_string(name))));
            match partitions {
                None => topic.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION),
                Some(n) => topic.with_partitions(
                    (0..n)
                        .map(|i| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i)
                                .with_error_code(partition_error)
                                .with_leader_id(BrokerId(NODE_ID))
                                .with_replica_nodes(vec![BrokerId(NODE_ID)])
                                .with_isr_nodes(vec![BrokerId(NODE_ID)])
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str(cluster_id)))
        .with_controller_id(BrokerId(NODE_ID))
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(NODE_ID))
                .with_host(StrBytes::from_string(addr.ip().to_string()))
                .with_port(i32::from(addr.port())),
        ])
        .with_topics(topics)
}

/// `answer(topic, partition, timestamp)` gives the offset (timestamp -2 asks for the earliest,
/// -1 for the latest) or an error code.
pub fn list_offsets(
    req: &ListOffsetsRequest,
    mut answer: impl FnMut(&str, i32, i64) -> Result<i64, i16>,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    match answer(t.name.0.as_str(), p.partition_index, p.timestamp) {
                        Ok(offset) => r.with_offset(offset).with_timestamp(-1),
                        Err(code) => r.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// `answer(topic, partition request)` fills a partition's data (its index is set here) or
/// gives an error code, answered with empty records.
pub fn fetch(
    req: &FetchRequest,
    mut answer: impl FnMut(&str, &FetchPartition, PartitionData) -> Result<PartitionData, i16>,
) -> FetchResponse {
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = PartitionData::default().with_partition_index(p.partition);
                    answer(t.topic.0.as_str(), p, r.clone())
                        .unwrap_or_else(|code| r.with_error_code(code).with_records(Some(Bytes::new())))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}

/// `answer(topic, partition, records)` appends and gives the base offset, or an error code.
pub fn produce(
    req: &ProduceRequest,
    mut answer: impl FnMut(&str, i32, Option<&Bytes>) -> Result<i64, i16>,
) -> ProduceResponse {
    let responses = req
        .topic_data
        .iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    let r = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_log_append_time_ms(-1);
                    match answer(t.name.0.as_str(), p.index, p.records.as_ref()) {
                        Ok(base) => r.with_base_offset(base),
                        Err(code) => r.with_error_code(code).with_base_offset(-1),
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
