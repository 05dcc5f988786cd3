//! The one validation both front ends go through: ranges, cluster references, duplicate
//! flows, patterns, cross-checks between settings. Every problem is collected before failing,
//! and because both formats meet here they cannot drift apart in what they accept.

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::ClientConfig;
use super::draft::{ClusterDraft, Draft, FlowDraft, Keyed, Num, PolicyKind};
use super::error::{ConfigError, Report};
use super::filter::{ConfigFilter, PatternList, TopicFilter, split_list};
use super::internal_topics;
use super::keys::{self, Kind};
use super::model::{self, ClusterConfig, Config, FlowConfig, MAX_IN_FLIGHT_LIMIT};
use super::policy::{DEFAULT_SEPARATOR, ReplicationPolicy};
use super::security;

/// Checks a draft; `report` may already hold what the front end found.
pub(crate) fn validate(draft: Draft, mut report: Report) -> Result<Config, ConfigError> {
    let r = &mut report;
    if draft.state_dir.value.as_os_str().is_empty() {
        r.problem(&draft.state_dir.key, "must not be empty");
    }
    let memory = int(r, &draft.memory_budget_bytes, 1, i64::MAX).and_then(|n| usize::try_from(n).ok());
    let metrics_addr = draft
        .metrics_addr
        .value
        .as_deref()
        .and_then(|a| match a.trim().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                r.problem(
                    &draft.metrics_addr.key,
                    format!(
                        "`{a}` is not an address of the form HOST:PORT with an IP address (e.g. 0.0.0.0:9644)"
                    ),
                );
                None
            }
        });
    let progress_interval =
        int(r, &draft.progress_interval, 100, 86_400_000).map(|ms| Duration::from_millis(ms as u64));
    let history = int(
        r,
        &draft.offsets_history_max,
        1,
        model::OFFSETS_HISTORY_MAX_LIMIT as i64,
    )
    .and_then(|n| usize::try_from(n).ok());
    // Every alias counts as known, valid or not, so that one bad cluster does not make each
    // of its flows report an unknown alias too.
    let known: Vec<String> = draft.clusters.iter().map(|c| c.alias.clone()).collect();
    let mut clusters = BTreeMap::new();
    for c in draft.clusters {
        if let Some(c) = cluster(r, c) {
            clusters.insert(c.alias.clone(), c);
        }
    }
    if draft.flows.is_empty() && !r.has_problems() {
        r.problem_at(
            "",
            format!("no replication flow is enabled ({})", draft.flow_hint),
        );
    }
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut flows = Vec::new();
    let mut largest_fetch: Option<(i32, String)> = None;
    for f in draft.flows {
        let pair = (f.source.clone(), f.target.clone());
        if let Some(first) = seen.get(&pair) {
            r.problem(
                &f.label,
                format!("flow {}->{} is already defined by `{first}`", pair.0, pair.1),
            );
            continue;
        }
        seen.insert(pair, f.label.clone());
        let fetch_key = f.fetch_max_bytes.key.clone();
        if let Some(f) = flow(r, f, &known, &clusters) {
            if largest_fetch.as_ref().is_none_or(|(n, _)| f.fetch_max_bytes > *n) {
                largest_fetch = Some((f.fetch_max_bytes, fetch_key));
            }
            flows.push(f);
        }
    }
    if let (Some(memory), Some((fetch, key))) = (memory, &largest_fetch)
        && usize::try_from(*fetch).is_ok_and(|f| f > memory)
    {
        r.problem(
            &draft.memory_budget_bytes.key,
            format!("{memory} is smaller than `{key}` ({fetch}): one fetch response must fit in the budget"),
        );
    }
    let warnings = report.finish()?;
    Ok(Config {
        clusters,
        flows,
        state_dir: draft.state_dir.value,
        memory_budget_bytes: memory.unwrap_or_default(),
        metrics_addr,
        partition_metrics: draft.partition_metrics.value,
        progress_interval: progress_interval.unwrap_or_default(),
        offsets_history_max: history.unwrap_or(model::DEFAULT_OFFSETS_HISTORY_MAX),
        warnings,
    })
}

