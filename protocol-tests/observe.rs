//! The observability endpoint of `kmirror run --metrics-addr`: Prometheus metrics with the
//! documented names, liveness, and readiness that turns on once the flows run, while kmirror
//! replicates a topic of its own between the shared Apache Kafka brokers.

use std::time::Duration;

use kmirror::cluster::OffsetSpec;
use kmirror::protocol::batch::Compression;
use kmirror::testkit::batches::data_batch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::{eventually, mm2_properties, pyclient, topic};

/// A new topic of `partitions` partitions on the shared source, each holding `batches`
/// batches of `records` records (produced by kmirror's client, one batch per request);
/// returns its name.
async fn source_topic(source: &Kafka, partitions: i32, batches: usize, records: usize) -> String {
    let name = topic("observe");
    pyclient::create_topic(&source.addr(), &name, partitions).await;
    let cluster = source.client().await;
    let _ = cluster.refresh_topics(std::slice::from_ref(&name)).await;
    for p in 0..partitions {
        for _ in 0..batches {
            let batch = data_batch(0, records, 10, Compression::None).into_bytes();
            cluster
                .produce(&name, p, batch)
                .await
                .expect("produce to the source");
        }
    }
    cluster.close().await;
    name
}

/// The flow of these tests on the shared brokers: `topic` only, and no heartbeats, neither
/// emitted nor replicated (another test's `heartbeats` topic on the shared source would show
/// in the status table).
fn only(topic: &str) -> String {
    format!(
        "source->target.topics = {topic}
         emit.heartbeats.enabled = false
         heartbeats.replication.enabled = false
"
    )
}

/// Waits until every partition of `source.<topic>` on the target holds `count` records.
async fn on_target(target: &Kafka, topic: &str, partitions: i32, count: i64) {
    let cluster = target.client().await;
    let remote = format!("source.{topic}");
    eventually("all records on the target", Duration::from_secs(60), || async {
        let _ = cluster.refresh_topics(std::slice::from_ref(&remote)).await;
        for p in 0..partitions {
            if cluster.list_offset(&remote, p, OffsetSpec::Latest).await.ok()? != count {
                return None;
            }
        }
        Some(())
    })
    .await;
    cluster.close().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_are_served() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let t = source_topic(source, 2, 3, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(dir.path(), &source.addr(), &target.addr(), &only(&t));
    let k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let addr = logged_metrics_addr(&k).await;

    assert_eq!(get(&addr, "/healthz").await.0, 200);
    eventually("readiness", Duration::from_secs(20), || async {
        (get(&addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    on_target(target, &t, 2, 15).await;
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
        &format!(r#"kmirror_partition_lag_records{{flow="source->target",topic="{t}",partition="1"}} 0"#),
        &format!(r#"kmirror_partition_lag_seconds{{flow="source->target",topic="{t}",partition="1"}} 0"#),
        r#"kmirror_connections_open{cluster="source"} 1"#,
        r#"kmirror_connections_open{cluster="target"} 1"#,
        "kmirror_offset_store_age_seconds",
    ];
    // Acks are settled by the partition tasks between fetches: wait until every series is in.
    let metrics = eventually("every metric series", Duration::from_secs(30), || async {
        let (status, body) = get(&addr, "/metrics").await;
        (status == 200 && names.iter().all(|n| body.contains(n))).then_some(body)
    })
    .await;
    assert!(
        metrics.contains(&format!(
            r#"kmirror_records_sent_total{{flow="source->target",topic="{t}"}} 30"#
        )),
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_keys_serve_metrics_and_aggregate_lag_per_topic() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let t = source_topic(source, 3, 1, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        &format!(
            "{}metrics.addr = 127.0.0.1:0\npartition.metrics = false\nprogress.interval.ms = 200\n",
            only(&t)
        ),
    );
    let k = Kmirror::run_with(&config, dir.path(), &[]);
    let addr = logged_metrics_addr(&k).await;
    let topic_lag = [
        format!(r#"kmirror_topic_lag_records{{flow="source->target",topic="{t}"}} 0"#),
        format!(r#"kmirror_topic_lag_seconds{{flow="source->target",topic="{t}"}} 0"#),
    ];
    on_target(target, &t, 3, 4).await;
    let metrics = eventually("lag 0 per topic", Duration::from_secs(30), || async {
        let (status, body) = get(&addr, "/metrics").await;
        (status == 200 && topic_lag.iter().all(|n| body.contains(n))).then_some(body)
    })
    .await;
    assert!(!metrics.contains("partition=\""), "{metrics}");
    assert!(!metrics.contains("kmirror_partition_lag"), "{metrics}");
    k.stop_cleanly().await;
}
