//! Topic administration a replicator needs: creating a topic (or asking the controller
//! whether it would, `validate_only`), reading a topic's configuration and adding partitions.

use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::partition::{ResponseIssue, check};
use super::{Cluster, ClusterError};
use crate::protocol::errors::{self, ErrorCode};

/// `ConfigResource.Type.TOPIC` (apache/kafka `clients/.../config/ConfigResource.java`).
const RESOURCE_TOPIC: i8 = 2;
/// `DescribeConfigsResponse.ConfigSource.DYNAMIC_TOPIC_CONFIG`: set on the topic itself.
const SOURCE_TOPIC_OVERRIDE: i8 = 1;
/// `ConfigSource.STATIC_BROKER_CONFIG`: from the broker's properties file.
const SOURCE_STATIC_BROKER: i8 = 4;
/// `ConfigSource.DEFAULT_CONFIG`: Kafka's built-in default.
const SOURCE_DEFAULT: i8 = 5;

/// Where a reported value comes from (`DescribeConfigsResponse.ConfigSource`, apache/kafka
/// `clients/.../requests/DescribeConfigsResponse.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic itself.
    TopicOverride,
    /// From a dynamic broker config (one broker's or the cluster's default).
    DynamicBroker,
    /// From the broker's properties file.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
    /// Anything else (unknown, or a source that does not apply to topics).
    Other,
}

impl ConfigSource {
    pub fn from_code(code: i8) -> Self {
        match code {
            SOURCE_TOPIC_OVERRIDE => Self::TopicOverride,
            2 | 3 => Self::DynamicBroker,
            SOURCE_STATIC_BROKER => Self::StaticBroker,
            SOURCE_DEFAULT => Self::Default,
            _ => Self::Other,
        }
    }
}

/// One configuration entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Set on the topic itself rather than inherited from broker or cluster defaults.
    pub is_topic_override: bool,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
}

/// The configuration a topic has (or would have, for a validate-only creation) as the
/// CreateTopics response gives it (v5+, KIP-525): every entry with its effective value.
/// `None` from brokers that do not report it.
pub type CreatedConfigs = Option<Vec<(String, Option<String>)>>;

/// A CreateTopics request for one topic. With `validate_only` the controller checks
/// everything (name, partitions, replication factor, each config name and value, a creation
/// policy) and creates nothing.
pub fn build_create_topics_request(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
    timeout: Duration,
    validate_only: bool,
) -> CreateTopicsRequest {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    CreateTopicsRequest::default()
        .with_timeout_ms(timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_validate_only(validate_only)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(configs),
        ])
}

pub fn process_create_topics_response(
    r: &CreateTopicsResponse,
    name: &str,
) -> Result<CreatedConfigs, ResponseIssue> {
    let t = r
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == name)
        .ok_or(ResponseIssue::Missing)?;
    check(t.error_code, t.error_message.as_ref())?;
    Ok(t.configs.as_ref().map(|configs| {
        configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect()
    }))
}

pub fn build_describe_configs_request(topic: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(None),
    ])
}

pub fn process_describe_configs_response(
    r: &DescribeConfigsResponse,
    topic: &str,
) -> Result<Vec<ConfigEntry>, ResponseIssue> {
    let result = r
        .results
        .iter()
        .find(|x| x.resource_name.as_str() == topic)
        .ok_or(ResponseIssue::Missing)?;
    if result.error_code != errors::NONE {
        return Err(ResponseIssue::Error {
            code: ErrorCode(result.error_code),
            message: result.error_message.as_ref().map(|m| m.to_string()),
        });
    }
    Ok(result
        .configs
        .iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.as_ref().map(|v| v.to_string()),
            is_topic_override: c.config_source == SOURCE_TOPIC_OVERRIDE,
            source: ConfigSource::from_code(c.config_source),
            read_only: c.read_only,
            sensitive: c.is_sensitive,
        })
        .collect())
}

pub fn build_create_partitions_request(topic: &str, count: i32, timeout_ms: i32) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_count(count)
                .with_assignments(None),
        ])
}

pub fn process_create_partitions_response(
    r: &CreatePartitionsResponse,
    topic: &str,
) -> Result<(), ResponseIssue> {
    let result = r
        .results
        .iter()
        .find(|x| x.name.0.as_str() == topic)
        .ok_or(ResponseIssue::Missing)?;
    if result.error_code == errors::NONE {
        Ok(())
    } else {
        Err(ResponseIssue::Error {
            code: ErrorCode(result.error_code),
            message: result.error_message.as_ref().map(|m| m.to_string()),
        })
    }
}

impl Cluster {
    /// A cluster-level request's error, naming what was asked.
    pub(super) fn request_error(&self, what: String, issue: ResponseIssue) -> ClusterError {
        let (error, message) = match issue {
            ResponseIssue::Error { code, message } => (code, message),
            ResponseIssue::Missing => (
                ErrorCode(-1),
                Some("the response does not mention the topic".to_owned()),
            ),
        };
        ClusterError::Request {
            cluster: self.name().to_owned(),
            what,
            error,
            message,
        }
    }

