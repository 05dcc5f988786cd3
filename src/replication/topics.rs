//! Which source topics a flow replicates, what they are called on the target, and making the
//! target match: missing topics created with the source's partition count and topic-level
//! configs (minus the exclude list, and minus those the target refuses, each named in a
//! warning), `max.message.bytes` when the source admits larger batches than the target would,
//! partitions added when the source grew. An existing target topic that admits smaller
//! batches than its source is warned about once.

use std::collections::{BTreeMap, HashSet};
use std::sync::{LazyLock, Mutex};

use super::topic_configs::{
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, Negotiation, Refusal, Verdict, number, size_needed,
};
use crate::cluster::admin::{ConfigEntry, CreatedConfigs};
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

/// What the source topic gives a new target topic: its own overrides minus the exclude list
/// (none with `sync_topic_configs` off) and its effective `max.message.bytes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SourceConfigs {
    copied: Vec<(String, String)>,
    max_message_bytes: Option<i64>,
}

fn source_configs(flow: &FlowConfig, entries: Vec<ConfigEntry>) -> SourceConfigs {
    let max_message_bytes = entries
        .iter()
        .find(|e| e.name == MAX_MESSAGE_BYTES)
        .and_then(|e| e.value.as_deref()?.trim().parse().ok());
    let copied = if flow.sync_topic_configs {
        entries
            .into_iter()
            .filter(|e| {
                e.is_topic_override && !e.read_only && !e.sensitive && !flow.config_exclude.excludes(&e.name)
            })
            .filter_map(|e| Some((e.name, e.value?)))
            .collect()
    } else {
        Vec::new()
    };
    SourceConfigs {
        copied,
        max_message_bytes,
    }
}

async fn read_source_configs(flow: &FlowConfig, source: &Cluster, topic: &str) -> SourceConfigs {
    match source.describe_topic_config(topic).await {
        Ok(entries) => source_configs(flow, entries),
        Err(e) => {
            tracing::warn!(flow = %flow.name(), topic, error = %e, "cannot read the source topic's configuration; creating the target topic with the cluster's defaults");
            SourceConfigs::default()
        }
    }
}

/// How a missing target topic will be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    /// Every config the topic is created with.
    pub configs: Vec<(String, String)>,
    /// Configs the target refuses, left out.
    pub left_out: Vec<Refusal>,
    /// `max.message.bytes` set because the source admits larger batches than the target
    /// would by default: (the source's limit, the target's default where it said).
    pub size: Option<(i64, Option<i64>)>,
}

/// Validate-only creations until the target accepts; returns the configs it accepts, those
/// it refused, and the configuration the topic would have.
async fn negotiate(
    target: &Cluster,
    plan: &TopicPlan,
    replication_factor: i16,
    configs: Vec<(String, String)>,
) -> Result<(Vec<(String, String)>, Vec<Refusal>, CreatedConfigs), ClusterError> {
    let mut negotiation = Negotiation::new(configs);
    let mut reported = None;
    while let Some(attempt) = negotiation.next() {
        let verdict = match target
            .validate_topic(&plan.target_topic, plan.partitions, replication_factor, &attempt)
            .await
        {
            Ok(configs) => {
                reported = configs;
                Verdict::Accepted
            }
            Err(ClusterError::Request { error, message, .. }) => Verdict::Refused { code: error, message },
            Err(e) => return Err(e),
        };
        if let Err(refusal) = negotiation.answer(verdict) {
            return Err(ClusterError::Request {
                cluster: target.name().to_owned(),
                what: format!("creating topic {}", plan.target_topic),
                error: refusal.code,
                message: refusal.message,
            });
        }
    }
    let (kept, refused) = negotiation.finish();
    Ok((kept, refused, reported))
}

/// Decides how the missing target topic of `plan` is created, asking the target with
/// validate-only requests (nothing is created): the copied configs the target accepts, and
/// `max.message.bytes` when the source admits larger batches than the target would.
pub async fn plan_creation(
    flow: &FlowConfig,
    source: &Cluster,
    target: &Cluster,
    plan: &TopicPlan,
) -> Result<Creation, ClusterError> {
    let from_source = read_source_configs(flow, source, &plan.source_topic).await;
    let rf = flow.replication_factor;
    let (mut configs, mut left_out, reported) = negotiate(target, plan, rf, from_source.copied).await?;
    let target_default = reported.as_deref().and_then(|c| number(c, MAX_MESSAGE_BYTES));
    let mut size = None;
    if let Some(limit) = size_needed(from_source.max_message_bytes, target_default, &configs) {
        configs.push((MAX_MESSAGE_BYTES.to_owned(), limit.to_string()));
        let (kept, refused, _) = negotiate(target, plan, rf, configs).await?;
        configs = kept;
        left_out.extend(refused);
        if configs.iter().any(|(n, _)| n == MAX_MESSAGE_BYTES) {
            size = Some((limit, target_default));
        }
    }
    Ok(Creation {
        configs,
        left_out,
        size,
    })
}

/// The effective `max.message.bytes` of an existing target topic when it is smaller than the
/// source topic's: (source's, target's). Batches between the two sizes will be refused.
pub async fn size_shortfall(
    source: &Cluster,
    target: &Cluster,
    plan: &TopicPlan,
) -> Result<Option<(i64, i64)>, ClusterError> {
    let limit = |entries: Vec<ConfigEntry>| {
        entries
            .into_iter()
            .find(|e| e.name == MAX_MESSAGE_BYTES)
            .and_then(|e| e.value?.trim().parse::<i64>().ok())
    };
    let (s, t) = tokio::join!(
        source.describe_topic_config(&plan.source_topic),
        target.describe_topic_config(&plan.target_topic)
    );
    Ok(match (limit(s?), limit(t?)) {
        (Some(s), Some(t)) if t < s => Some((s, t)),
        _ => None,
    })
}

