//! Request decoding, per-API answers and response encoding for the fake broker.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeGroupsRequest, FetchRequest, FetchResponse,
    FindCoordinatorRequest, InitProducerIdRequest, InitProducerIdResponse, ListGroupsRequest,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, ProduceResponse, ProducerId, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
};

use super::{Action, Shared, groups};
use crate::protocol::errors;
use crate::protocol::versions::SUPPORTED;

/// Node id of the fake broker; it leads every partition.
pub(super) const NODE_ID: i32 = 0;

fn encode<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .ok()?;
    body.encode(&mut buf, version).ok()?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Some(buf.freeze())
}

/// Answers one request frame; `None` closes the connection (undecodable or unknown API, as
/// a Kafka broker does).
pub(super) async fn handle(shared: &Shared, mut frame: Bytes) -> Option<(Action, Bytes)> {
    let header = decode_request_header_from_buffer(&mut frame).ok()?;
    let api = ApiKey::try_from(header.request_api_key).ok()?;
    let version = header.request_api_version;
    let cid = header.correlation_id;
    shared.requests.lock().unwrap().push((api, version));
    let action = shared.take_action(api);
    let (error, delay) = match &action {
        Action::Answer { error, delay } => (*error, *delay),
        _ => (None, None),
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let response = match api {
        ApiKey::ApiVersions => {
            let _ = ApiVersionsRequest::decode(&mut frame, version).ok()?;
            let keys = SUPPORTED
                .iter()
                .map(|(k, lo, hi)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*lo)
                        .with_max_version(*hi)
                })
                .collect();
            let body = ApiVersionsResponse::default()
                .with_error_code(error.unwrap_or(0))
                .with_api_keys(keys);
            encode(cid, version, &body)
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::decode(&mut frame, version).ok()?;
            encode(cid, version, &metadata(shared, &req, error))
        }
        ApiKey::ListOffsets => {
            let req = ListOffsetsRequest::decode(&mut frame, version).ok()?;
            encode(cid, version, &list_offsets(shared, &req, error))
        }
        ApiKey::Fetch => {
            let req = FetchRequest::decode(&mut frame, version).ok()?;
            let body = fetch(shared, &req, error);
            let empty = body
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .all(|p| p.records.as_ref().is_none_or(Bytes::is_empty));
            if empty {
                // Long-poll a little instead of letting a client spin.
                tokio::time::sleep(Duration::from_millis(
                    u64::try_from(req.max_wait_ms).unwrap_or(0).min(50),
                ))
                .await;
            }
            encode(cid, version, &body)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode(&mut frame, version).ok()?;
            encode(cid, version, &produce(shared, &req, error))
        }
        ApiKey::InitProducerId => {
            let _ = InitProducerIdRequest::decode(&mut frame, version).ok()?;
            let id = shared.state.lock().unwrap().new_producer_id();
            let body = InitProducerIdResponse::default()
                .with_error_code(error.unwrap_or(0))
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0);
            encode(cid, version, &body)
        }
        ApiKey::CreateTopics => {
            let req = CreateTopicsRequest::decode(&mut frame, version).ok()?;
            let mut state = shared.state.lock().unwrap();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let code = error.unwrap_or_else(|| {
                        if state.create_topic(t.name.0.as_str(), t.num_partitions.max(1)) {
                            for c in &t.configs {
                                state.set_config(
                                    t.name.0.as_str(),
                                    c.name.as_str(),
                                    c.value.as_deref().unwrap_or(""),
                                );
                            }
                            0
                        } else {
                            errors::TOPIC_ALREADY_EXISTS
                        }
                    });
                    CreatableTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(code)
                })
                .collect();
            encode(cid, version, &CreateTopicsResponse::default().with_topics(topics))
        }
        ApiKey::DescribeConfigs => {
            // A topic's overrides, reported as set on the topic itself.
            let req = DescribeConfigsRequest::decode(&mut frame, version).ok()?;
            let state = shared.state.lock().unwrap();
            let results = req
                .resources
                .iter()
                .map(|r| {
                    let configs = state
                        .configs(r.resource_name.as_str())
                        .into_iter()
                        .map(|(k, v)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(StrBytes::from_string(k))
                                .with_value(Some(StrBytes::from_string(v)))
                                .with_config_source(1)
                        })
                        .collect();
                    DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone())
                        .with_error_code(error.unwrap_or(0))
                        .with_configs(configs)
                })
                .collect();
            encode(
                cid,
                version,
                &DescribeConfigsResponse::default().with_results(results),
            )
        }
        ApiKey::FindCoordinator => {
            let req = FindCoordinatorRequest::decode(&mut frame, version).ok()?;
            let addr = shared.state.lock().unwrap().addr;
            let body = groups::find_coordinator(
                &addr.ip().to_string(),
                i32::from(addr.port()),
                &req,
                version,
                error,
            );
            encode(cid, version, &body)
        }
        ApiKey::ListGroups => {
            let _ = ListGroupsRequest::decode(&mut frame, version).ok()?;
            encode(
                cid,
                version,
                &groups::list_groups(&shared.state.lock().unwrap().groups, error),
            )
        }
        ApiKey::DescribeGroups => {
            let req = DescribeGroupsRequest::decode(&mut frame, version).ok()?;
            let body = groups::describe_groups(&shared.state.lock().unwrap().groups, &req, error);
            encode(cid, version, &body)
        }
        ApiKey::OffsetFetch => {
            let req = OffsetFetchRequest::decode(&mut frame, version).ok()?;
            let body = groups::offset_fetch(&shared.state.lock().unwrap().groups, &req, version, error);
            encode(cid, version, &body)
        }
        ApiKey::OffsetCommit => {
            let req = OffsetCommitRequest::decode(&mut frame, version).ok()?;
            let body = groups::offset_commit(&mut shared.state.lock().unwrap().groups, &req, error);
            encode(cid, version, &body)
        }
        _ => None,
    }?;
    Some((action, response))
}