    /// One CreateTopics call, sent to the controller when the metadata names one.
    async fn create_topics_call(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<CreatedConfigs, ClusterError> {
        let snapshot = self.metadata();
        let conn = match snapshot.brokers.get(&snapshot.controller_id) {
            Some(b) => self.connection(&b.addr()).await?,
            None => self.any_broker().await?,
        };
        let request = build_create_topics_request(
            name,
            partitions,
            replication_factor,
            configs,
            self.config().request_timeout,
            validate_only,
        );
        let r = conn
            .request(&request)
            .await
            .map_err(|e| self.connection_error(e))?;
        let what = if validate_only {
            format!("validating the creation of topic {name}")
        } else {
            format!("creating topic {name}")
        };
        process_create_topics_response(&r, name).map_err(|i| self.request_error(what, i))
    }

    /// Creates a topic. `replication_factor` -1 takes the cluster default (KIP-464).
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<(), ClusterError> {
        let _ = self
            .create_topics_call(name, partitions, replication_factor, configs, false)
            .await?;
        let _ = self.refresh_topics(&[name.to_owned()]).await;
        Ok(())
    }

    /// Asks whether the cluster would create this topic, creating nothing; on success, the
    /// configuration the topic would have (where the broker reports it).
    pub async fn validate_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<CreatedConfigs, ClusterError> {
        self.create_topics_call(name, partitions, replication_factor, configs, true)
            .await
    }

    /// Every configuration entry of a topic, as the broker reports it.
    pub async fn describe_topic_config(&self, topic: &str) -> Result<Vec<ConfigEntry>, ClusterError> {
        let conn = self.any_broker().await?;
        let r = conn
            .request(&build_describe_configs_request(topic))
            .await
            .map_err(|e| self.connection_error(e))?;
        process_describe_configs_response(&r, topic)
            .map_err(|i| self.request_error(format!("describing topic {topic}"), i))
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(&self, topic: &str, count: i32) -> Result<(), ClusterError> {
        let snapshot = self.metadata();
        let conn = match snapshot.brokers.get(&snapshot.controller_id) {
            Some(b) => self.connection(&b.addr()).await?,
            None => self.any_broker().await?,
        };
        let timeout = self.config().request_timeout.as_millis().min(i32::MAX as u128) as i32;
        let r = conn
            .request(&build_create_partitions_request(topic, count, timeout))
            .await
            .map_err(|e| self.connection_error(e))?;
        process_create_partitions_response(&r, topic)
            .map_err(|i| self.request_error(format!("adding partitions to topic {topic} (to {count})"), i))?;
        let _ = self.refresh_topics(&[topic.to_owned()]).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};

    use super::*;

    #[test]
    fn a_validate_only_creation_asks_for_nothing_to_be_created_and_reads_the_configs_back() {
        let configs = [("cleanup.policy".to_owned(), "compact".to_owned())];
        let r = build_create_topics_request("t", 3, -1, &configs, Duration::from_secs(5), true);
        assert!(r.validate_only);
        assert_eq!(r.timeout_ms, 5000);
        let topic = &r.topics[0];
        assert_eq!(
            (
                topic.name.0.as_str(),
                topic.num_partitions,
                topic.replication_factor
            ),
            ("t", 3, -1)
        );
        assert_eq!(topic.configs[0].name.as_str(), "cleanup.policy");
        assert!(!build_create_topics_request("t", 1, 1, &[], Duration::ZERO, false).validate_only);

        let answered = |configs| {
            CreateTopicsResponse::default().with_topics(vec![
                CreatableTopicResult::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_configs(configs),
            ])
        };
        let reported = answered(Some(vec![
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str("max.message.bytes"))
                .with_value(Some(StrBytes::from_static_str("1048588"))),
        ]));
        assert_eq!(
            process_create_topics_response(&reported, "t"),
            Ok(Some(vec![(
                "max.message.bytes".to_owned(),
                Some("1048588".to_owned())
            )]))
        );
        // Brokers before KIP-525 report no configs.
        assert_eq!(process_create_topics_response(&answered(None), "t"), Ok(None));
        assert_eq!(
            process_create_topics_response(&answered(None), "other"),
            Err(ResponseIssue::Missing)
        );
        let refused = CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_error_code(40)
                .with_error_message(Some(StrBytes::from_static_str(
                    "Unknown topic config name: message.format.version",
                ))),
        ]);
        assert_eq!(
            process_create_topics_response(&refused, "t"),
            Err(ResponseIssue::Error {
                code: ErrorCode(40),
                message: Some("Unknown topic config name: message.format.version".to_owned()),
            })
        );
    }
}
