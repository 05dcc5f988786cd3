//! Every metric kmirror emits is named here, following `kmirror_<what>_<unit>[_total]`, with
//! bounded labels (`cluster`, `broker`, `kind`). Code records through the helpers below so
//! that the name, the labels and the log line stay together.

/// Broker connections established (after a successful handshake).
pub const CONNECTIONS_OPENED: &str = "kmirror_connections_opened_total";
/// Broker connections that failed or were poisoned, by `kind` of error.
pub const CONNECTION_ERRORS: &str = "kmirror_connection_errors_total";
/// Metadata refreshes, successful or not.
pub const METADATA_REFRESHES: &str = "kmirror_metadata_refreshes_total";
/// Source batches by what happened to them (`action`: forwarded, renumbered, control,
/// aborted, empty, before_fetch_offset).
pub const BATCHES: &str = "kmirror_batches_total";
/// Batches whose records had to be decoded and re-encoded (`reason`: renumbered, trimmed,
/// append_time: a LogAppendTime batch whose records were given its append time; a batch both
/// trimmed or renumbered and given its append time counts under both reasons).
pub const BATCHES_RESHAPED: &str = "kmirror_batches_reshaped_total";
/// Records and wire bytes handed to the target.
pub const RECORDS_SENT: &str = "kmirror_records_sent_total";
pub const BYTES_SENT: &str = "kmirror_bytes_sent_total";
/// Records on the source partition not replicated yet: the source's last stable offset (what a
/// read_committed fetch can see) minus kmirror's next fetch offset, after each fetch.
pub const PARTITION_LAG_RECORDS: &str = "kmirror_partition_lag_records";
/// Age of the oldest record fetched and not yet acknowledged by the target: now minus the first
/// timestamp in the 61-byte header of the oldest unacknowledged batch (its max timestamp for
/// LogAppendTime batches); 0 once everything visible is acknowledged.
pub const PARTITION_LAG_SECONDS: &str = "kmirror_partition_lag_seconds";
/// With `partition_metrics = false`: the partition lags of a topic summed (records) or their
/// maximum (seconds), labelled by flow and topic only.
pub const TOPIC_LAG_RECORDS: &str = "kmirror_topic_lag_records";
pub const TOPIC_LAG_SECONDS: &str = "kmirror_topic_lag_seconds";
/// How long the oldest entry of the offset store not yet durable has waited, measured at each
/// flush interval just before the sync (about the interval under a steady stream, 0 when idle,
/// growing while syncs fail).
pub const OFFSET_STORE_AGE: &str = "kmirror_offset_store_age_seconds";
/// Broker connections kmirror holds, per cluster (a connection that died is counted until
/// kmirror next uses that broker and finds it dead, when it also counts a connection error).
pub const CONNECTIONS_OPEN: &str = "kmirror_connections_open";
/// Time from sending a Fetch request to its response, per source cluster.
pub const FETCH_LATENCY: &str = "kmirror_fetch_latency_seconds";
/// Time from sending a Produce request to its response, per target cluster.
pub const PRODUCE_LATENCY: &str = "kmirror_produce_latency_seconds";
/// Acknowledgement time minus the newest record timestamp of the batch (CreateTime batches):
/// how old data is when the target has it.
pub const REPLICATION_LATENCY: &str = "kmirror_replication_latency_seconds";
/// Budget in use (room reserved for fetches being processed plus batches not yet answered by
/// the target), against the configured budget.
pub const IN_FLIGHT_BYTES: &str = "kmirror_in_flight_bytes";
pub const BUDGET_BYTES: &str = "kmirror_memory_budget_bytes";
/// Waits a broker imposed for a quota (KIP-219 `throttle_time_ms`), per cluster and API:
/// `_count` is the number of throttled responses, `_sum` the seconds kmirror held requests
/// back for them.
pub const THROTTLE: &str = "kmirror_throttle_seconds";
/// 1 for each partition stopped for good (`partition_failure = stop-partition`), labelled
/// with flow, topic, partition and `reason` (target_refused, source_refused, corrupt_batch,
/// undecodable_batch, gapped_batch, source_data_lost, source_topic_recreated, target_diverged, panic); stays until
/// the process restarts.
pub const PARTITION_STOPPED: &str = "kmirror_partition_stopped";
/// The source offset a stopped partition stopped at: the first one not replicated, where it
/// resumes after a restart (-1 when the partition stopped before it had a position).
pub const PARTITION_STOPPED_OFFSET: &str = "kmirror_partition_stopped_offset";
/// Partition sessions restarted from the acknowledged position after a produce failure.
pub const PARTITION_RECOVERIES: &str = "kmirror_partition_recoveries_total";
/// Offset syncs the offset-syncs topic acknowledged, per flow.
pub const OFFSET_SYNCS_EMITTED: &str = "kmirror_offset_syncs_emitted_total";
/// Heartbeat records the target's `heartbeats` topic acknowledged, per source and target.
pub const HEARTBEATS_EMITTED: &str = "kmirror_heartbeats_emitted_total";

