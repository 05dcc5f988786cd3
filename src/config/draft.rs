//! What a front end hands to the validation: values as given (numbers still wide, lists
//! still strings), each with the key that names it in that front end's terms (`A->B.topics`
//! in a properties file, `flows[0].topics` in TOML), so that a problem found later can name
//! the key the operator wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::{GappedPolicy, LogAppendTimestamps, PartitionFailure};
use super::security::Names;

/// A value and the key it was read from (or would have been, for a default).
#[derive(Debug, Clone)]
pub(crate) struct Keyed<T> {
    pub(crate) key: String,
    pub(crate) value: T,
}

impl<T> Keyed<T> {
    pub(crate) fn new(key: impl Into<String>, value: T) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// An integer as given. Durations are in milliseconds unless `seconds` is set.
#[derive(Debug, Clone)]
pub(crate) struct Num {
    pub(crate) key: String,
    pub(crate) value: i64,
    pub(crate) seconds: bool,
}

impl Num {
    pub(crate) fn new(key: impl Into<String>, value: i64) -> Self {
        Self {
            key: key.into(),
            value,
            seconds: false,
        }
    }

    pub(crate) fn seconds(key: impl Into<String>, value: i64) -> Self {
        Self {
            seconds: true,
            ..Self::new(key, value)
        }
    }

    pub(crate) fn millis(&self) -> i64 {
        if self.seconds {
            self.value.saturating_mul(1000)
        } else {
            self.value
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    Default,
    Identity,
}

#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) state_dir: Keyed<PathBuf>,
    pub(crate) memory_budget_bytes: Num,
    /// `host:port` of the metrics endpoint, as written.
    pub(crate) metrics_addr: Keyed<Option<String>>,
    pub(crate) partition_metrics: Keyed<bool>,
    pub(crate) progress_interval: Num,
    pub(crate) offsets_history_max: Num,
    pub(crate) clusters: Vec<ClusterDraft>,
    /// Enabled flows only.
    pub(crate) flows: Vec<FlowDraft>,
    /// How to enable a flow in this format, for the "no flow" problem.
    pub(crate) flow_hint: &'static str,
}

#[derive(Debug)]
pub(crate) struct ClusterDraft {
    pub(crate) alias: String,
    /// Names the cluster itself in messages.
    pub(crate) label: String,
    pub(crate) bootstrap_servers: Keyed<Vec<String>>,
    pub(crate) client_id: Keyed<String>,
    pub(crate) connect_timeout: Num,
    pub(crate) request_timeout: Num,
    pub(crate) max_frame_bytes: Num,
    pub(crate) max_in_flight: Num,
    pub(crate) reconnect_backoff: Num,
    pub(crate) reconnect_backoff_max: Num,
    pub(crate) request_retries: Num,
    /// `security.protocol`, `ssl.*` and `sasl.*` under their Kafka names, `${…}` resolved.
    pub(crate) security: BTreeMap<String, Keyed<String>>,
    pub(crate) security_names: Names,
    pub(crate) properties: BTreeMap<String, Keyed<String>>,
}

#[derive(Debug)]
pub(crate) struct FlowDraft {
    /// Names the flow itself in messages.
    pub(crate) label: String,
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) topics: Keyed<Vec<String>>,
    pub(crate) topics_exclude: Keyed<Vec<String>>,
    pub(crate) policy: PolicyKind,
    pub(crate) separator: Keyed<String>,
    pub(crate) refresh_topics_interval: Num,
    pub(crate) replication_factor: Num,
    pub(crate) sync_topic_configs: bool,
    pub(crate) config_exclude: Keyed<Vec<String>>,
    pub(crate) max_in_flight: Num,
    pub(crate) fetch_max_bytes: Num,
    pub(crate) fetch_partition_max_bytes: Num,
    pub(crate) fetch_max_wait: Num,
    pub(crate) offset_flush_interval: Num,
    pub(crate) gapped_batches: GappedPolicy,
    pub(crate) log_append_time_timestamps: LogAppendTimestamps,
    pub(crate) partition_failure: PartitionFailure,
    pub(crate) properties: BTreeMap<String, Keyed<String>>,
}
