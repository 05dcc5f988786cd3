//! Which source topics a flow replicates, what they are called on the target, and making the
//! target match: missing topics created with the source's partition count and topic-level
//! configs (minus the exclude list), partitions added when the source grew.

use std::collections::BTreeMap;

use crate::cluster::{Cluster, ClusterError};
use crate::config::FlowConfig;

/// One source topic of a flow and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    pub source_topic: String,
    pub target_topic: String,
    pub partitions: i32,
    /// Partition count of the target topic, `None` when it does not exist yet.
    pub target_partitions: Option<i32>,
}

/// The topics `flow` replicates now, from fresh metadata of both clusters.
pub async fn plan(
    flow: &FlowConfig,
    source: &Cluster,
    target: &Cluster,
) -> Result<Vec<TopicPlan>, ClusterError> {
    let source_meta = source.refresh_metadata().await?;
    let target_meta = target.refresh_metadata().await?;
    let mut plans: BTreeMap<String, TopicPlan> = BTreeMap::new();
    for (name, topic) in &source_meta.topics {
        if !topic.error.is_ok() || topic.is_internal || !flow.replicates(name) {
            continue;
        }
        let target_topic = flow.policy.target_topic(&flow.source, name);
        let target_partitions = target_meta
            .topics
            .get(&target_topic)
            .filter(|t| t.error.is_ok())
            .map(|t| t.partitions.len() as i32);
        let _ = plans.insert(
            name.clone(),
            TopicPlan {
                source_topic: name.clone(),
                target_topic,
                partitions: topic.partitions.len() as i32,
                target_partitions,
            },
        );
    }
    Ok(plans.into_values().collect())
}

/// The source topic's own configuration entries that the target topic should get.
async fn configs_to_copy(flow: &FlowConfig, source: &Cluster, topic: &str) -> Vec<(String, String)> {
    if !flow.sync_topic_configs {
        return Vec::new();
    }
    match source.describe_topic_config(topic).await {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| {
                e.is_topic_override && !e.read_only && !e.sensitive && !flow.config_exclude.excludes(&e.name)
            })
            .filter_map(|e| Some((e.name, e.value?)))
            .collect(),
        Err(e) => {
            tracing::warn!(flow = %flow.name(), topic, error = %e, "cannot read the source topic's configuration; creating the target topic with the cluster's defaults");
            Vec::new()
        }
    }
}

/// Creates the target topic or adds partitions as the plan requires. Returns the number of
/// partitions the target topic has afterwards.
pub async fn ensure_target(
    flow: &FlowConfig,
    source: &Cluster,
    target: &Cluster,
    plan: &TopicPlan,
) -> Result<i32, ClusterError> {
    match plan.target_partitions {
        None => {
            let configs = configs_to_copy(flow, source, &plan.source_topic).await;
            match target
                .create_topic(
                    &plan.target_topic,
                    plan.partitions,
                    flow.replication_factor,
                    &configs,
                )
                .await
            {
                Ok(()) => {
                    tracing::info!(flow = %flow.name(), topic = %plan.target_topic, partitions = plan.partitions, configs = configs.len(), "created target topic");
                }
                // Created meanwhile by someone else: fine, it is used as it is.
                Err(e)
                    if e.error_code().map(|c| c.0) == Some(crate::protocol::errors::TOPIC_ALREADY_EXISTS) => {
                }
                Err(e) => return Err(e),
            }
            Ok(plan.partitions)
        }
        Some(n) if n < plan.partitions => {
            target
                .create_partitions(&plan.target_topic, plan.partitions)
                .await?;
            tracing::info!(flow = %flow.name(), topic = %plan.target_topic, from = n, to = plan.partitions, "added partitions to the target topic");
            Ok(plan.partitions)
        }
        Some(n) => Ok(n),
    }
}
