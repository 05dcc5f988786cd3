//! The metadata snapshot: brokers, topics, partition leaders. Built from a Metadata
//! response by a pure function; replaced whole on refresh, stamped with a generation so that
//! callers can tell whether a refresh happened since they last looked.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use thiserror::Error;

use crate::protocol::errors::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port`, as dialled.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub error: ErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub error: ErrorCode,
    pub is_internal: bool,
    /// The id the cluster gave the topic when it was created (Metadata v10+), `None` when the
    /// broker does not tell it. A topic deleted and created again under the same name gets a
    /// new one.
    pub topic_id: Option<TopicId>,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionMetadata>,
}

/// A topic id, shown as Kafka's tools show it (URL-safe base64 without padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(u128);

impl TopicId {
    /// `None` for the zero id, which means "not known" on the wire.
    pub fn new(id: u128) -> Option<Self> {
        (id != 0).then_some(Self(id))
    }
}

impl std::fmt::Display for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0.to_be_bytes()))
    }
}

/// Why a topic-partition cannot be routed right now.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RoutingError {
    #[error("topic {topic} is not in the metadata")]
    UnknownTopic { topic: String },
    #[error("topic {topic}: {error}")]
    TopicError { topic: String, error: ErrorCode },
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("{topic}-{partition} has no leader ({error})")]
    NoLeader {
        topic: String,
        partition: i32,
        error: ErrorCode,
    },
    #[error("{topic}-{partition} is led by broker {leader}, which is not in the metadata")]
    UnknownBroker {
        topic: String,
        partition: i32,
        leader: i32,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    pub generation: u64,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerMetadata>,
    pub topics: HashMap<String, TopicMetadata>,
}

/// A Metadata request for the given topics, or for all topics when `topics` is `None`.
pub fn build_metadata_request(topics: Option<&[String]>) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false)
}

/// Turns a Metadata response into a snapshot.
pub fn process_metadata_response(response: &MetadataResponse, generation: u64) -> MetadataSnapshot {
    let brokers = response
        .brokers
        .iter()
        .map(|b| {
            let node_id = b.node_id.0;
            let meta = BrokerMetadata {
                node_id,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            };
            (node_id, meta)
        })
        .collect();
    let topics = response
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    error: ErrorCode(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            Some((
                name.clone(),
                TopicMetadata {
                    name,
                    error: ErrorCode(t.error_code),
                    is_internal: t.is_internal,
                    topic_id: TopicId::new(t.topic_id.as_u128()),
                    partitions,
                },
            ))
        })
        .collect();
    MetadataSnapshot {
        generation,
        cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
        controller_id: response.controller_id.0,
        brokers,
        topics,
    }
}

impl MetadataSnapshot {
    pub fn topic(&self, topic: &str) -> Result<&TopicMetadata, RoutingError> {
        let t = self.topics.get(topic).ok_or_else(|| RoutingError::UnknownTopic {
            topic: topic.to_owned(),
        })?;
        if !t.error.is_ok() {
            return Err(RoutingError::TopicError {
                topic: topic.to_owned(),
                error: t.error,
            });
        }
        Ok(t)
    }

    /// The leader of a partition and its address.
    pub fn leader(&self, topic: &str, partition: i32) -> Result<&BrokerMetadata, RoutingError> {
        let t = self.topic(topic)?;
        let p = t
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| RoutingError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        if p.leader < 0 || !(p.error.is_ok() || p.error.0 == crate::protocol::errors::REPLICA_NOT_AVAILABLE) {
            return Err(RoutingError::NoLeader {
                topic: topic.to_owned(),
                partition,
                error: p.error,
            });
        }
        self.brokers.get(&p.leader).ok_or(RoutingError::UnknownBroker {
            topic: topic.to_owned(),
            partition,
            leader: p.leader,
        })
    }

    /// Merges a response for some topics into a copy of this snapshot.
    pub fn merged(&self, partial: MetadataSnapshot) -> MetadataSnapshot {
        let mut topics = self.topics.clone();
        topics.extend(partial.topics);
        MetadataSnapshot { topics, ..partial }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn response() -> MetadataResponse {
        let partition = |i, leader, err| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(leader))
                .with_error_code(err)
        };
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("b1"))
                    .with_port(9092),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
                    .with_partitions(vec![partition(1, 7, 0), partition(0, 1, 0), partition(2, -1, 5)]),
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("gone"))))
                    .with_error_code(3),
            ])
    }

    #[test]
    fn routes_to_leaders_and_explains_failures() {
        let s = process_metadata_response(&response(), 4);
        assert_eq!(s.generation, 4);
        assert_eq!(s.leader("orders", 0).unwrap().addr(), "b1:9092");
        assert_eq!(s.topic("orders").unwrap().partitions[1].partition, 1);
        assert!(matches!(
            s.leader("orders", 1),
            Err(RoutingError::UnknownBroker { leader: 7, .. })
        ));
        assert!(matches!(
            s.leader("orders", 2),
            Err(RoutingError::NoLeader { .. })
        ));
        assert!(matches!(
            s.leader("orders", 3),
            Err(RoutingError::UnknownPartition { .. })
        ));
        assert_eq!(
            s.leader("gone", 0).unwrap_err().to_string(),
            "topic gone: UNKNOWN_TOPIC_OR_PARTITION (3)"
        );
        assert!(matches!(
            s.leader("nope", 0),
            Err(RoutingError::UnknownTopic { .. })
        ));
    }

    #[test]
    fn topic_ids_show_as_kafka_tools_do() {
        assert_eq!(TopicId::new(0), None);
        let id = TopicId::new(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff).unwrap();
        assert_eq!(id.to_string(), "ABEiM0RVZneImaq7zN3u_w");
        assert_eq!(
            process_metadata_response(&response(), 1).topics["orders"].topic_id,
            None
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let b = BrokerMetadata {
            node_id: 1,
            host: "::1".into(),
            port: 9092,
            rack: None,
        };
        assert_eq!(b.addr(), "[::1]:9092");
    }
}