fn cluster(r: &mut Report, c: ClusterDraft) -> Option<ClusterConfig> {
    let valid_alias = !c.alias.is_empty()
        && c.alias
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
    if !valid_alias {
        r.problem(
            &c.label,
            format!(
                "cluster alias `{}` cannot prefix topic names: use letters, digits, `.`, `_` and `-`",
                c.alias
            ),
        );
    }
    let servers = c.bootstrap_servers;
    if servers.value.is_empty() {
        r.problem(&servers.key, "no bootstrap server given (expected host:port, …)");
    }
    let mut servers_ok = !servers.value.is_empty();
    for s in servers.value.iter().filter(|s| !is_host_port(s)) {
        r.problem(&servers.key, format!("`{s}` is not host:port"));
        servers_ok = false;
    }
    let client_id_ok = c.client_id.value.len() <= i16::MAX as usize;
    if !client_id_ok {
        r.problem(&c.client_id.key, "is longer than 32767 bytes");
    }
    let connect_timeout = duration(r, &c.connect_timeout, 1, i64::MAX);
    let request_timeout = duration(r, &c.request_timeout, 1, i64::MAX);
    let max_frame_bytes = int(r, &c.max_frame_bytes, 1024, i64::MAX).and_then(|n| usize::try_from(n).ok());
    let max_in_flight =
        int(r, &c.max_in_flight, 1, i64::from(i32::MAX)).and_then(|n| usize::try_from(n).ok());
    let reconnect_backoff = duration(r, &c.reconnect_backoff, 0, i64::MAX);
    let reconnect_backoff_max = duration(r, &c.reconnect_backoff_max, 0, i64::MAX);
    if let (Some(min), Some(max)) = (reconnect_backoff, reconnect_backoff_max)
        && max < min
    {
        r.problem(
            &c.reconnect_backoff_max.key,
            format!("must not be less than `{}`", c.reconnect_backoff.key),
        );
    }
    let request_retries =
        int(r, &c.request_retries, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok());
    let properties = c
        .properties
        .into_iter()
        .filter(|(name, _)| !keys::may_hold_secret(name))
        .map(|(name, k)| (name, k.value))
        .collect();
    let security = security::build(r, &c.security, &c.security_names);
    let client = ClientConfig {
        client_id: c.client_id.value,
        connect_timeout: connect_timeout?,
        request_timeout: request_timeout?,
        max_frame_bytes: max_frame_bytes?,
        max_in_flight: max_in_flight?,
        reconnect_backoff: reconnect_backoff?,
        reconnect_backoff_max: reconnect_backoff_max?,
        request_retries: request_retries?,
        security: security?,
    };
    (valid_alias && client_id_ok && servers_ok).then_some(ClusterConfig {
        alias: c.alias,
        bootstrap_servers: servers.value,
        client,
        properties,
    })
}

fn flow(
    r: &mut Report,
    f: FlowDraft,
    known: &[String],
    clusters: &BTreeMap<String, ClusterConfig>,
) -> Option<FlowConfig> {
    for (end, alias) in [("source", &f.source), ("target", &f.target)] {
        if !known.contains(alias) {
            r.problem(
                &f.label,
                format!(
                    "{end} `{alias}` is not a configured cluster (known: {})",
                    known.join(", ")
                ),
            );
        }
    }
    let distinct = f.source != f.target;
    if !distinct {
        r.problem(
            &f.label,
            format!("source and target are the same cluster `{}`", f.source),
        );
    }
    let include = patterns(r, &f.topics);
    let exclude = patterns(r, &f.topics_exclude);
    let config_exclude = patterns(r, &f.config_exclude);
    if f.sync_topic_configs
        && config_exclude
            .as_ref()
            .is_some_and(|p| !p.is_match("message.timestamp.type"))
    {
        r.warn(
            &f.config_exclude.key,
            "does not exclude message.timestamp.type: a target topic created from a LogAppendTime \
             source topic is LogAppendTime too, and its broker stamps its own append time on every \
             record, whatever log.append.time.timestamps says",
        );
    }
    let policy = policy(r, &f);
    let replication_factor = match f.replication_factor.value {
        n @ (-1 | 1..=0x7fff) => i16::try_from(n).ok(),
        n => {
            r.problem(
                &f.replication_factor.key,
                format!("{n} is not a replication factor (-1 for the target's default, or 1 to 32767)"),
            );
            None
        }
    };
    let max_in_flight = if f.max_in_flight.value > MAX_IN_FLIGHT_LIMIT as i64 {
        r.problem(
            &f.max_in_flight.key,
            format!(
                "{} is out of range: an idempotent producer may have at most {MAX_IN_FLIGHT_LIMIT} \
                 requests in flight per broker",
                f.max_in_flight.value
            ),
        );
        None
    } else {
        int(r, &f.max_in_flight, 1, i64::MAX).and_then(|n| usize::try_from(n).ok())
    };
    let fetch_max_bytes =
        int(r, &f.fetch_max_bytes, 1, i64::from(i32::MAX)).and_then(|n| i32::try_from(n).ok());
    if let (Some(fetch), Some(c)) = (fetch_max_bytes, clusters.get(&f.source))
        && usize::try_from(fetch).is_ok_and(|n| n > c.client.max_frame_bytes)
    {
        r.problem(
            &f.fetch_max_bytes.key,
            format!(
                "{fetch} is larger than the largest response cluster `{}` accepts (max frame bytes {})",
                f.source, c.client.max_frame_bytes
            ),
        );
    }
    let fetch_partition_max_bytes =
        int(r, &f.fetch_partition_max_bytes, 1, i64::from(i32::MAX)).and_then(|n| i32::try_from(n).ok());
    let refresh_topics_interval = duration(r, &f.refresh_topics_interval, 1, i64::MAX);
    let fetch_max_wait = duration(r, &f.fetch_max_wait, 0, i64::from(i32::MAX));
    let offset_flush_interval = duration(r, &f.offset_flush_interval, 1, i64::MAX);
    let mut f = f;
    let internal_topics = internal_topics::take(r, &mut f.properties);
    let mut properties = BTreeMap::new();
    for (name, Keyed { key, value }) in f.properties {
        match keys::later_flow_key(&name) {
            Some(Kind::Patterns) => {
                let _ = patterns(r, &Keyed::new(key, split_list(&value)));
            }
            Some(kind) => {
                if let Err(e) = keys::check_value(kind, &value) {
                    r.problem(&key, e);
                }
            }
            None if keys::may_hold_secret(&name) => continue,
            None => {}
        }
        properties.insert(name, value);
    }
    if !distinct || !known.contains(&f.source) || !known.contains(&f.target) {
        return None;
    }
    Some(FlowConfig {
        source: f.source,
        target: f.target,
        topics: TopicFilter::new(include?, exclude?),
        policy: policy?,
        refresh_topics_interval: refresh_topics_interval?,
        replication_factor: replication_factor?,
        sync_topic_configs: f.sync_topic_configs,
        config_exclude: ConfigFilter::new(config_exclude?),
        max_in_flight: max_in_flight?,
        fetch_max_bytes: fetch_max_bytes?,
        fetch_partition_max_bytes: fetch_partition_max_bytes?,
        fetch_max_wait: fetch_max_wait?,
        offset_flush_interval: offset_flush_interval?,
        gapped_batches: f.gapped_batches,
        log_append_time_timestamps: f.log_append_time_timestamps,
        partition_failure: f.partition_failure,
        internal_topics: internal_topics?,
        properties,
    })
}

