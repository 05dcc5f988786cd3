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
/// Batches whose records had to be decoded and re-encoded (`reason`: renumbered, trimmed).
pub const BATCHES_RESHAPED: &str = "kmirror_batches_reshaped_total";
/// Records and wire bytes handed to the target.
pub const RECORDS_SENT: &str = "kmirror_records_sent_total";
pub const BYTES_SENT: &str = "kmirror_bytes_sent_total";
/// Records on the source partition not replicated yet: the source's last stable offset (what a
/// read_committed fetch can see) minus kmirror's next fetch offset, after each fetch.
pub const PARTITION_LAG_RECORDS: &str = "kmirror_partition_lag_records";
/// Time from sending a Fetch request to its response, per source cluster.
pub const FETCH_LATENCY: &str = "kmirror_fetch_latency_seconds";
/// Time from sending a Produce request to its response, per target cluster.
pub const PRODUCE_LATENCY: &str = "kmirror_produce_latency_seconds";
/// Acknowledgement time minus the newest record timestamp of the batch (CreateTime batches):
/// how old data is when the target has it.
pub const REPLICATION_LATENCY: &str = "kmirror_replication_latency_seconds";
/// Batch bytes fetched and not yet acknowledged, against the configured budget.
pub const IN_FLIGHT_BYTES: &str = "kmirror_in_flight_bytes";
pub const BUDGET_BYTES: &str = "kmirror_memory_budget_bytes";
/// Partition sessions restarted from the acknowledged position after a produce failure.
pub const PARTITION_RECOVERIES: &str = "kmirror_partition_recoveries_total";
/// Offset syncs the offset-syncs topic acknowledged, per flow.
pub const OFFSET_SYNCS_EMITTED: &str = "kmirror_offset_syncs_emitted_total";
/// Heartbeat records the target's `heartbeats` topic acknowledged, per source and target.
pub const HEARTBEATS_EMITTED: &str = "kmirror_heartbeats_emitted_total";

pub(crate) fn connection_opened(cluster: &str, broker: &str) {
    metrics::counter!(CONNECTIONS_OPENED, "cluster" => cluster.to_owned(), "broker" => broker.to_owned())
        .increment(1);
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

pub(crate) fn batch_seen(flow: &str, topic: &str, action: &'static str) {
    metrics::counter!(BATCHES, "flow" => flow.to_owned(), "topic" => topic.to_owned(), "action" => action)
        .increment(1);
}

pub(crate) fn batch_reshaped(flow: &str, topic: &str, reason: &'static str) {
    metrics::counter!(BATCHES_RESHAPED, "flow" => flow.to_owned(), "topic" => topic.to_owned(), "reason" => reason)
        .increment(1);
}

pub(crate) fn batch_sent(flow: &str, topic: &str, bytes: usize, records: i32) {
    let labels = [("flow", flow.to_owned()), ("topic", topic.to_owned())];
    metrics::counter!(BYTES_SENT, &labels).increment(bytes as u64);
    metrics::counter!(RECORDS_SENT, &labels).increment(u64::try_from(records).unwrap_or(0));
}

pub(crate) fn partition_recovered(flow: &str, topic: &str) {
    metrics::counter!(PARTITION_RECOVERIES, "flow" => flow.to_owned(), "topic" => topic.to_owned())
        .increment(1);
}

pub(crate) fn partition_lag(flow: &str, topic: &str, partition: i32, records: i64) {
    metrics::gauge!(
        PARTITION_LAG_RECORDS,
        "flow" => flow.to_owned(),
        "topic" => topic.to_owned(),
        "partition" => partition.to_string()
    )
    .set(records.max(0) as f64);
}

pub(crate) fn fetch_latency(cluster: &str, seconds: f64) {
    metrics::histogram!(FETCH_LATENCY, "cluster" => cluster.to_owned()).record(seconds);
}

pub(crate) fn produce_latency(cluster: &str, seconds: f64) {
    metrics::histogram!(PRODUCE_LATENCY, "cluster" => cluster.to_owned()).record(seconds);
}

pub(crate) fn replication_latency(flow: &str, seconds: f64) {
    metrics::histogram!(REPLICATION_LATENCY, "flow" => flow.to_owned()).record(seconds);
}

pub(crate) fn in_flight(bytes: usize, budget: usize) {
    metrics::gauge!(IN_FLIGHT_BYTES).set(bytes as f64);
    metrics::gauge!(BUDGET_BYTES).set(budget as f64);
}

/// The counter of a flow's acknowledged offset syncs (the internal-topic writer counts).
pub(crate) fn offset_syncs_emitted(flow: &str) -> metrics::Counter {
    metrics::counter!(OFFSET_SYNCS_EMITTED, "flow" => flow.to_owned())
}

/// The counter of acknowledged heartbeats of one cluster pair.
pub(crate) fn heartbeats_emitted(source: &str, target: &str) -> metrics::Counter {
    metrics::counter!(HEARTBEATS_EMITTED, "source" => source.to_owned(), "target" => target.to_owned())
}
