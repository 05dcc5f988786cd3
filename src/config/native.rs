//! Native TOML front end.
//!
//! Strict on purpose: every table refuses unknown fields (a misspelt option is an error, not
//! a silently ignored default), durations are integers with their unit in the name (`*_ms`),
//! and every default comes from a named function backed by the constants in `model.rs`, so
//! `config/kmirror.toml` can be checked against them by a test.
//!
//! ```toml
//! state_dir = "kmirror-state"
//! [clusters.A]
//! bootstrap_servers = ["a1:9092"]
//! [clusters.B]
//! bootstrap_servers = ["b1:9092"]
//! [[flows]]
//! source = "A"
//! target = "B"
//! topics = ["orders.*"]
//! [flows.properties]        # keys of later features, MM2 names
//! "sync.group.offsets.enabled" = true
//! ```
//!
//! Unlike MM2 list values, the TOML arrays are not cut at commas: `topics = ["a{1,3}"]` is
//! one pattern.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::client::ClientConfig;
use super::draft::{ClusterDraft, Draft, FlowDraft, Keyed, Num, PolicyKind};
use super::error::{ConfigError, Report};
use super::filter::{DEFAULT_CONFIG_EXCLUDE, DEFAULT_TOPICS, DEFAULT_TOPICS_EXCLUDE};
use super::keys;
use super::model::{self, Config, GappedPolicy, LogAppendTimestamps, PartitionFailure};
use super::policy::DEFAULT_SEPARATOR;
use super::security::{self, Names};
use super::substitute::substitute;
use super::validate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    #[serde(default = "default_memory_budget_bytes")]
    memory_budget_bytes: i64,
    #[serde(default = "default_offsets_history_max")]
    offsets_history_max: i64,
    #[serde(default)]
    metrics_addr: Option<String>,
    #[serde(default = "default_partition_metrics")]
    partition_metrics: bool,
    #[serde(default = "default_progress_interval_ms")]
    progress_interval_ms: i64,
    #[serde(default)]
    clusters: BTreeMap<String, ClusterFile>,
    #[serde(default)]
    flows: Vec<FlowFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    bootstrap_servers: Vec<String>,
    #[serde(default = "default_client_id")]
    client_id: String,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: i64,
    #[serde(default = "default_request_timeout_ms")]
    request_timeout_ms: i64,
    #[serde(default = "default_max_frame_bytes")]
    max_frame_bytes: i64,
    #[serde(default = "default_connection_max_in_flight")]
    max_in_flight: i64,
    #[serde(default = "default_reconnect_backoff_ms")]
    reconnect_backoff_ms: i64,
    #[serde(default = "default_reconnect_backoff_max_ms")]
    reconnect_backoff_max_ms: i64,
    #[serde(default = "default_request_retries")]
    request_retries: i64,
    /// `security_protocol`, `ssl_*`, `sasl_*`: Kafka's security keys with `_` for `.`.
    #[serde(default)]
    security: BTreeMap<String, Value>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    source: String,
    target: String,
    #[serde(default = "default_enabled")]
    enabled: bool,
    #[serde(default = "default_topics")]
    topics: Vec<String>,
    #[serde(default = "default_topics_exclude")]
    topics_exclude: Vec<String>,
    #[serde(default)]
    replication_policy: PolicyName,
    #[serde(default = "default_separator")]
    separator: String,
    #[serde(default = "default_refresh_topics_interval_ms")]
    refresh_topics_interval_ms: i64,
    #[serde(default = "default_replication_factor")]
    replication_factor: i64,
    #[serde(default = "default_sync_topic_configs")]
    sync_topic_configs: bool,
    #[serde(default = "default_config_exclude")]
    config_exclude: Vec<String>,
    #[serde(default = "default_max_in_flight")]
    max_in_flight: i64,
    #[serde(default = "default_fetch_max_bytes")]
    fetch_max_bytes: i64,
    #[serde(default = "default_fetch_partition_max_bytes")]
    fetch_partition_max_bytes: i64,
    #[serde(default = "default_fetch_max_wait_ms")]
    fetch_max_wait_ms: i64,
    #[serde(default = "default_offset_flush_interval_ms")]
    offset_flush_interval_ms: i64,
    #[serde(default)]
    gapped_batches: GappedPolicy,
    #[serde(default)]
    log_append_time_timestamps: LogAppendTimestamps,
    #[serde(default)]
    partition_failure: PartitionFailure,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PolicyName {
    #[default]
    Default,
    Identity,
}

