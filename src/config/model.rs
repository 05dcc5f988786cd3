//! The validated configuration the replication engine runs from.
//!
//! Both front ends (native TOML in `native.rs`, MM2 properties in `properties.rs`) produce
//! these types through the one validation in `validate.rs`, so a value here has already been
//! range-checked and every flow names clusters that exist. The defaults live here as named
//! constants so that the front ends, the reference `config/kmirror.toml` and the tests agree.
//!
//! Where kmirror's default differs from MM2's, it is on purpose:
//! - topic discovery every 5 s instead of MM2's `refresh.topics.interval.seconds` = 600, so a
//!   new topic starts replicating within seconds;
//! - `replication.factor` = -1 (the target's default, KIP-464) instead of 2, which fails on a
//!   one-broker target;
//! - offsets made durable every second instead of Connect's `offset.flush.interval.ms` = 60 s,
//!   which bounds what a restart re-reads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::client::ClientConfig;
use super::filter::{ConfigFilter, TopicFilter};
use super::internal_topics::InternalTopicsConfig;
use super::policy::ReplicationPolicy;

pub const DEFAULT_STATE_DIR: &str = "kmirror-state";
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 256 * 1024 * 1024;
pub const DEFAULT_REFRESH_TOPICS_INTERVAL: Duration = Duration::from_secs(5);
/// -1 asks the target broker for its `default.replication.factor` (KIP-464).
pub const DEFAULT_REPLICATION_FACTOR: i16 = -1;
pub const DEFAULT_SYNC_TOPIC_CONFIGS: bool = true;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 5;
/// The most produce requests in flight an idempotent producer may have per broker: brokers
/// remember the last five batches per producer and partition for duplicate detection, and
/// the Java producer refuses idempotence above five for the same reason.
pub const MAX_IN_FLIGHT_LIMIT: usize = 5;
pub const DEFAULT_FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;
pub const DEFAULT_FETCH_PARTITION_MAX_BYTES: i32 = 1024 * 1024;
pub const DEFAULT_FETCH_MAX_WAIT: Duration = Duration::from_millis(500);
pub const DEFAULT_OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_PARTITION_METRICS: bool = true;
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);
/// Offset-map entries kept per partition (the offset store's `DEFAULT_MAX_HISTORY`).
pub const DEFAULT_OFFSETS_HISTORY_MAX: usize = 10_000;
/// The largest accepted (the offset store's `MAX_HISTORY_LIMIT`).
pub const OFFSETS_HISTORY_MAX_LIMIT: usize = 1 << 24;

/// A whole configuration: clusters, the enabled flows between them, process settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Enabled flows only, in a stable order (file order for TOML, by source then target
    /// alias for properties).
    pub flows: Vec<FlowConfig>,
    /// Where the offset store and other local state live (relative paths are relative to
    /// the working directory).
    pub state_dir: PathBuf,
    /// Bytes of fetched data in flight in the whole process.
    pub memory_budget_bytes: usize,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (`run --metrics-addr` overrides).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Whether lag is reported per partition; when off, per flow and topic (for deployments
    /// with very many partitions).
    pub partition_metrics: bool,
    /// How often a catch-up logs its progress per flow.
    pub progress_interval: Duration,
    /// Offset-map entries kept per partition: translation of group offsets reaches back as far
    /// as they do. Gapless batches merge into one entry; compacted batches and skipped ranges
    /// take one each. The oldest go first.
    pub offsets_history_max: usize,
    /// Things worth telling the operator that do not stop kmirror (unknown keys, deprecated
    /// names), each naming the key and the file.
    pub warnings: Vec<String>,
}

impl Config {
    pub fn cluster(&self, alias: &str) -> Option<&ClusterConfig> {
        self.clusters.get(alias)
    }
}

/// One cluster: how to reach it and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub alias: String,
    /// `host:port` entries.
    pub bootstrap_servers: Vec<String>,
    pub client: ClientConfig,
    /// Every cluster-scoped key as given (`security.protocol`, `ssl.*`, `sasl.*`, …), keyed
    /// without the alias prefix, for features that read them later.
    pub properties: BTreeMap<String, String>,
}

impl ClusterConfig {
    /// A cluster with default client settings.
    pub fn new(alias: &str, bootstrap_servers: Vec<String>) -> Self {
        Self {
            alias: alias.to_owned(),
            bootstrap_servers,
            client: ClientConfig::default(),
            properties: BTreeMap::new(),
        }
    }
}

/// What to do with a compacted source batch whose offsets have gaps (brokers refuse such a
/// batch on produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GappedPolicy {
    /// Rewrite the offset deltas of its records (the payload bytes are otherwise kept).
    #[default]
    Renumber,
    /// Stop the partition with an error naming topic, partition and offset.
    Fail,
}

impl GappedPolicy {
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "renumber" => Some(Self::Renumber),
            "fail" => Some(Self::Fail),
            _ => None,
        }
    }
}