fn metadata(shared: &Shared, req: &MetadataRequest, error: Option<i16>) -> MetadataResponse {
    let state = shared.state.lock().unwrap();
    let names: Vec<String> = match &req.topics {
        None => state.topic_names(),
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
    };
    let topics = names
        .into_iter()
        .map(|name| {
            let topic = MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
            match state.partition_count(&name) {
                None => topic.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION),
                Some(parts) => topic.with_partitions(
                    (0..parts as i32)
                        .map(|i| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i)
                                .with_error_code(error.unwrap_or(0))
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
        .with_cluster_id(Some(StrBytes::from_static_str("fake-cluster")))
        .with_controller_id(BrokerId(NODE_ID))
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(NODE_ID))
                .with_host(StrBytes::from_string(state.addr.ip().to_string()))
                .with_port(i32::from(state.addr.port())),
        ])
        .with_topics(topics)
}

fn list_offsets(shared: &Shared, req: &ListOffsetsRequest, error: Option<i16>) -> ListOffsetsResponse {
    let mut state = shared.state.lock().unwrap();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let answer =
                        error.map_or_else(|| state.offsets(t.name.0.as_str(), p.partition_index), Err);
                    match answer {
                        Err(code) => r.with_error_code(code),
                        Ok((start, end)) => r
                            .with_offset(if p.timestamp == -2 { start } else { end })
                            .with_timestamp(-1),
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

fn fetch(shared: &Shared, req: &FetchRequest, error: Option<i16>) -> FetchResponse {
    let mut state = shared.state.lock().unwrap();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = PartitionData::default().with_partition_index(p.partition);
                    let max = usize::try_from(p.partition_max_bytes).unwrap_or(0);
                    let answer = error.map_or_else(
                        || state.fetch(t.topic.0.as_str(), p.partition, p.fetch_offset, max),
                        Err,
                    );
                    match answer {
                        Err(code) => r.with_error_code(code).with_records(Some(Bytes::new())),
                        Ok(f) => r
                            .with_high_watermark(f.high_watermark)
                            .with_last_stable_offset(f.high_watermark)
                            .with_log_start_offset(f.log_start)
                            .with_aborted_transactions((req.isolation_level == 1).then(|| {
                                f.aborted
                                    .iter()
                                    .map(|(pid, first)| {
                                        AbortedTransaction::default()
                                            .with_producer_id(ProducerId(*pid))
                                            .with_first_offset(*first)
                                    })
                                    .collect()
                            }))
                            .with_records(Some(f.records)),
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}

fn produce(shared: &Shared, req: &ProduceRequest, error: Option<i16>) -> ProduceResponse {
    let mut state = shared.state.lock().unwrap();
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
                    let answer = error.map_or_else(
                        || state.append(t.name.0.as_str(), p.index, p.records.as_ref()),
                        Err,
                    );
                    match answer {
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
