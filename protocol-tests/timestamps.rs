//! Timestamps between two Apache Kafka brokers, checked with confluent-kafka: what a
//! LogAppendTime source topic's records carry on a CreateTime target (`log.append.time.timestamps`),
//! a target whose default is LogAppendTime, and records whose timestamps the target refuses:
//! that partition stops alone (log, metrics, `kmirror status`, `/readyz`), resumes once the cause
//! is fixed and kmirror restarted, or stops the process with `partition.failure = stop-process`.
//!
//! librdkafka reports a record's timestamp type as 1 (CreateTime) or 2 (LogAppendTime).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kmirror::cluster::Cluster;
use serde_json::json;

use crate::observe::{get, logged_metrics_addr};
use crate::replication::{caught_up, ends, same_records};
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{assert_same_batches, eventually, hex, mm2_properties, raw_batches, topic};

const CREATE_TIME: i32 = 1;
const LOG_APPEND_TIME: i32 = 2;
/// Two hours, past the one hour `message.timestamp.after.max.ms` allows by default (4.x).
const TWO_HOURS_MS: i64 = 2 * 3600 * 1000;
/// Three hours: what the source allows.
const THREE_HOURS_MS: &str = "10800000";
const CODECS: [&str; 3] = ["none", "lz4", "zstd"];

fn write_config(dir: &Path, source: &Kafka, target: &Kafka, prefix: &str, extra: &str) -> PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n{extra}"),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The log without terminal colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Records with the producers' own timestamps (2023), keys, values and headers.
fn produced(partition: i32, n: usize, base_timestamp: i64) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            key: Some(hex(format!("p{partition}-k{i}").as_bytes())),
            value: (i % 7 != 3).then(|| hex(format!("value {i} of {partition}").as_bytes())),
            headers: if i % 2 == 0 {
                vec![("h".into(), Some(hex(b"1"))), ("h".into(), None)]
            } else {
                vec![]
            },
            timestamp: Some(base_timestamp + i as i64),
            ..PyRecord::default()
        })
        .collect()
}

/// A topic of `CODECS.len()` partitions with `message.timestamp.type=LogAppendTime`, 30 records
/// per partition in batches of 10, one codec per partition. Returns what the producers sent.
async fn log_append_time_topic(source: &Kafka, topic: &str) -> Vec<Vec<PyRecord>> {
    pyclient::create_topic_with(
        &source.addr(),
        topic,
        CODECS.len() as i32,
        json!({"message.timestamp.type": "LogAppendTime"}),
    )
    .await;
    let mut all = Vec::new();
    for (p, codec) in CODECS.iter().enumerate() {
        let records = produced(p as i32, 30, 1_700_000_000_000 + p as i64 * 1000);
        let _ = pyclient::produce_with(
            &source.addr(),
            topic,
            p as i32,
            json!({"compression.type": codec, "batch.num.messages": 10, "linger.ms": 1000}),
            &records,
            true,
        )
        .await;
        all.push(records);
    }
    all
}

/// Key, value and headers of a record, as hex.
type Contents = (Option<String>, Option<String>, Vec<(String, Option<String>)>);