/// A value in a `properties` table: written as TOML likes, kept as the text MM2 would see.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "expected a string, a boolean or a number")]
enum Value {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Value {
    fn into_text(self) -> String {
        match self {
            Self::Text(s) => s.trim().to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Int(n) => n.to_string(),
            Self::Float(x) => x.to_string(),
        }
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from(model::DEFAULT_STATE_DIR)
}
fn default_memory_budget_bytes() -> i64 {
    model::DEFAULT_MEMORY_BUDGET_BYTES as i64
}
fn default_partition_metrics() -> bool {
    model::DEFAULT_PARTITION_METRICS
}
fn default_progress_interval_ms() -> i64 {
    ms(model::DEFAULT_PROGRESS_INTERVAL)
}
fn default_offsets_history_max() -> i64 {
    model::DEFAULT_OFFSETS_HISTORY_MAX as i64
}
fn default_client_id() -> String {
    ClientConfig::default().client_id
}
fn default_connect_timeout_ms() -> i64 {
    ms(ClientConfig::default().connect_timeout)
}
fn default_request_timeout_ms() -> i64 {
    ms(ClientConfig::default().request_timeout)
}
fn default_max_frame_bytes() -> i64 {
    ClientConfig::default().max_frame_bytes as i64
}
fn default_connection_max_in_flight() -> i64 {
    ClientConfig::default().max_in_flight as i64
}
fn default_reconnect_backoff_ms() -> i64 {
    ms(ClientConfig::default().reconnect_backoff)
}
fn default_reconnect_backoff_max_ms() -> i64 {
    ms(ClientConfig::default().reconnect_backoff_max)
}
fn default_request_retries() -> i64 {
    i64::from(ClientConfig::default().request_retries)
}
fn default_enabled() -> bool {
    true
}
fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
fn default_topics() -> Vec<String> {
    strings(DEFAULT_TOPICS)
}
fn default_topics_exclude() -> Vec<String> {
    strings(DEFAULT_TOPICS_EXCLUDE)
}
fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_owned()
}
fn default_refresh_topics_interval_ms() -> i64 {
    ms(model::DEFAULT_REFRESH_TOPICS_INTERVAL)
}
fn default_replication_factor() -> i64 {
    i64::from(model::DEFAULT_REPLICATION_FACTOR)
}
fn default_sync_topic_configs() -> bool {
    model::DEFAULT_SYNC_TOPIC_CONFIGS
}
fn default_config_exclude() -> Vec<String> {
    strings(DEFAULT_CONFIG_EXCLUDE)
}
fn default_max_in_flight() -> i64 {
    model::DEFAULT_MAX_IN_FLIGHT as i64
}
fn default_fetch_max_bytes() -> i64 {
    i64::from(model::DEFAULT_FETCH_MAX_BYTES)
}
fn default_fetch_partition_max_bytes() -> i64 {
    i64::from(model::DEFAULT_FETCH_PARTITION_MAX_BYTES)
}
fn default_fetch_max_wait_ms() -> i64 {
    ms(model::DEFAULT_FETCH_MAX_WAIT)
}
fn default_offset_flush_interval_ms() -> i64 {
    ms(model::DEFAULT_OFFSET_FLUSH_INTERVAL)
}

/// Reads a native TOML configuration; `origin` names it in messages.
pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut report = Report::new(origin);
    let file: File = toml::from_str(text).map_err(|e| {
        let location = e.span().map_or_else(String::new, |span| {
            let before = text.get(..span.start).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
            match key_at(text, span.start) {
                Some(key) => format!(":{line}:{column}: `{key}`"),
                None => format!(":{line}:{column}"),
            }
        });
        ConfigError {
            problems: vec![format!("{origin}{location}: {}", e.message().trim_end())],
        }
    })?;
    if file.clusters.is_empty() {
        report.problem_at("", "no cluster is configured (add a [clusters.<alias>] table)");
    }
    let clusters = file
        .clusters
        .into_iter()
        .map(|(alias, c)| cluster(&mut report, alias, c))
        .collect();
    let flows = file
        .flows
        .into_iter()
        .enumerate()
        .filter(|(_, f)| f.enabled)
        .map(|(i, f)| flow(&mut report, i, f))
        .collect();
    let draft = Draft {
        state_dir: Keyed::new("state_dir", file.state_dir),
        memory_budget_bytes: Num::new("memory_budget_bytes", file.memory_budget_bytes),
        metrics_addr: Keyed::new("metrics_addr", file.metrics_addr),
        partition_metrics: Keyed::new("partition_metrics", file.partition_metrics),
        progress_interval: Num::new("progress_interval_ms", file.progress_interval_ms),
        offsets_history_max: Num::new("offsets_history_max", file.offsets_history_max),
        clusters,
        flows,
        flow_hint: "add a [[flows]] table with a source and a target",
    };
    validate(draft, report)
}

