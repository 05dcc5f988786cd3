//! Turns the keys of an MM2 properties file, sorted by scope, into a [`Draft`]: one flow per
//! enabled `A->B`, each setting looked up from the most specific scope that sets it, each
//! value remembered with the key it was read from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::client::ClientConfig;
use super::draft::{ClusterDraft, Draft, FlowDraft, Keyed, Num, PolicyKind};
use super::error::Report;
use super::filter::{DEFAULT_CONFIG_EXCLUDE, DEFAULT_TOPICS, DEFAULT_TOPICS_EXCLUDE, split_list};
use super::keys::{self, End, Mapped};
use super::model::{self, GappedPolicy, LogAppendTimestamps, PartitionFailure};
use super::policy::DEFAULT_SEPARATOR;
use super::properties::{
    Layout, MEMORY_BUDGET_BYTES, METRICS_ADDR, OFFSETS_HISTORY_MAX, PARTITION_METRICS, PROGRESS_INTERVAL,
    STATE_DIR, is_client_security_key, is_flow_key, is_top_level_key,
};
use super::security::Names;

impl Layout {
    pub(super) fn draft(&self, report: &mut Report) -> Draft {
        let mut flows = Vec::new();
        for ((source, target), keys) in &self.flows {
            let key = format!("{source}->{target}.enabled");
            let enabled = keys.get("enabled").map(|v| keys::parse_bool(v)).transpose();
            match enabled {
                Ok(Some(true)) => flows.push(self.flow(report, source, target, key)),
                Ok(_) => {}
                Err(e) => report.problem(&key, e),
            }
        }
        Draft {
            state_dir: Keyed::new(
                STATE_DIR,
                PathBuf::from(
                    self.top
                        .get(STATE_DIR)
                        .map_or(model::DEFAULT_STATE_DIR, String::as_str),
                ),
            ),
            memory_budget_bytes: number(
                report,
                MEMORY_BUDGET_BYTES.to_owned(),
                self.top.get(MEMORY_BUDGET_BYTES).map(String::as_str),
                model::DEFAULT_MEMORY_BUDGET_BYTES as i64,
                false,
            ),
            metrics_addr: Keyed::new(METRICS_ADDR, self.top.get(METRICS_ADDR).cloned()),
            partition_metrics: Keyed::new(
                PARTITION_METRICS,
                match self.top.get(PARTITION_METRICS).map(|v| keys::parse_bool(v)) {
                    None => model::DEFAULT_PARTITION_METRICS,
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        report.problem(PARTITION_METRICS, e);
                        model::DEFAULT_PARTITION_METRICS
                    }
                },
            ),
            progress_interval: number(
                report,
                PROGRESS_INTERVAL.to_owned(),
                self.top.get(PROGRESS_INTERVAL).map(String::as_str),
                ms(model::DEFAULT_PROGRESS_INTERVAL),
                false,
            ),
            offsets_history_max: number(
                report,
                OFFSETS_HISTORY_MAX.to_owned(),
                self.top.get(OFFSETS_HISTORY_MAX).map(String::as_str),
                model::DEFAULT_OFFSETS_HISTORY_MAX as i64,
                false,
            ),
            clusters: self.aliases.iter().map(|a| self.cluster(report, a)).collect(),
            flows,
            flow_hint: "set `A->B.enabled = true` for two aliases A and B listed in `clusters`",
        }
    }

    fn cluster(&self, report: &mut Report, alias: &str) -> ClusterDraft {
        let empty = BTreeMap::new();
        let given = self.clusters.get(alias).unwrap_or(&empty);
        let defaults = ClientConfig::default();
        let written = |key: &str| format!("{alias}.{key}");
        let mut num = |key: &str, default: i64| {
            number(
                report,
                written(key),
                given.get(key).map(String::as_str),
                default,
                false,
            )
        };
        let connect_timeout = num(keys::CONNECT_TIMEOUT, ms(defaults.connect_timeout));
        let request_timeout = num(keys::REQUEST_TIMEOUT, ms(defaults.request_timeout));
        let max_frame_bytes = num(keys::MAX_FRAME_BYTES, defaults.max_frame_bytes as i64);
        let max_in_flight = num(keys::CONNECTION_MAX_IN_FLIGHT, defaults.max_in_flight as i64);
        let reconnect_backoff = num(keys::RECONNECT_BACKOFF, ms(defaults.reconnect_backoff));
        let reconnect_backoff_max = num(keys::RECONNECT_BACKOFF_MAX, ms(defaults.reconnect_backoff_max));
        let request_retries = num(keys::RETRIES, i64::from(defaults.request_retries));
        let (mut security, properties): (BTreeMap<_, _>, BTreeMap<_, _>) = given
            .iter()
            .filter(|(k, _)| !is_client_security_key(k))
            .map(|(k, v)| (k.clone(), Keyed::new(written(k), v.clone())))
            .partition(|(k, _)| keys::security_key(k));
        // Top-level security keys are fallbacks for every cluster (MM2's `clusterProps`).
        for (k, v) in self.top.iter().filter(|(k, _)| keys::security_key(k)) {
            security
                .entry(k.clone())
                .or_insert_with(|| Keyed::new(k.clone(), v.clone()));
        }
        ClusterDraft {
            alias: alias.to_owned(),
            label: "clusters".to_owned(),
            bootstrap_servers: Keyed::new(
                written(keys::BOOTSTRAP_SERVERS),
                given
                    .get(keys::BOOTSTRAP_SERVERS)
                    .map(|v| split_list(v))
                    .unwrap_or_default(),
            ),
            client_id: Keyed::new(
                written(keys::CLIENT_ID),
                given.get(keys::CLIENT_ID).cloned().unwrap_or(defaults.client_id),
            ),
            connect_timeout,
            request_timeout,
            max_frame_bytes,
            max_in_flight,
            reconnect_backoff,
            reconnect_backoff_max,
            request_retries,
            security,
            security_names: Names {
                prefix: format!("{alias}."),
                toml: false,
            },
            properties,
        }
    }

    fn flow(&self, report: &mut Report, source: &str, target: &str, label: String) -> FlowDraft {
        let scope = Scope {
            layout: self,
            source,
            target,
        };
        let policy = match scope.get(&keys::POLICY_CLASS) {
            None => PolicyKind::Default,
            Some((key, class)) => match class
                .strip_prefix("org.apache.kafka.connect.mirror.")
                .unwrap_or(class)
            {
                "DefaultReplicationPolicy" => PolicyKind::Default,
                "IdentityReplicationPolicy" => PolicyKind::Identity,
                _ => {
                    report.problem(
                        &key,
                        format!(
                            "`{class}` is not supported: kmirror has DefaultReplicationPolicy and \
                             IdentityReplicationPolicy"
                        ),
                    );
                    PolicyKind::Default
                }
            },
        };
        let sync_topic_configs = match scope.get(&keys::SYNC_TOPIC_CONFIGS) {
            None => model::DEFAULT_SYNC_TOPIC_CONFIGS,
            Some((key, v)) => keys::parse_bool(v).unwrap_or_else(|e| {
                report.problem(&key, e);
                model::DEFAULT_SYNC_TOPIC_CONFIGS
            }),
        };
        let gapped_batches = match scope.get(&keys::GAPPED_BATCHES) {
            None => GappedPolicy::default(),
            Some((key, v)) => GappedPolicy::parse(v).unwrap_or_else(|| {
                report.problem(&key, format!("`{v}` is not one of renumber, fail"));
                GappedPolicy::default()
            }),
        };
        let log_append_time_timestamps = match scope.get(&keys::LOG_APPEND_TIME_TIMESTAMPS) {
            None => LogAppendTimestamps::default(),
            Some((key, v)) => LogAppendTimestamps::parse(v).unwrap_or_else(|| {
                report.problem(
                    &key,
                    format!("`{v}` is not one of {}", LogAppendTimestamps::NAMES),
                );
                LogAppendTimestamps::default()
            }),
        };
        let partition_failure = match scope.get(&keys::PARTITION_FAILURE) {
            None => PartitionFailure::default(),
            Some((key, v)) => PartitionFailure::parse(v).unwrap_or_else(|| {
                report.problem(&key, format!("`{v}` is not one of {}", PartitionFailure::NAMES));
                PartitionFailure::default()
            }),
        };
        FlowDraft {
            label,
            source: source.to_owned(),
            target: target.to_owned(),
            topics: scope.list(&keys::TOPICS, DEFAULT_TOPICS),
            topics_exclude: scope.list(&keys::TOPICS_EXCLUDE, DEFAULT_TOPICS_EXCLUDE),
            policy,
            separator: scope.get(&keys::SEPARATOR).map_or_else(
                || Keyed::new(keys::SEPARATOR.key, DEFAULT_SEPARATOR.to_owned()),
                |(key, v)| Keyed::new(key, v.to_owned()),
            ),
            refresh_topics_interval: scope.number(
                report,
                &keys::REFRESH_TOPICS_INTERVAL,
                model::DEFAULT_REFRESH_TOPICS_INTERVAL.as_secs() as i64,
                true,
            ),
            replication_factor: scope.number(
                report,
                &keys::REPLICATION_FACTOR,
                i64::from(model::DEFAULT_REPLICATION_FACTOR),
                false,
            ),
            sync_topic_configs,
            config_exclude: scope.list(&keys::CONFIG_EXCLUDE, DEFAULT_CONFIG_EXCLUDE),
            max_in_flight: scope.number(
                report,
                &keys::MAX_IN_FLIGHT,
                model::DEFAULT_MAX_IN_FLIGHT as i64,
                false,
            ),
            fetch_max_bytes: scope.number(
                report,
                &keys::FETCH_MAX_BYTES,
                i64::from(model::DEFAULT_FETCH_MAX_BYTES),
                false,
            ),
            fetch_partition_max_bytes: scope.number(
                report,
                &keys::FETCH_PARTITION_MAX_BYTES,
                i64::from(model::DEFAULT_FETCH_PARTITION_MAX_BYTES),
                false,
            ),
            fetch_max_wait: scope.number(
                report,
                &keys::FETCH_MAX_WAIT,
                ms(model::DEFAULT_FETCH_MAX_WAIT),
                false,
            ),
            offset_flush_interval: scope.number(
                report,
                &keys::OFFSET_FLUSH_INTERVAL,
                ms(model::DEFAULT_OFFSET_FLUSH_INTERVAL),
                false,
            ),
            gapped_batches,
            log_append_time_timestamps,
            partition_failure,
            properties: self.flow_properties(source, target),
        }
    }

    /// Top-level flow-scoped keys overlaid with the flow's own.
    fn flow_properties(&self, source: &str, target: &str) -> BTreeMap<String, Keyed<String>> {
        let mut out: BTreeMap<String, Keyed<String>> = self
            .top
            .iter()
            .filter(|(k, _)| {
                is_flow_key(k) || (!is_top_level_key(k) && !keys::CLIENT_KEYS.contains(&k.as_str()))
            })
            .map(|(k, v)| (k.clone(), Keyed::new(k.clone(), v.clone())))
            .collect();
        if let Some(own) = self.flows.get(&(source.to_owned(), target.to_owned())) {
            for (k, v) in own {
                out.insert(
                    k.clone(),
                    Keyed::new(format!("{source}->{target}.{k}"), v.clone()),
                );
            }
        }
        out
    }
}