fn contents(r: &PyRecord) -> Contents {
    (r.key.clone(), r.value.clone(), r.headers.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_append_time_source_gives_the_target_its_append_times_by_default() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("lat-append");
    let lat = format!("{prefix}.lat");
    let sent = log_append_time_topic(source, &lat).await;
    let (src, dst) = (source.client().await, target.client().await);
    let config = write_config(dir.path(), source, target, &prefix, "");
    let mut k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let addr = logged_metrics_addr(&k).await;
    caught_up(
        &src,
        &dst,
        &lat,
        CODECS.len() as i32,
        &mut k,
        Duration::from_secs(120),
    )
    .await;

    let mut source_batches = 0;
    for p in 0..CODECS.len() as i32 {
        let a = pyclient::consume(&source.addr(), &lat, p, 0, 30, 60).await;
        let b = pyclient::consume(&target.addr(), &format!("source.{lat}"), p, 0, 30, 60).await;
        assert_eq!((a.len(), b.len()), (30, 30), "{lat}-{p}");
        for (i, ((a, b), s)) in a.iter().zip(&b).zip(&sent[p as usize]).enumerate() {
            assert_eq!(
                a.timestamp_type, LOG_APPEND_TIME,
                "{lat}-{p} record {i} on the source"
            );
            assert_ne!(a.timestamp, s.timestamp, "the source reads its append time");
            assert_eq!(
                b.timestamp_type, CREATE_TIME,
                "{lat}-{p} record {i} on the target"
            );
            assert_eq!(
                b.timestamp, a.timestamp,
                "{lat}-{p} record {i}: the source's append time"
            );
            assert_eq!(contents(b), contents(a), "{lat}-{p} record {i}");
        }
        // One target batch per source batch, same codec, CreateTime, every timestamp field the
        // append time.
        let from = raw_batches(&src, &lat, p, 0).await;
        let to = raw_batches(&dst, &format!("source.{lat}"), p, 0).await;
        assert_eq!(from.len(), to.len(), "{lat}-{p}: batch counts");
        for (s, t) in from.iter().zip(&to) {
            assert!(s.is_log_append_time() && !t.is_log_append_time());
            assert_eq!(
                (s.compression(), s.record_count()),
                (t.compression(), t.record_count())
            );
            assert_eq!(
                (t.base_timestamp(), t.max_timestamp()),
                (s.max_timestamp(), s.max_timestamp())
            );
        }
        source_batches += from.len();
    }
    assert!(source_batches >= 9, "30 records in batches of 10 per partition");
    let reshaped = format!(
        r#"kmirror_batches_reshaped_total{{flow="source->target",topic="{lat}",reason="append_time"}} {source_batches}"#
    );
    let (_, metrics) = get(&addr, "/metrics").await;
    assert!(metrics.contains(&reshaped), "{reshaped} not in\n{metrics}");
    k.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_time_keeps_a_log_append_time_sources_records_byte_for_byte() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("lat-producer");
    let lat = format!("{prefix}.lat");
    let sent = log_append_time_topic(source, &lat).await;
    let (src, dst) = (source.client().await, target.client().await);
    let config = write_config(
        dir.path(),
        source,
        target,
        &prefix,
        "log.append.time.timestamps = producer-time",
    );
    let mut k = Kmirror::run(&config, dir.path());
    caught_up(
        &src,
        &dst,
        &lat,
        CODECS.len() as i32,
        &mut k,
        Duration::from_secs(120),
    )
    .await;
    k.stop_cleanly().await;
    for p in 0..CODECS.len() as i32 {
        let b = pyclient::consume(&target.addr(), &format!("source.{lat}"), p, 0, 30, 60).await;
        assert_eq!(b.len(), 30);
        for (i, (b, s)) in b.iter().zip(&sent[p as usize]).enumerate() {
            assert_eq!(b.timestamp_type, CREATE_TIME, "{lat}-{p} record {i}");
            assert_eq!(
                b.timestamp, s.timestamp,
                "{lat}-{p} record {i}: the producer's timestamp"
            );
            assert_eq!(contents(b), contents(s), "{lat}-{p} record {i}");
        }
        let n = assert_same_batches(&src, &lat, &dst, &format!("source.{lat}"), p).await;
        assert!(n >= 3, "{n} batches compared");
        assert!(
            raw_batches(&dst, &format!("source.{lat}"), p, 0)
                .await
                .iter()
                .all(|b| !b.is_log_append_time())
        );
    }
}

/// A target broker whose default `log.message.timestamp.type` is LogAppendTime: target topics
/// kmirror creates are LogAppendTime (the source's `message.timestamp.type` is not copied), no
/// batch is refused whatever the source's timestamp type and the setting, and the target
/// stamps its own append time on every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_append_time_target_accepts_everything_and_stamps_its_own_time() {
    let source = kafka::shared_source().await;
    let target =
        Kafka::single_with(KafkaOptions::default().with("log.message.timestamp.type=LogAppendTime")).await;
    let (src, dst) = (source.client().await, target.client().await);
    for setting in ["append-time", "producer-time"] {
        let dir = tempfile::tempdir().unwrap();
        let prefix = topic(&format!("to-lat-{setting}"));
        let lat = format!("{prefix}.lat");
        let create = format!("{prefix}.create");
        let _ = log_append_time_topic(source, &lat).await;
        pyclient::create_topic(&source.addr(), &create, 1).await;
        let sent = produced(0, 30, 1_700_000_000_000);
        let _ = pyclient::produce(
            &source.addr(),
            &create,
            0,
            json!({"compression.type": "lz4"}),
            &sent,
        )
        .await;
        let started = now_ms();
        let config = write_config(
            dir.path(),
            source,
            &target,
            &prefix,
            &format!("log.append.time.timestamps = {setting}"),
        );
        let mut k = Kmirror::run(&config, dir.path());
        caught_up(
            &src,
            &dst,
            &lat,
            CODECS.len() as i32,
            &mut k,
            Duration::from_secs(120),
        )
        .await;
        caught_up(&src, &dst, &create, 1, &mut k, Duration::from_secs(60)).await;
        let log = plain(&k.log());
        k.stop_cleanly().await;
        assert!(!log.contains("partition stopped"), "{setting}: {log}");
        for (t, partitions) in [(&lat, CODECS.len() as i32), (&create, 1)] {
            for p in 0..partitions {
                let a = pyclient::consume(&source.addr(), t, p, 0, 30, 60).await;
                let b = pyclient::consume(&target.addr(), &format!("source.{t}"), p, 0, 30, 60).await;
                assert_eq!(b.len(), 30, "{setting}: {t}-{p}");
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(b.timestamp_type, LOG_APPEND_TIME, "{setting}: {t}-{p} record {i}");
                    assert!(
                        b.timestamp.is_some_and(|ts| ts >= started),
                        "{setting}: {t}-{p} record {i}: the target's own append time, got {:?}",
                        b.timestamp
                    );
                    assert_eq!(contents(b), contents(a), "{setting}: {t}-{p} record {i}");
                }
            }
        }
    }
}