/// Whether this process has not looked at the existing target topic yet (the size check runs
/// once per flow and topic, not at every discovery round).
fn first_look(flow: &FlowConfig, target_topic: &str) -> bool {
    static SEEN: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Mutex::default);
    SEEN.lock()
        .map(|mut seen| seen.insert((flow.name(), target_topic.to_owned())))
        .unwrap_or(false)
}

async fn warn_if_too_small(flow: &FlowConfig, source: &Cluster, target: &Cluster, plan: &TopicPlan) {
    if !first_look(flow, &plan.target_topic) {
        return;
    }
    match size_shortfall(source, target, plan).await {
        Ok(Some((source_limit, target_limit))) => tracing::warn!(
            flow = %flow.name(),
            topic = %plan.target_topic,
            source_max_message_bytes = source_limit,
            target_max_message_bytes = target_limit,
            "the target topic admits smaller batches than the source topic: a source batch larger than {target_limit} bytes will be refused (kmirror forwards batches whole); raise {MAX_MESSAGE_BYTES} of {} to {source_limit}",
            plan.target_topic
        ),
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(flow = %flow.name(), topic = %plan.target_topic, error = %e, "cannot compare the batch size limits")
        }
    }
}

async fn create(
    flow: &FlowConfig,
    source: &Cluster,
    target: &Cluster,
    plan: &TopicPlan,
) -> Result<(), ClusterError> {
    let creation = plan_creation(flow, source, target, plan).await?;
    target
        .create_topic(
            &plan.target_topic,
            plan.partitions,
            flow.replication_factor,
            &creation.configs,
        )
        .await?;
    for r in &creation.left_out {
        tracing::warn!(
            flow = %flow.name(),
            topic = %plan.target_topic,
            config = %r.name,
            value = %r.value,
            reason = %r.reason,
            "created the target topic without a source config the target refuses"
        );
    }
    if let Some((limit, target_default)) = creation.size {
        tracing::info!(
            flow = %flow.name(),
            topic = %plan.target_topic,
            max_message_bytes = limit,
            target_default = target_default.unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES),
            "set {MAX_MESSAGE_BYTES} on the target topic: the source admits batches that large and kmirror forwards them whole"
        );
    }
    tracing::info!(flow = %flow.name(), topic = %plan.target_topic, partitions = plan.partitions, configs = creation.configs.len(), left_out = creation.left_out.len(), "created target topic");
    Ok(())
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
            match create(flow, source, target, plan).await {
                Ok(()) => {}
                // Created meanwhile by someone else: fine, it is used as it is.
                Err(e)
                    if e.error_code().map(|c| c.0) == Some(crate::protocol::errors::TOPIC_ALREADY_EXISTS) =>
                {
                    warn_if_too_small(flow, source, target, plan).await;
                }
                Err(e) => return Err(e),
            }
            Ok(plan.partitions)
        }
        Some(n) if n < plan.partitions => {
            warn_if_too_small(flow, source, target, plan).await;
            target
                .create_partitions(&plan.target_topic, plan.partitions)
                .await?;
            tracing::info!(flow = %flow.name(), topic = %plan.target_topic, from = n, to = plan.partitions, "added partitions to the target topic");
            Ok(plan.partitions)
        }
        Some(n) => {
            warn_if_too_small(flow, source, target, plan).await;
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: &str, is_topic_override: bool) -> ConfigEntry {
        ConfigEntry {
            name: name.to_owned(),
            value: Some(value.to_owned()),
            is_topic_override,
            source: if is_topic_override {
                crate::cluster::admin::ConfigSource::TopicOverride
            } else {
                crate::cluster::admin::ConfigSource::Default
            },
            read_only: false,
            sensitive: false,
        }
    }

    #[test]
    fn overrides_minus_the_exclude_list_are_copied_and_the_size_limit_is_read_from_any_source() {
        let entries = vec![
            entry("cleanup.policy", "compact", true),
            entry("min.insync.replicas", "2", true),
            entry("message.format.version", "3.0-IV1", true),
            entry("retention.ms", "604800000", false),
            // The source broker's message.max.bytes, reported under the topic's name.
            entry(MAX_MESSAGE_BYTES, "4194304", false),
            ConfigEntry {
                sensitive: true,
                ..entry("secret", "x", true)
            },
        ];
        let flow = FlowConfig::new("a", "b");
        let got = source_configs(&flow, entries.clone());
        assert_eq!(
            got.copied,
            vec![
                ("cleanup.policy".to_owned(), "compact".to_owned()),
                ("message.format.version".to_owned(), "3.0-IV1".to_owned()),
            ]
        );
        assert_eq!(got.max_message_bytes, Some(4_194_304));

        let off = FlowConfig {
            sync_topic_configs: false,
            ..FlowConfig::new("a", "b")
        };
        let got = source_configs(&off, entries);
        assert!(got.copied.is_empty());
        assert_eq!(
            got.max_message_bytes,
            Some(4_194_304),
            "the size is needed all the same"
        );
    }
}