/// Checkpoint records written to `<source>.checkpoints.internal`, per flow.
pub const CHECKPOINTS: &str = "kmirror_checkpoints_total";
/// Committed offsets that could not be translated exactly, per flow and `reason`
/// (`next_record`: the offset points at data never replicated; `batch_start`: inside a
/// compacted batch, moved back to its first record; `untranslated`: ahead of replication or
/// before a trimmed history, no checkpoint).
pub const CHECKPOINT_INEXACT: &str = "kmirror_checkpoint_inexact_total";
/// Seconds since the flow last completed a checkpoint pass (translation of every group).
pub const CHECKPOINT_AGE: &str = "kmirror_checkpoint_age_seconds";
/// Group offset sync results per partition, per flow and `result` (`committed`,
/// `skipped_ahead`, `skipped_active`, `failed`).
pub const GROUP_OFFSET_SYNCS: &str = "kmirror_group_offset_syncs_total";
/// Topic config changes sent to target topics by the config sync, per flow and `result`
/// (`applied`, `refused`: the target refused it; reported once per config and value).
pub const TOPIC_CONFIG_SYNCS: &str = "kmirror_topic_config_syncs_total";
/// ACL bindings the ACL sync sent to the target, per flow and `result` (`created`,
/// `refused`).
pub const ACL_SYNCS: &str = "kmirror_acl_syncs_total";

/// Every metric name declared here, for the tests that check the table of docs/metrics.md and the
/// Grafana dashboard against the code.
pub const ALL: &[&str] = &[
    CONNECTIONS_OPENED,
    CONNECTION_ERRORS,
    CONNECTIONS_OPEN,
    METADATA_REFRESHES,
    BATCHES,
    BATCHES_RESHAPED,
    RECORDS_SENT,
    BYTES_SENT,
    PARTITION_LAG_RECORDS,
    PARTITION_LAG_SECONDS,
    TOPIC_LAG_RECORDS,
    TOPIC_LAG_SECONDS,
    FETCH_LATENCY,
    PRODUCE_LATENCY,
    REPLICATION_LATENCY,
    THROTTLE,
    IN_FLIGHT_BYTES,
    BUDGET_BYTES,
    PARTITION_RECOVERIES,
    PARTITION_STOPPED,
    PARTITION_STOPPED_OFFSET,
    OFFSET_STORE_AGE,
    OFFSET_SYNCS_EMITTED,
    HEARTBEATS_EMITTED,
    CHECKPOINTS,
    CHECKPOINT_INEXACT,
    CHECKPOINT_AGE,
    GROUP_OFFSET_SYNCS,
    TOPIC_CONFIG_SYNCS,
    ACL_SYNCS,
];

pub(crate) fn connection_opened(cluster: &str, broker: &str) {
    metrics::counter!(CONNECTIONS_OPENED, "cluster" => cluster.to_owned(), "broker" => broker.to_owned())
        .increment(1);
    metrics::gauge!(CONNECTIONS_OPEN, "cluster" => cluster.to_owned()).increment(1.0);
}

/// A connection kmirror held is gone (found dead, or closed).
pub(crate) fn connection_closed(cluster: &str) {
    metrics::gauge!(CONNECTIONS_OPEN, "cluster" => cluster.to_owned()).decrement(1.0);
}

pub(crate) fn connection_error(cluster: &str, broker: &str, kind: &'static str) {
    metrics::counter!(
        CONNECTION_ERRORS,
        "cluster" => cluster.to_owned(),
        "broker" => broker.to_owned(),
        "kind" => kind
    )
    .increment(1);
}

pub(crate) fn metadata_refreshed(cluster: &str, ok: bool) {
    metrics::counter!(METADATA_REFRESHES, "cluster" => cluster.to_owned(), "result" => if ok { "ok" } else { "error" })
        .increment(1);
}

