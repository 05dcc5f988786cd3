//! Connection limits real brokers impose, under a continuous stream, on Apache Kafka:
//!
//! - SASL sessions with an end (KIP-368, `connections.max.reauth.ms`): kmirror opens a freshly
//!   authenticated connection before the session ends and lets the requests on the old one
//!   finish; over many session lifetimes, every record arrives exactly once with no partition
//!   recovery and no request timeout.
//! - Quotas (KIP-219): a produce quota on kmirror's target client id and a fetch quota on its
//!   source client id, tight enough that the broker asks for waits longer than kmirror's
//!   request timeout: kmirror holds its requests back without timing them out, replication
//!   goes on to the end exactly once, and the waits are counted.
//!
//! Source and target are the same broker (topics renamed `source.<topic>`): one JVM per test.
//! Records are read back on both sides by confluent-kafka.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::replication::caught_up;
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, mm2_properties, topic};

/// The session lifetime the broker grants, in ms.
const SESSION_MS: u64 = 3000;

/// The metrics endpoint's address as `run` logs it.
async fn metrics_addr(k: &Kmirror) -> String {
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

async fn scrape(addr: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to /metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await.unwrap();
    out
}

/// The sum of every series of `name` whose labels contain `labels` (`""`: all).
fn sum(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every partition holds the same values, in the same order, on both sides: nothing lost,
/// nothing twice.
async fn exactly_once(kafka: &Kafka, topic: &str, partitions: i32, total: usize) {
    let client = kafka.client().await;
    let mut seen = 0;
    for p in 0..partitions {
        let n = client
            .list_offset(topic, p, kmirror::cluster::OffsetSpec::Latest)
            .await
            .unwrap() as usize;
        let a = pyclient::consume(&kafka.addr(), topic, p, 0, n, 60).await;
        let b = pyclient::consume(&kafka.addr(), &format!("source.{topic}"), p, 0, n + 1, 20).await;
        let values = |v: &[PyRecord]| v.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(a.len(), n, "{topic}-{p} on the source");
        assert!(
            values(&a) == values(&b),
            "{topic}-{p}: {} records on the source, {} on the target, or different ones",
            a.len(),
            b.len()
        );
        seen += n;
    }
    assert_eq!(seen, total);
}

/// No partition had to recover from a failed produce, and no request timed out.
fn no_recovery(log: &str, metrics: &str) {
    assert!(
        !log.contains("produce failed; resuming"),
        "a partition recovered:\n{log}"
    );
    assert!(
        !log.contains("got no response within"),
        "a request timed out:\n{log}"
    );
    assert_eq!(
        sum(metrics, "kmirror_partition_recoveries_total", ""),
        0.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_sessions_that_end_are_renewed_without_losing_a_request() {
    // Every SASL listener's sessions last SESSION_MS (the broker-wide key applies to each).
    let kafka =
        Kafka::single_with(KafkaOptions::default().with(&format!("connections.max.reauth.ms={SESSION_MS}")))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let t = topic("reauth");
    pyclient::create_topic(&kafka.addr(), &t, 3).await;
    let ca_file = kafka.pki().ca_file.display().to_string();
    let side = |alias: &str| {
        format!(
            "{alias}.security.protocol = SASL_SSL\n\
             {alias}.ssl.truststore.type = PEM\n\
             {alias}.ssl.truststore.location = {ca_file}\n\
             {alias}.sasl.mechanism = SCRAM-SHA-512\n\
             {alias}.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required \
               username=\"{user}\" password=\"{password}\";\n",
            user = kafka::USER,
            password = kafka::PASSWORD,
        )
    };
    let sasl = kafka.sasl_ssl_addr();
    let config = mm2_properties(
        dir.path(),
        &sasl,
        &sasl,
        &format!(
            "source->target.topics = {t}\nemit.heartbeats.enabled = false\n{}{}",
            side("source"),
            side("target")
        ),
    );
    let mut k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let metrics = metrics_addr(&k).await;

    // About 18 s of records: six session lifetimes, on both sides at once.
    let total = 3000;
    pyclient::produce_seq(&kafka.addr(), &t, 3, "r", 0, total, 18.0).await;
    let client = kafka.client().await;
    caught_up(&client, &client, &t, 3, &mut k, Duration::from_secs(120)).await;
    let m = scrape(&metrics).await;
    no_recovery(&k.log(), &m);
    k.stop_cleanly().await;

    exactly_once(&kafka, &t, 3, total).await;
    // Sessions were renewed: each side opened connections again and again.
    for cluster in ["source", "target"] {
        let opened = sum(
            &m,
            "kmirror_connections_opened_total",
            &format!("cluster=\"{cluster}\""),
        );
        assert!(opened >= 4.0, "{cluster}: {opened} connections opened:\n{m}");
    }
}

/// Sets a client quota with Kafka's own tool.
fn quota(kafka: &Kafka, client_id: &str, config: &str) {
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka/node.sh"))
        .args([
            "java",
            "kafka.admin.ConfigCommand",
            "--bootstrap-server",
            &kafka.addr(),
            "--alter",
            "--add-config",
            config,
            "--entity-type",
            "clients",
            "--entity-name",
            client_id,
        ])
        .output()
        .expect("run ConfigCommand");
    assert!(
        out.status.success(),
        "ConfigCommand failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_throttle_kmirror_without_timeouts_or_recoveries() {
    // A two-second quota window: a burst far over the quota earns a wait of several seconds.
    let kafka = Kafka::single_with(
        KafkaOptions::default()
            .with("quota.window.num=2")
            .with("quota.window.size.seconds=1"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let t = topic("quota");
    let (fetcher, producer) = (format!("{t}-fetch"), format!("{t}-produce"));
    quota(&kafka, &producer, "producer_byte_rate=8192");
    quota(&kafka, &fetcher, "consumer_byte_rate=16384");
    pyclient::create_topic(&kafka.addr(), &t, 3).await;
    // A backlog first (one burst to throttle), then a stream while kmirror runs.
    pyclient::produce_seq(&kafka.addr(), &t, 3, "backlog", 0, 2000, 0.0).await;
    let config = mm2_properties(
        dir.path(),
        &kafka.addr(),
        &kafka.addr(),
        &format!(
            "source->target.topics = {t}\nemit.heartbeats.enabled = false\n\
             source.client.id = {fetcher}\ntarget.client.id = {producer}\n\
             source.request.timeout.ms = 2000\ntarget.request.timeout.ms = 2000\n"
        ),
    );
    let mut k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let metrics = metrics_addr(&k).await;
    pyclient::produce_seq(&kafka.addr(), &t, 3, "stream", 2000, 1000, 5.0).await;
    let client = kafka.client().await;
    caught_up(&client, &client, &t, 3, &mut k, Duration::from_secs(240)).await;
    let m = scrape(&metrics).await;
    no_recovery(&k.log(), &m);
    k.stop_cleanly().await;
    exactly_once(&kafka, &t, 3, 3000).await;

    // The broker did throttle, for longer in all than the request timeout.
    let produce = "cluster=\"target\",api=\"Produce\"";
    assert!(sum(&m, "kmirror_throttle_seconds_count", produce) > 0.0, "{m}");
    assert!(sum(&m, "kmirror_throttle_seconds_sum", produce) > 2.0, "{m}");
    let fetch = "cluster=\"source\",api=\"Fetch\"";
    assert!(sum(&m, "kmirror_throttle_seconds_count", fetch) > 0.0, "{m}");
}

/// Leaders move: every partition of a topic fails with NOT_LEADER_OR_FOLLOWER at once, and
/// each one's retry wants fresh metadata. The refreshes are shared: a handful of Metadata
/// requests, not one per partition. (The fake broker: a real one cannot fail 40 partitions on
/// demand at the same moment.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_partitions_failing_at_once_share_their_metadata_refreshes() {
    use kmirror::cluster::{Cluster, OffsetSpec};
    use kmirror::config::ClientConfig;
    use kmirror::testkit::{FakeBroker, Fault};

    const PARTITIONS: i32 = 40;
    /// `NOT_LEADER_OR_FOLLOWER`.
    const NOT_LEADER: i16 = 6;
    let broker = FakeBroker::start().await;
    broker.create_topic("storm", PARTITIONS);
    let cluster = Cluster::bootstrap("storm", &[broker.addr()], ClientConfig::default())
        .await
        .unwrap();
    let before = broker.request_count(kafka_protocol::messages::ApiKey::Metadata);
    broker.inject(Fault::Error {
        api: kafka_protocol::messages::ApiKey::ListOffsets,
        code: NOT_LEADER,
        times: PARTITIONS as usize,
    });
    let asks = (0..PARTITIONS).map(|p| {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.list_offset("storm", p, OffsetSpec::Latest).await })
    });
    for ask in asks.collect::<Vec<_>>() {
        let _ = ask.await.unwrap().expect("answered after a retry");
    }
    let refreshes = broker.request_count(kafka_protocol::messages::ApiKey::Metadata) - before;
    assert!(refreshes >= 1, "the errors asked for fresh metadata");
    assert!(
        refreshes <= 5,
        "{refreshes} Metadata requests for {PARTITIONS} failing partitions"
    );
}
