//! Every metric kmirror emits is named here, following `kmirror_<what>_<unit>[_total]`, with
//! bounded labels (`cluster`, `broker`, `kind`). Code records through the helpers below so
//! that the name, the labels and the log line stay together.

/// Broker connections established (after a successful handshake).
pub const CONNECTIONS_OPENED: &str = "kmirror_connections_opened_total";
/// Broker connections that failed or were poisoned, by `kind` of error.
pub const CONNECTION_ERRORS: &str = "kmirror_connection_errors_total";
/// Metadata refreshes, successful or not.
pub const METADATA_REFRESHES: &str = "kmirror_metadata_refreshes_total";

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