/// Waits until the target's end offsets of `topic` are `want` (kmirror must keep running).
async fn target_at(target: &Cluster, topic: &str, want: &[i64], k: &mut Kmirror) {
    let target_topic = format!("source.{topic}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut got = Vec::new();
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = k.has_exited() {
            panic!("kmirror exited ({status}):\n{}", k.log());
        }
        let _ = target.refresh_topics(std::slice::from_ref(&target_topic)).await;
        got = ends(target, &target_topic, want.len() as i32).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{target_topic} did not reach {want:?} (at {got:?}); kmirror log:\n{}",
        k.log()
    );
}

/// Sets a topic config with confluent-kafka's admin client.
async fn alter_topic_config(bootstrap: &str, topic: &str, key: &str, value: &str) {
    const SCRIPT: &str = r#"
import json, sys
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
req = json.load(sys.stdin)
admin = AdminClient({"bootstrap.servers": req["bootstrap"]})
entry = ConfigEntry(req["key"], req["value"], incremental_operation=AlterConfigOpType.SET)
resource = ConfigResource("topic", req["topic"], incremental_configs=[entry])
for f in admin.incremental_alter_configs([resource]).values():
    f.result(timeout=30)
print(json.dumps({"altered": req["topic"]}))
"#;
    let _ = pyclient::run_inline(
        SCRIPT,
        json!({"bootstrap": bootstrap, "topic": topic, "key": key, "value": value}),
    )
    .await;
}

/// Records one millisecond apart from `from`, no key.
fn stamped(prefix: &str, n: usize, from: i64) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            value: Some(hex(format!("{prefix}-{i}").as_bytes())),
            timestamp: Some(from + i as i64),
            ..PyRecord::default()
        })
        .collect()
}

