//! Request decoding, per-API answers and response encoding for the fake broker.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::fetch_response::AbortedTransaction;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ConsumerGroupDescribeRequest, CreateTopicsRequest, CreateTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeGroupsRequest, FetchRequest, FetchResponse,
    FindCoordinatorRequest, InitProducerIdRequest, InitProducerIdResponse, ListGroupsRequest,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
};

use super::{Action, Shared, groups};
use crate::protocol::answer;
use crate::protocol::errors;

fn encode<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Option<Bytes> {
    crate::protocol::codec::encode_response(correlation_id, version, body).ok()
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
            encode(cid, version, &answer::api_versions(error.unwrap_or(0)))
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
                        // Validate only: the answer a creation would get, nothing created.
                        if req.validate_only {
                            return match state.partition_count(t.name.0.as_str()) {
                                Some(_) => errors::TOPIC_ALREADY_EXISTS,
                                None => 0,
                            };
                        }
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
        ApiKey::ConsumerGroupDescribe => {
            let req = ConsumerGroupDescribeRequest::decode(&mut frame, version).ok()?;
            encode(cid, version, &groups::consumer_group_describe(&req))
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
    let names = answer::requested_topics(req).unwrap_or_else(|| state.topic_names());
    let topics: Vec<(String, Option<i32>)> = names
        .into_iter()
        .map(|name| {
            let partitions = state.partition_count(&name).map(|n| n as i32);
            (name, partitions)
        })
        .collect();
    answer::metadata("fake-cluster", state.addr, topics, error.unwrap_or(0))
}

fn list_offsets(shared: &Shared, req: &ListOffsetsRequest, error: Option<i16>) -> ListOffsetsResponse {
    let mut state = shared.state.lock().unwrap();
    answer::list_offsets(req, |topic, partition, timestamp| {
        let (start, end) = error.map_or_else(|| state.offsets(topic, partition), Err)?;
        Ok(if timestamp == -2 { start } else { end })
    })
}

fn fetch(shared: &Shared, req: &FetchRequest, error: Option<i16>) -> FetchResponse {
    let mut state = shared.state.lock().unwrap();
    answer::fetch(req, |topic, p, r| {
        let max = usize::try_from(p.partition_max_bytes).unwrap_or(0);
        let f = error.map_or_else(|| state.fetch(topic, p.partition, p.fetch_offset, max), Err)?;
        Ok(r.with_high_watermark(f.high_watermark)
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
            .with_records(Some(f.records)))
    })
}

fn produce(shared: &Shared, req: &ProduceRequest, error: Option<i16>) -> ProduceResponse {
    let mut state = shared.state.lock().unwrap();
    answer::produce(req, |topic, partition, records| {
        error.map_or_else(|| state.append(topic, partition, records), Err)
    })
}
