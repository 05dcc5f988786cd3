//! Changing a topic's configuration with IncrementalAlterConfigs (KIP-339): each named
//! config set to a value or its override deleted, the others left alone. A broker applies
//! the changes of one resource all together or none (a refused value fails the resource).

use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::partition::{ResponseIssue, check};
use super::{Cluster, ClusterError};

/// `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;
/// `AlterConfigOp.OpType`: SET 0, DELETE 1.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// One change: `Some(value)` sets the config on the topic, `None` deletes the topic's
/// override (the topic falls back to the broker's or Kafka's default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigChange {
    pub name: String,
    pub value: Option<String>,
}

pub fn build_incremental_alter_request(
    topic: &str,
    changes: &[ConfigChange],
) -> IncrementalAlterConfigsRequest {
    let configs = changes
        .iter()
        .map(|c| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(c.name.clone()))
                .with_config_operation(if c.value.is_some() { OP_SET } else { OP_DELETE })
                .with_value(c.value.clone().map(StrBytes::from_string))
        })
        .collect();
    IncrementalAlterConfigsRequest::default()
        .with_validate_only(false)
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(topic.to_owned()))
                .with_configs(configs),
        ])
}

pub fn process_incremental_alter_response(
    r: &IncrementalAlterConfigsResponse,
    topic: &str,
) -> Result<(), ResponseIssue> {
    let result = r
        .responses
        .iter()
        .find(|x| x.resource_name.as_str() == topic)
        .ok_or(ResponseIssue::Missing)?;
    check(result.error_code, result.error_message.as_ref())
}

impl Cluster {
    /// Applies `changes` to `topic`, all or none.
    pub async fn alter_topic_config(
        &self,
        topic: &str,
        changes: &[ConfigChange],
    ) -> Result<(), ClusterError> {
        let conn = self.any_broker().await?;
        let r = conn
            .request(&build_incremental_alter_request(topic, changes))
            .await
            .map_err(|e| self.connection_error(e))?;
        process_incremental_alter_response(&r, topic)
            .map_err(|i| self.request_error(format!("altering the configuration of topic {topic}"), i))
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;

    use super::*;
    use crate::protocol::errors::ErrorCode;

    #[test]
    fn sets_and_deletes_are_sent_as_such_and_a_refusal_keeps_the_brokers_words() {
        let changes = [
            ConfigChange {
                name: "retention.ms".to_owned(),
                value: Some("1000".to_owned()),
            },
            ConfigChange {
                name: "cleanup.policy".to_owned(),
                value: None,
            },
        ];
        let r = build_incremental_alter_request("t", &changes);
        let configs = &r.resources[0].configs;
        assert_eq!((configs[0].config_operation, configs[1].config_operation), (0, 1));
        assert_eq!(configs[0].value.as_deref(), Some("1000"));
        assert_eq!(configs[1].value, None);

        let answered = IncrementalAlterConfigsResponse::default().with_responses(vec![
            AlterConfigsResourceResponse::default()
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_error_code(40)
                .with_error_message(Some(StrBytes::from_static_str("Unknown topic config name: x"))),
        ]);
        assert_eq!(
            process_incremental_alter_response(&answered, "t"),
            Err(ResponseIssue::Error {
                code: ErrorCode(40),
                message: Some("Unknown topic config name: x".to_owned())
            })
        );
        assert_eq!(
            process_incremental_alter_response(&answered, "u"),
            Err(ResponseIssue::Missing)
        );
    }
}