/// The `action` labels of [`BATCHES`], in the order [`PartitionMeters`] keeps their counters.
const BATCH_ACTIONS: [&str; 6] = [
    "forwarded",
    "renumbered",
    "before_fetch_offset",
    "control",
    "aborted",
    "empty",
];

/// The metrics a partition task records for every batch, looked up once when the task starts.
/// Recording through the macros looks a metric up by name and labels each time: the label
/// strings are allocated and hashed into the recorder's registry, which for 15 KB batches cost
/// more than rewriting the batch. A handle records with an atomic add.
#[derive(Clone)]
pub(crate) struct PartitionMeters {
    batches: [metrics::Counter; 6],
    bytes_sent: metrics::Counter,
    records_sent: metrics::Counter,
    replication_latency: metrics::Histogram,
    in_flight_bytes: metrics::Gauge,
    budget_bytes: metrics::Gauge,
}

impl std::fmt::Debug for PartitionMeters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartitionMeters")
    }
}

impl PartitionMeters {
    pub(crate) fn new(flow: &str, topic: &str) -> Self {
        let labels = [("flow", flow.to_owned()), ("topic", topic.to_owned())];
        let batches = BATCH_ACTIONS.map(|action| {
            metrics::counter!(BATCHES, "flow" => flow.to_owned(), "topic" => topic.to_owned(), "action" => action)
        });
        Self {
            batches,
            bytes_sent: metrics::counter!(BYTES_SENT, &labels),
            records_sent: metrics::counter!(RECORDS_SENT, &labels),
            replication_latency: metrics::histogram!(REPLICATION_LATENCY, "flow" => flow.to_owned()),
            in_flight_bytes: metrics::gauge!(IN_FLIGHT_BYTES),
            budget_bytes: metrics::gauge!(BUDGET_BYTES),
        }
    }

    /// A source batch, by what happened to it ([`BATCHES`]).
    pub(crate) fn batch_seen(&self, action: &'static str) {
        match BATCH_ACTIONS.iter().position(|a| *a == action) {
            Some(i) => self.batches[i].increment(1),
            None => debug_assert!(false, "unknown batch action {action}"),
        }
    }

    /// Bytes and records handed to the target.
    pub(crate) fn batch_sent(&self, bytes: usize, records: i32) {
        self.bytes_sent.increment(bytes as u64);
        self.records_sent.increment(u64::try_from(records).unwrap_or(0));
    }

    /// Acknowledgement time minus the batch's newest record timestamp.
    pub(crate) fn replication_latency(&self, seconds: f64) {
        self.replication_latency.record(seconds);
    }

    /// Bytes held for batches in flight, and the budget.
    pub(crate) fn in_flight(&self, bytes: usize, budget: usize) {
        self.in_flight_bytes.set(bytes as f64);
        self.budget_bytes.set(budget as f64);
    }
}

pub(crate) fn batch_reshaped(flow: &str, topic: &str, reason: &'static str) {
    metrics::counter!(BATCHES_RESHAPED, "flow" => flow.to_owned(), "topic" => topic.to_owned(), "reason" => reason)
        .increment(1);
}

pub(crate) fn partition_recovered(flow: &str, topic: &str) {
    metrics::counter!(PARTITION_RECOVERIES, "flow" => flow.to_owned(), "topic" => topic.to_owned())
        .increment(1);
}