/// What the records of a source batch with the LogAppendTime bit carry on the target as their
/// (CreateTime) timestamps. Either way the bit itself is never forwarded: a LogAppendTime
/// target topic refuses it, and stamps its own append time instead
/// (`protocol::timestamps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogAppendTimestamps {
    /// The source's append time: what consumers of the source read, what MM2 writes. Such
    /// batches are decoded and re-encoded (same codec, every other record byte kept).
    #[default]
    AppendTime,
    /// The producers' own timestamps: the records are forwarded byte for byte, only the
    /// LogAppendTime bit is cleared. A target topic refuses records outside its
    /// `message.timestamp.before.max.ms` / `after.max.ms` window.
    ProducerTime,
}

impl LogAppendTimestamps {
    pub const NAMES: &'static str = "append-time, producer-time";

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "append-time" => Some(Self::AppendTime),
            "producer-time" => Some(Self::ProducerTime),
            _ => None,
        }
    }
}

/// What happens when a partition's task fails for good (a batch the target refuses, a
/// corrupt or undecodable batch, source data deleted before it was replicated, a gapped batch
/// with `gapped_batches = fail`). Errors that are not one partition's (configuration, the
/// offset store, a cluster that cannot be reached) stop the process either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionFailure {
    /// That partition stops, reported in the log, the metrics, `kmirror status` and `/readyz`;
    /// every other partition goes on. It stays stopped until kmirror restarts.
    #[default]
    StopPartition,
    /// Every flow stops and the process exits with the error.
    StopProcess,
}

impl PartitionFailure {
    pub const NAMES: &'static str = "stop-partition, stop-process";

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "stop-partition" => Some(Self::StopPartition),
            "stop-process" => Some(Self::StopProcess),
            _ => None,
        }
    }
}

/// One replication flow `source->target` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowConfig {
    pub source: String,
    pub target: String,
    pub topics: TopicFilter,
    pub policy: ReplicationPolicy,
    pub refresh_topics_interval: Duration,
    /// -1 = the target cluster's default.
    pub replication_factor: i16,
    pub sync_topic_configs: bool,
    pub config_exclude: ConfigFilter,
    /// Produce requests in flight per target broker.
    pub max_in_flight: usize,
    pub fetch_max_bytes: i32,
    pub fetch_partition_max_bytes: i32,
    pub fetch_max_wait: Duration,
    /// How often the offset store is made durable.
    pub offset_flush_interval: Duration,
    pub gapped_batches: GappedPolicy,
    pub log_append_time_timestamps: LogAppendTimestamps,
    pub partition_failure: PartitionFailure,
    /// Offset syncs and heartbeats (MM2's internal topics kmirror writes).
    pub internal_topics: InternalTopicsConfig,
    /// Every flow-scoped key as given, for features that read them later (groups,
    /// checkpoints, group offset sync, heartbeats, offset-syncs location, …).
    pub properties: BTreeMap<String, String>,
}

impl FlowConfig {
    /// A flow from `A` to `B` with these MM2 properties, for tests of what reads them.
    #[cfg(test)]
    pub(crate) fn with_properties(props: &[(&str, &str)]) -> Self {
        let mut f = Self::new("A", "B");
        f.properties = props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        f
    }

    /// A flow with every setting at its default.
    pub fn new(source: &str, target: &str) -> Self {
        Self {
            source: source.to_owned(),
            target: target.to_owned(),
            topics: TopicFilter::default(),
            policy: ReplicationPolicy::default(),
            refresh_topics_interval: DEFAULT_REFRESH_TOPICS_INTERVAL,
            replication_factor: DEFAULT_REPLICATION_FACTOR,
            sync_topic_configs: DEFAULT_SYNC_TOPIC_CONFIGS,
            config_exclude: ConfigFilter::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            fetch_max_bytes: DEFAULT_FETCH_MAX_BYTES,
            fetch_partition_max_bytes: DEFAULT_FETCH_PARTITION_MAX_BYTES,
            fetch_max_wait: DEFAULT_FETCH_MAX_WAIT,
            offset_flush_interval: DEFAULT_OFFSET_FLUSH_INTERVAL,
            gapped_batches: GappedPolicy::default(),
            log_append_time_timestamps: LogAppendTimestamps::default(),
            partition_failure: PartitionFailure::default(),
            internal_topics: InternalTopicsConfig::default(),
            properties: BTreeMap::new(),
        }
    }

    /// `source->target`, as MM2 names flows.
    pub fn name(&self) -> String {
        format!("{}->{}", self.source, self.target)
    }

    /// The name of source topic `topic` on the target.
    pub fn target_topic(&self, topic: &str) -> String {
        self.policy.target_topic(&self.source, topic)
    }

    /// MM2's decision whether a source topic is replicated by this flow
    /// (`MirrorSourceConnector.shouldReplicateTopic`): the topic filter selects it, or it is a
    /// heartbeats topic (replicated whatever the filter says unless
    /// `heartbeats.replication.enabled = false`, KIP-1089); and it is not internal; and it
    /// would not go back to the cluster it came from.
    pub fn replicates(&self, topic: &str) -> bool {
        let selected = self.topics.matches(topic)
            || (self.replicates_heartbeats() && self.policy.is_heartbeats_topic(topic));
        selected && !self.policy.is_internal_topic(topic) && !self.is_cycle(topic)
    }