/// The source topic allows records two hours ahead (`message.timestamp.after.max.ms` raised on
/// the topic), config sync is off, so the target topic keeps the target's one hour: the target
/// refuses them with INVALID_TIMESTAMP. That partition stops alone, reported everywhere, while
/// another partition and another topic of the flow go on to the end; after the target topic is
/// fixed and kmirror restarted, the partition resumes from its offsets, nothing lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_the_target_refuses_stops_alone_and_resumes_after_the_fix() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("refused");
    let future = format!("{prefix}.future");
    let other = format!("{prefix}.other");
    pyclient::create_topic_with(
        &source.addr(),
        &future,
        2,
        json!({"message.timestamp.after.max.ms": THREE_HOURS_MS}),
    )
    .await;
    pyclient::create_topic(&source.addr(), &other, 1).await;
    let now = now_ms();
    // future-0: 20 records, 5 two hours ahead, 10 more; each call its own producer and batch.
    for (records, from) in [(20, now), (5, now + TWO_HOURS_MS), (10, now)] {
        let _ = pyclient::produce(
            &source.addr(),
            &future,
            0,
            json!({}),
            &stamped("f0", records, from),
        )
        .await;
    }
    let _ = pyclient::produce(&source.addr(), &future, 1, json!({}), &stamped("f1", 30, now)).await;
    let _ = pyclient::produce(&source.addr(), &other, 0, json!({}), &stamped("o", 30, now)).await;

    let (src, dst) = (source.client().await, target.client().await);
    let config = write_config(
        dir.path(),
        source,
        target,
        &prefix,
        "sync.topic.configs.enabled = false",
    );
    let mut k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let addr = logged_metrics_addr(&k).await;
    target_at(&dst, &other, &[30], &mut k).await;
    target_at(&dst, &future, &[20, 30], &mut k).await;

    // The log names flow, topic, partition and offset.
    let line = eventually("the stop in the log", Duration::from_secs(60), || async {
        plain(&k.log())
            .lines()
            .find(|l| l.contains("partition stopped"))
            .map(str::to_owned)
    })
    .await;
    for field in [
        "ERROR".to_owned(),
        "flow=source->target".to_owned(),
        format!("topic={future}"),
        "partition=0".to_owned(),
        "offset=20".to_owned(),
        "reason=\"target_refused\"".to_owned(),
        "INVALID_TIMESTAMP".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} not in: {line}");
    }
    // Metrics.
    let series = [
        format!(
            r#"kmirror_partition_stopped{{flow="source->target",topic="{future}",partition="0",reason="target_refused"}} 1"#
        ),
        format!(
            r#"kmirror_partition_stopped_offset{{flow="source->target",topic="{future}",partition="0"}} 20"#
        ),
    ];
    let (_, metrics) = get(&addr, "/metrics").await;
    for s in &series {
        assert!(metrics.contains(s), "{s} not in\n{metrics}");
    }
    assert!(!metrics.contains(&format!(
        r#"kmirror_partition_stopped{{flow="source->target",topic="{other}""#
    )));
    // Readiness names it; liveness is unaffected.
    assert_eq!(get(&addr, "/healthz").await.0, 200);
    let (status, ready) = get(&addr, "/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready.contains(&format!(
            "source->target {future}-0 at source offset 20 (target_refused)"
        )),
        "{ready}"
    );
    // `kmirror status`: one partition of three stopped, listed with its offset.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["status", "--metrics-addr", &addr, "--interval-ms", "200"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("source->target"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[1..4],
        &["2", "3", "1"],
        "topics, partitions, stopped:\n{table}"
    );
    assert!(
        table.contains(&format!(
            "  source->target {future}-0 at source offset 20: target_refused"
        )),
        "{table}"
    );

    // The rest of the flow keeps replicating to the end.
    let _ = pyclient::produce(
        &source.addr(),
        &future,
        1,
        json!({}),
        &stamped("f1b", 20, now_ms()),
    )
    .await;
    let _ = pyclient::produce(&source.addr(), &other, 0, json!({}), &stamped("ob", 20, now_ms())).await;
    target_at(&dst, &other, &[50], &mut k).await;
    target_at(&dst, &future, &[20, 50], &mut k).await;
    k.stop_cleanly().await;
    same_records(source, target, &other, 1, &[50]).await;

    // The operator's fix: the target topic accepts what the source does; then a restart.
    alter_topic_config(
        &target.addr(),
        &format!("source.{future}"),
        "message.timestamp.after.max.ms",
        THREE_HOURS_MS,
    )
    .await;
    let mut k = Kmirror::run(&config, dir.path());
    caught_up(&src, &dst, &future, 2, &mut k, Duration::from_secs(120)).await;
    let log = plain(&k.log());
    k.stop_cleanly().await;
    assert!(!log.contains("partition stopped"), "{log}");
    same_records(source, target, &future, 2, &[35, 50]).await;
}