/// A partition stopped for good at source `offset` (see [`PARTITION_STOPPED`]).
pub(crate) fn partition_stopped(flow: &str, topic: &str, partition: i32, reason: &'static str, offset: i64) {
    let labels = [
        ("flow", flow.to_owned()),
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    metrics::gauge!(PARTITION_STOPPED_OFFSET, &labels).set(offset as f64);
    let [flow, topic, partition] = labels;
    let labels = [flow, topic, partition, ("reason", reason.to_owned())];
    metrics::gauge!(PARTITION_STOPPED, &labels).set(1.0);
}

pub(crate) fn partition_lag(flow: &str, topic: &str, partition: i32, records: i64, seconds: f64) {
    let labels = [
        ("flow", flow.to_owned()),
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    metrics::gauge!(PARTITION_LAG_RECORDS, &labels).set(records.max(0) as f64);
    metrics::gauge!(PARTITION_LAG_SECONDS, &labels).set(seconds.max(0.0));
}

pub(crate) fn topic_lag(flow: &str, topic: &str, records: i64, seconds: f64) {
    let labels = [("flow", flow.to_owned()), ("topic", topic.to_owned())];
    metrics::gauge!(TOPIC_LAG_RECORDS, &labels).set(records.max(0) as f64);
    metrics::gauge!(TOPIC_LAG_SECONDS, &labels).set(seconds.max(0.0));
}

pub(crate) fn offset_store_age(seconds: f64) {
    metrics::gauge!(OFFSET_STORE_AGE).set(seconds);
}

pub(crate) fn fetch_latency(cluster: &str, seconds: f64) {
    metrics::histogram!(FETCH_LATENCY, "cluster" => cluster.to_owned()).record(seconds);
}

/// The handle of [`PRODUCE_LATENCY`] for one target cluster, looked up once per produce loop.
pub(crate) fn produce_latency(cluster: &str) -> metrics::Histogram {
    metrics::histogram!(PRODUCE_LATENCY, "cluster" => cluster.to_owned())
}

pub(crate) fn throttled(cluster: &str, api: &str, seconds: f64) {
    metrics::histogram!(THROTTLE, "cluster" => cluster.to_owned(), "api" => api.to_owned()).record(seconds);
}

pub(crate) fn checkpoint_inexact(flow: &str, reason: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(CHECKPOINT_INEXACT, "flow" => flow.to_owned(), "reason" => reason).increment(n);
    }
}

pub(crate) fn checkpoint_age(flow: &str, seconds: f64) {
    metrics::gauge!(CHECKPOINT_AGE, "flow" => flow.to_owned()).set(seconds);
}

pub(crate) fn group_offset_sync(flow: &str, result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(GROUP_OFFSET_SYNCS, "flow" => flow.to_owned(), "result" => result)
            .increment(n as u64);
    }
}

pub(crate) fn topic_config_sync(flow: &str, result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(TOPIC_CONFIG_SYNCS, "flow" => flow.to_owned(), "result" => result)
            .increment(n as u64);
    }
}

pub(crate) fn acl_sync(flow: &str, result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(ACL_SYNCS, "flow" => flow.to_owned(), "result" => result).increment(n as u64);
    }
}

/// The counter of a flow's written checkpoints (the internal-topic writer counts).
pub(crate) fn checkpoints_written(flow: &str) -> metrics::Counter {
    metrics::counter!(CHECKPOINTS, "flow" => flow.to_owned())
}

/// The counter of a flow's acknowledged offset syncs (the internal-topic writer counts).
pub(crate) fn offset_syncs_emitted(flow: &str) -> metrics::Counter {
    metrics::counter!(OFFSET_SYNCS_EMITTED, "flow" => flow.to_owned())
}

/// The counter of acknowledged heartbeats of one cluster pair.
pub(crate) fn heartbeats_emitted(source: &str, target: &str) -> metrics::Counter {
    metrics::counter!(HEARTBEATS_EMITTED, "source" => source.to_owned(), "target" => target.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_metric_is_in_the_metrics_page() {
        let readme = repo_file("docs/metrics.md");
        for name in ALL {
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the metrics table of docs/metrics.md"
            );
        }
    }

    /// The dashboard only queries declared metrics (histograms through their `_bucket` series),
    /// and covers lag, throughput, latency, memory, recoveries and connection errors.
    #[test]
    fn the_grafana_dashboard_queries_declared_metrics_only() {
        let text = repo_file("config/grafana-dashboard.json");
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
        let exprs: Vec<&str> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| p["targets"].as_array().expect("targets"))
            .map(|t| t["expr"].as_str().expect("expr"))
            .collect();
        let name = regex::Regex::new(r"kmirror_[a-z_]+").unwrap();
        let mut queried = std::collections::BTreeSet::new();
        for expr in &exprs {
            for m in name.find_iter(expr) {
                let base = m.as_str();
                let base = base
                    .strip_suffix("_bucket")
                    .filter(|b| [FETCH_LATENCY, PRODUCE_LATENCY, REPLICATION_LATENCY].contains(b))
                    .unwrap_or(base);
                assert!(
                    ALL.contains(&base),
                    "the dashboard queries {base}, which src/metrics.rs does not declare"
                );
                let _ = queried.insert(base);
            }
        }
        for needed in [
            PARTITION_LAG_RECORDS,
            PARTITION_LAG_SECONDS,
            BYTES_SENT,
            REPLICATION_LATENCY,
            IN_FLIGHT_BYTES,
            BUDGET_BYTES,
            PARTITION_RECOVERIES,
            CONNECTION_ERRORS,
        ] {
            assert!(queried.contains(needed), "the dashboard does not show {needed}");
        }
    }
}