    /// Whether `topic` came, at any hop, from this flow's target cluster
    /// (`MirrorSourceConnector.isCycle`). With the default policy `B.orders` on A is not sent
    /// back to B, while `C.orders` goes to B as `A.C.orders`. The identity policy cannot tell.
    pub fn is_cycle(&self, topic: &str) -> bool {
        let mut current = topic;
        loop {
            match self.policy.topic_source(current) {
                None => return false,
                Some(source) if source == self.target => return true,
                Some(_) => {}
            }
            match self.policy.upstream_topic(current) {
                Some(up) if up != current => current = up,
                _ => return false,
            }
        }
    }

    fn replicates_heartbeats(&self) -> bool {
        self.internal_topics.replicate_heartbeats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::filter::PatternList;

    fn flow(source: &str, target: &str, policy: ReplicationPolicy) -> FlowConfig {
        FlowConfig {
            policy,
            ..FlowConfig::new(source, target)
        }
    }

    #[test]
    fn defaults_and_name() {
        let f = FlowConfig::new("A", "B");
        assert_eq!(f.name(), "A->B");
        assert_eq!(f.target_topic("orders"), "A.orders");
        assert_eq!(f.refresh_topics_interval, Duration::from_secs(5));
        assert_eq!(f.replication_factor, -1);
        assert_eq!(f.max_in_flight, 5);
        assert_eq!(f.gapped_batches, GappedPolicy::Renumber);
        assert!(f.sync_topic_configs);
    }

    #[test]
    fn replicates_applies_filter_internal_and_cycle_rules() {
        let f = flow("A", "B", ReplicationPolicy::default());
        assert!(f.replicates("orders"));
        assert!(
            f.replicates("C.orders"),
            "remote topics from a third cluster go on"
        );
        assert!(!f.replicates("B.orders"), "back to where it came from");
        assert!(!f.replicates("C.B.orders"), "came from B two hops ago");
        assert!(!f.replicates("__consumer_offsets"));
        assert!(!f.replicates("mm2-offset-syncs.B.internal"));
        assert!(f.replicates("heartbeats"));
        assert!(f.replicates("C.heartbeats"));
        assert!(!f.replicates("B.heartbeats"));
    }

    #[test]
    fn heartbeats_bypass_the_topic_filter_unless_disabled() {
        let only = |replicate_heartbeats| FlowConfig {
            topics: TopicFilter::new(
                PatternList::new(&["orders"]).unwrap(),
                PatternList::new::<&str>(&[]).unwrap(),
            ),
            internal_topics: InternalTopicsConfig {
                replicate_heartbeats,
                ..InternalTopicsConfig::default()
            },
            ..FlowConfig::new("A", "B")
        };
        assert!(only(true).replicates("heartbeats"));
        assert!(!only(true).replicates("payments"));
        let off = only(false);
        assert!(!off.replicates("heartbeats"));
        assert!(off.replicates("orders"));
    }

    #[test]
    fn identity_policy_prevents_no_cycle_for_data_topics() {
        let f = flow("A", "B", ReplicationPolicy::Identity);
        assert!(f.replicates("orders"));
        assert!(f.replicates("B.orders"));
        assert_eq!(f.target_topic("orders"), "orders");
        // Heartbeats keep the default naming, so their cycles are still seen.
        assert!(!f.replicates("B.heartbeats"));
        assert_eq!(f.target_topic("heartbeats"), "A.heartbeats");
    }

    #[test]
    fn custom_separator_cycles() {
        let f = flow(
            "A",
            "B",
            ReplicationPolicy::Default {
                separator: "_".to_owned(),
            },
        );
        assert_eq!(f.target_topic("orders"), "A_orders");
        assert!(!f.replicates("B_orders"));
        assert!(f.replicates("B.orders"));
    }

    #[test]
    fn gapped_policy_names() {
        assert_eq!(GappedPolicy::parse("Renumber"), Some(GappedPolicy::Renumber));
        assert_eq!(GappedPolicy::parse("fail"), Some(GappedPolicy::Fail));
        assert_eq!(GappedPolicy::parse("skip"), None);
    }

    #[test]
    fn timestamp_and_failure_policy_names() {
        let f = FlowConfig::new("A", "B");
        assert_eq!(f.log_append_time_timestamps, LogAppendTimestamps::AppendTime);
        assert_eq!(f.partition_failure, PartitionFailure::StopPartition);
        assert_eq!(
            LogAppendTimestamps::parse(" Producer-Time"),
            Some(LogAppendTimestamps::ProducerTime)
        );
        assert_eq!(LogAppendTimestamps::parse("append_time"), None);
        assert_eq!(
            PartitionFailure::parse("STOP-PROCESS"),
            Some(PartitionFailure::StopProcess)
        );
        assert_eq!(PartitionFailure::parse("stop"), None);
    }
}