/// With `partition.failure = stop-process` a refused batch stops every flow: the process exits
/// non-zero with the error. The source broker's default allows records two hours ahead
/// (`log.message.timestamp.after.max.ms`), which config sync cannot carry: only a topic's own
/// overrides are copied, so the target topic keeps the target's one hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stop_process_a_refused_batch_stops_the_process() {
    let source = Kafka::single_with(
        KafkaOptions::default().with(&format!("log.message.timestamp.after.max.ms={THREE_HOURS_MS}")),
    )
    .await;
    let target = kafka::shared_target().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("stop-process");
    let future = format!("{prefix}.future");
    pyclient::create_topic(&source.addr(), &future, 1).await;
    let _ = pyclient::produce(
        &source.addr(),
        &future,
        0,
        json!({}),
        &stamped("f", 5, now_ms() + TWO_HOURS_MS),
    )
    .await;
    let config = write_config(
        dir.path(),
        &source,
        target,
        &prefix,
        "partition.failure = stop-process",
    );
    let mut k = Kmirror::run(&config, dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = k.has_exited() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kmirror did not stop by itself:\n{}",
            k.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = plain(&k.log());
    assert!(!status.success(), "{status}: {log}");
    assert!(
        log.contains("stopping every flow (partition_failure = stop-process)"),
        "{log}"
    );
    assert!(
        log.contains("INVALID_TIMESTAMP") && log.contains(&future),
        "{log}"
    );
    let dst = target.client().await;
    let configs = dst
        .describe_topic_config(&format!("source.{future}"))
        .await
        .unwrap();
    let after = configs
        .iter()
        .find(|e| e.name == "message.timestamp.after.max.ms")
        .expect("described");
    assert!(
        !after.is_topic_override && after.value.as_deref() == Some("3600000"),
        "the source broker's default is not copied: {after:?}"
    );
}

/// A source topic's own `message.timestamp.after.max.ms` is copied to the target topic kmirror
/// creates (only `message.timestamp.difference.max.ms` and `message.timestamp.type` of the
/// timestamp settings are on MM2's exclude list), so records two hours ahead go through with
/// their timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_after_max_ms_lets_the_future_records_through() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("copied");
    let future = format!("{prefix}.future");
    pyclient::create_topic_with(
        &source.addr(),
        &future,
        1,
        json!({"message.timestamp.after.max.ms": THREE_HOURS_MS}),
    )
    .await;
    let sent = stamped("f", 10, now_ms() + TWO_HOURS_MS);
    let _ = pyclient::produce(&source.addr(), &future, 0, json!({}), &sent).await;
    let (src, dst) = (source.client().await, target.client().await);
    let mut k = Kmirror::run(&write_config(dir.path(), source, target, &prefix, ""), dir.path());
    caught_up(&src, &dst, &future, 1, &mut k, Duration::from_secs(120)).await;
    k.stop_cleanly().await;
    let configs = dst
        .describe_topic_config(&format!("source.{future}"))
        .await
        .unwrap();
    let after = configs
        .iter()
        .find(|e| e.name == "message.timestamp.after.max.ms")
        .expect("described");
    assert!(
        after.is_topic_override && after.value.as_deref() == Some(THREE_HOURS_MS),
        "{after:?}"
    );
    let got = pyclient::consume(&target.addr(), &format!("source.{future}"), 0, 0, 10, 60).await;
    let timestamps: Vec<_> = got.iter().map(|r| (r.timestamp_type, r.timestamp)).collect();
    let want: Vec<_> = sent.iter().map(|r| (CREATE_TIME, r.timestamp)).collect();
    assert_eq!(timestamps, want);
}