/// One flow's view of the keys, most specific first.
#[derive(Debug)]
struct Scope<'a> {
    layout: &'a Layout,
    source: &'a str,
    target: &'a str,
}

impl<'a> Scope<'a> {
    /// The key as written and its value: `A->B.key`, `A->B.alias`, the cluster fallback,
    /// `key`, `alias`.
    fn get(&self, m: &Mapped) -> Option<(String, &'a str)> {
        let names = [Some(m.key), m.alias];
        let flow = self
            .layout
            .flows
            .get(&(self.source.to_owned(), self.target.to_owned()));
        for name in names.into_iter().flatten() {
            if let Some(v) = flow.and_then(|f| f.get(name)) {
                return Some((format!("{}->{}.{name}", self.source, self.target), v.as_str()));
            }
        }
        if let Some((end, name)) = m.cluster {
            let alias = if end == End::Source {
                self.source
            } else {
                self.target
            };
            if let Some(v) = self.layout.clusters.get(alias).and_then(|c| c.get(name)) {
                return Some((format!("{alias}.{name}"), v.as_str()));
            }
        }
        names
            .into_iter()
            .flatten()
            .find_map(|name| Some((name.to_owned(), self.layout.top.get(name)?.as_str())))
    }

    fn list(&self, m: &Mapped, default: &[&str]) -> Keyed<Vec<String>> {
        match self.get(m) {
            Some((key, v)) => Keyed::new(key, split_list(v)),
            None => Keyed::new(m.key, default.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    fn number(&self, report: &mut Report, m: &Mapped, default: i64, seconds: bool) -> Num {
        let (key, value) = self.get(m).unzip();
        number(
            report,
            key.unwrap_or_else(|| m.key.to_owned()),
            value,
            default,
            seconds,
        )
    }
}

/// An integer value, or the default (after reporting) if it is not one.
fn number(report: &mut Report, key: String, value: Option<&str>, default: i64, seconds: bool) -> Num {
    let value = match value.map(|v| v.trim().parse::<i64>()) {
        None => default,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            report.problem(&key, format!("`{}` is not an integer", value.unwrap_or_default()));
            default
        }
    };
    if seconds {
        Num::seconds(key, value)
    } else {
        Num::new(key, value)
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
