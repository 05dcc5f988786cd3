//! The observability endpoint of `kmirror run --metrics-addr`: Prometheus metrics with the
//! documented names, liveness, and readiness that turns on once the flows run.

use std::time::Duration;

use kmirror::protocol::batch::Compression;
use kmirror::testkit::FakeBroker;
use kmirror::testkit::batches::data_batch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::kmirror::Kmirror;
use crate::support::{eventually, mm2_properties};

/// The endpoint's address as `run` logs it.
pub async fn logged_metrics_addr(k: &Kmirror) -> String {
    eventually(
        "the metrics address in the log",
        Duration::from_secs(20),
        || async {
            let log = k.log();
            let at = log.find("metrics on http://")? + "metrics on http://".len();
            let rest = &log[at..];
            Some(rest[..rest.find("/metrics")?].to_owned())
        },
    )
    .await
}

pub async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the metrics endpoint");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn metrics_health_and_readiness_are_served() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("t", 2);
    for p in 0..2 {
        for i in 0..3 {
            source.append_raw("t", p, data_batch(i * 5, 5, 10, Compression::None).into_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    // Without heartbeats: the reverse pair's `heartbeats` topic on the source would be
    // replicated as `source.heartbeats` whenever it appears, making the topic count of the
    // status table depend on timing.
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        "emit.heartbeats.enabled = false",
    );
    let k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let addr = logged_metrics_addr(&k).await;

    assert_eq!(get(&addr, "/healthz").await.0, 200);
    eventually("readiness", Duration::from_secs(20), || async {
        (get(&addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    eventually("all records on the target", Duration::from_secs(20), || async {
        (target.log("source.t", 0).len() == 3 && target.log("source.t", 1).len() == 3).then_some(())
    })
    .await;
    let names = [
        "kmirror_batches_total",
        "kmirror_records_sent_total",
        "kmirror_bytes_sent_total",
        "kmirror_connections_opened_total",
        "kmirror_metadata_refreshes_total",
        "kmirror_fetch_latency_seconds_bucket",
        "kmirror_produce_latency_seconds_bucket",
        "kmirror_replication_latency_seconds_count",
        "kmirror_in_flight_bytes",
        "kmirror_memory_budget_bytes 268435456",
        r#"kmirror_partition_lag_records{flow="source->target",topic="t",partition="1"} 0"#,
        r#"kmirror_partition_lag_seconds{flow="source->target",topic="t",partition="1"} 0"#,
        r#"kmirror_connections_open{cluster="source"} 1"#,
        r#"kmirror_connections_open{cluster="target"} 1"#,
        "kmirror_offset_store_age_seconds",
    ];
    // Acks are settled by the partition tasks between fetches: wait until every series is in.
    let metrics = eventually("every metric series", Duration::from_secs(20), || async {
        let (status, body) = get(&addr, "/metrics").await;
        (status == 200 && names.iter().all(|n| body.contains(n))).then_some(body)
    })
    .await;
    assert!(
        metrics.contains(r#"kmirror_records_sent_total{flow="source->target",topic="t"} 30"#),
        "{metrics}"
    );
    assert_eq!(get(&addr, "/nope").await.0, 404);

    // `kmirror status` reads the same endpoint: one flow, one topic, two partitions, none
    // stopped, caught up.
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["status", "--metrics-addr", &addr, "--interval-ms", "200"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("source->target"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // topics, partitions, stopped, lag
    assert_eq!(&cells[1..5], &["1", "2", "0", "0"], "{table}");
    assert!(row.ends_with("caught up"), "{table}");
    k.stop_cleanly().await;
}

/// The endpoint from the config file's `metrics.addr`, with partition-level series turned off:
/// lag is reported per flow and topic, and no series carries a partition label.
#[tokio::test]
async fn config_keys_serve_metrics_and_aggregate_lag_per_topic() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("t", 3);
    for p in 0..3 {
        source.append_raw("t", p, data_batch(0, 4, 10, Compression::None).into_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        "metrics.addr = 127.0.0.1:0\npartition.metrics = false\nprogress.interval.ms = 200\n",
    );
    let k = Kmirror::run_with(&config, dir.path(), &[]);
    let addr = logged_metrics_addr(&k).await;
    let topic_lag = [
        r#"kmirror_topic_lag_records{flow="source->target",topic="t"} 0"#,
        r#"kmirror_topic_lag_seconds{flow="source->target",topic="t"} 0"#,
    ];
    let metrics = eventually("lag 0 per topic", Duration::from_secs(20), || async {
        let (status, body) = get(&addr, "/metrics").await;
        (status == 200 && topic_lag.iter().all(|n| body.contains(n))).then_some(body)
    })
    .await;
    assert!(!metrics.contains("partition=\""), "{metrics}");
    assert!(!metrics.contains("kmirror_partition_lag"), "{metrics}");
    k.stop_cleanly().await;
}