fn cluster(report: &mut Report, alias: String, c: ClusterFile) -> ClusterDraft {
    let at = |field: &str| format!("clusters.{alias}.{field}");
    let mut properties = BTreeMap::new();
    for (name, value) in c.properties {
        let key = at(&format!("properties.\"{name}\""));
        if keys::CLIENT_KEYS.contains(&name.as_str()) || keys::is_mapped_cluster_fallback(&name) {
            report.problem(&key, "is a setting kmirror reads natively: set its field instead");
            continue;
        } else if keys::security_key(&name) {
            report.problem(
                &key,
                format!(
                    "is a security key: set `{}` in [clusters.{alias}.security]",
                    name.replace('.', "_")
                ),
            );
            continue;
        }
        report.warn(&key, "unknown key, ignored");
        let text = resolved(report, &key, value);
        properties.insert(name, Keyed::new(key, text));
    }
    let mut security = BTreeMap::new();
    for (field, value) in c.security {
        let key = at(&format!("security.{field}"));
        match security::from_toml_name(&field) {
            Some(name) => {
                let text = resolved(report, &key, value);
                security.insert(name.to_owned(), Keyed::new(key, text));
            }
            None => report.problem(&key, "unknown security field (see config/kmirror.toml)"),
        }
    }
    ClusterDraft {
        label: format!("clusters.{alias}"),
        bootstrap_servers: Keyed::new(at("bootstrap_servers"), trimmed(c.bootstrap_servers)),
        client_id: Keyed::new(at("client_id"), c.client_id),
        connect_timeout: Num::new(at("connect_timeout_ms"), c.connect_timeout_ms),
        request_timeout: Num::new(at("request_timeout_ms"), c.request_timeout_ms),
        max_frame_bytes: Num::new(at("max_frame_bytes"), c.max_frame_bytes),
        max_in_flight: Num::new(at("max_in_flight"), c.max_in_flight),
        reconnect_backoff: Num::new(at("reconnect_backoff_ms"), c.reconnect_backoff_ms),
        reconnect_backoff_max: Num::new(at("reconnect_backoff_max_ms"), c.reconnect_backoff_max_ms),
        request_retries: Num::new(at("request_retries"), c.request_retries),
        security,
        security_names: Names {
            prefix: at("security."),
            toml: true,
        },
        properties,
        alias,
    }
}

fn flow(report: &mut Report, index: usize, f: FlowFile) -> FlowDraft {
    let at = |field: &str| format!("flows[{index}].{field}");
    let mut properties = BTreeMap::new();
    for (name, value) in f.properties {
        let key = at(&format!("properties.\"{name}\""));
        if keys::is_mapped_flow_key(&name) || name == "enabled" {
            report.problem(
                &key,
                "is a setting kmirror reads natively: set the flow's field instead",
            );
        } else if keys::later_flow_key(&name).is_none() {
            report.warn(&key, "unknown key, ignored");
        }
        let text = resolved(report, &key, value);
        properties.insert(name, Keyed::new(key, text));
    }
    FlowDraft {
        label: format!("flows[{index}]"),
        topics: Keyed::new(at("topics"), trimmed(f.topics)),
        topics_exclude: Keyed::new(at("topics_exclude"), trimmed(f.topics_exclude)),
        policy: match f.replication_policy {
            PolicyName::Default => PolicyKind::Default,
            PolicyName::Identity => PolicyKind::Identity,
        },
        separator: Keyed::new(at("separator"), f.separator),
        refresh_topics_interval: Num::new(at("refresh_topics_interval_ms"), f.refresh_topics_interval_ms),
        replication_factor: Num::new(at("replication_factor"), f.replication_factor),
        sync_topic_configs: f.sync_topic_configs,
        config_exclude: Keyed::new(at("config_exclude"), trimmed(f.config_exclude)),
        max_in_flight: Num::new(at("max_in_flight"), f.max_in_flight),
        fetch_max_bytes: Num::new(at("fetch_max_bytes"), f.fetch_max_bytes),
        fetch_partition_max_bytes: Num::new(at("fetch_partition_max_bytes"), f.fetch_partition_max_bytes),
        fetch_max_wait: Num::new(at("fetch_max_wait_ms"), f.fetch_max_wait_ms),
        offset_flush_interval: Num::new(at("offset_flush_interval_ms"), f.offset_flush_interval_ms),
        gapped_batches: f.gapped_batches,
        log_append_time_timestamps: f.log_append_time_timestamps,
        partition_failure: f.partition_failure,
        properties,
        source: f.source,
        target: f.target,
    }
}

/// The dotted key (`clusters.A.bootstrap_servers`, `flows[1].topics`) of the line holding
/// byte `offset`, worked out from the table headers above it: the `toml` crate's error
/// message says what is wrong but not where in the structure.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let mut table = String::new();
    let mut flows = 0usize;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let line = line.trim();
        let header = line
            .strip_prefix('[')
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').trim());
        if let Some(header) = header {
            if line.starts_with("[[") && header == "flows" {
                flows += 1;
            }
            table = match header.strip_prefix("flows") {
                Some(rest) if flows > 0 => format!("flows[{}]{rest}", flows - 1),
                _ => header.to_owned(),
            };
        }
        if offset < end || end == text.len() {
            let key = match header {
                Some(_) => return Some(table).filter(|t| !t.is_empty()),
                None => line.split_once('=')?.0.trim(),
            };
            return Some(if table.is_empty() {
                key.to_owned()
            } else {
                format!("{table}.{key}")
            });
        }
        start = end;
    }
    None
}

/// The value's text with `${…}` references resolved (see `substitute.rs`).
fn resolved(report: &mut Report, key: &str, value: Value) -> String {
    let text = value.into_text();
    match substitute(&text) {
        Ok(v) => v.into_owned(),
        Err(e) => {
            report.problem(key, e);
            String::new()
        }
    }
}

fn trimmed(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.trim().to_owned()).collect()
}