fn policy(r: &mut Report, f: &FlowDraft) -> Option<ReplicationPolicy> {
    let separator = &f.separator;
    match f.policy {
        PolicyKind::Default => {
            if separator.value.is_empty() {
                r.problem(&separator.key, "must not be empty");
                return None;
            }
            for alias in [&f.source, &f.target] {
                if alias.contains(&separator.value) {
                    r.warn(
                        &separator.key,
                        format!(
                            "cluster alias `{alias}` contains the separator `{}`, so topics replicated \
                             from it cannot be recognised by name (cycle detection)",
                            separator.value
                        ),
                    );
                }
            }
            Some(ReplicationPolicy::Default {
                separator: separator.value.clone(),
            })
        }
        PolicyKind::Identity => {
            if separator.value != DEFAULT_SEPARATOR {
                r.warn(
                    &separator.key,
                    "not used with the identity policy (heartbeats topics are prefixed with `.`)",
                );
            }
            Some(ReplicationPolicy::Identity)
        }
    }
}

fn patterns(r: &mut Report, list: &Keyed<Vec<String>>) -> Option<PatternList> {
    PatternList::new(&list.value)
        .map_err(|e| r.problem(&list.key, e))
        .ok()
}

fn int(r: &mut Report, n: &Num, min: i64, max: i64) -> Option<i64> {
    if (min..=max).contains(&n.value) {
        return Some(n.value);
    }
    let range = if max == i64::MAX {
        format!("at least {min}")
    } else {
        format!("between {min} and {max}")
    };
    r.problem(&n.key, format!("{} is out of range: must be {range}", n.value));
    None
}

/// A duration of at least `min` units as given (0 or 1) and at most `max_ms` milliseconds.
fn duration(r: &mut Report, n: &Num, min: i64, max_ms: i64) -> Option<Duration> {
    if n.value < min {
        let rule = if min > 0 {
            "must be positive"
        } else {
            "must not be negative"
        };
        r.problem(&n.key, format!("{} is out of range: {rule}", n.value));
        return None;
    }
    let ms = n.millis();
    if ms > max_ms {
        r.problem(&n.key, format!("{} is too large: at most {max_ms} ms", n.value));
        return None;
    }
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// `host:port` with a non-empty host and a port from 1 to 65535 (`[v6]:port` too).
fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok_and(|p| p > 0)
    })
}
