//! Faults of the source: the leader of its busiest partitions killed and restarted (three-node
//! source cluster, RF=3, `min.insync.replicas=2`), a replicated topic deleted and created again
//! under the same name, and retention deleting records kmirror had not replicated yet. The
//! last two cannot end with every record on the target: what they must show is that kmirror
//! stops the partition with an error naming cluster, topic and partition, and that nothing of
//! the new data is mixed into the old.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Run, Setup, exclusive, report_detected, scaled};
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::stream::Spec;
use crate::support::{eventually, mm2_properties, topic};
use kmirror::cluster::{Cluster, OffsetSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_leader_killed_and_restarted() {
    let _one = exclusive().await;
    let mut source = Kafka::cluster(KafkaOptions::default()).await;
    // The target is the kit's shared broker: this scenario is about the source, and a second
    // three-node cluster would put six brokers on two cores.
    let target = kafka::shared_target().await;
    let mut run = Run::start(
        "source leader killed",
        Setup::new(&source, target),
        Spec::default(),
        Duration::from_secs(8),
    )
    .await;
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for p in pyclient::describe_topic(&source.addr(), &run.source_topic).await {
        *led.entry(p.leader).or_default() += 1;
    }
    let (&leader, &partitions) = led.iter().max_by_key(|(_, n)| **n).expect("leaders");
    let down = scaled(Duration::from_secs(10), Duration::from_secs(30));

    let began = Instant::now();
    let i = source.index_of(leader);
    source.kill(i);
    run.sleep(down).await;
    source.start_node(i).await;
    let fault = run
        .fault_ended(
            format!(
                "source node {leader}, leader of {partitions} of 4 partitions, SIGKILL, restarted on its log dirs after {} s",
                down.as_secs()
            ),
            began,
        )
        .await;
    let _ = run.finish(fault, Duration::from_secs(15)).await;
}

/// `count` records of `size` bytes each, values `<prefix>-<i>` padded.
fn records(prefix: &str, count: usize, size: usize) -> Vec<PyRecord> {
    (0..count)
        .map(|i| {
            let mut value = format!("{prefix}-{i}-").into_bytes();
            value.resize(size.max(value.len()), b'x');
            PyRecord {
                key: Some(crate::support::hex(format!("{i}").as_bytes())),
                value: Some(crate::support::hex(&value)),
                ..PyRecord::default()
            }
        })
        .collect()
}

async fn latest(cluster: &Cluster, topic: &str, partition: i32) -> i64 {
    let _ = cluster.refresh_topics(&[topic.to_owned()]).await;
    cluster
        .list_offset(topic, partition, OffsetSpec::Latest)
        .await
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_topic_deleted_and_created_again() {
    let _one = exclusive().await;
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dst = target.client().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = topic("fault-recreated");
    let t = format!("{prefix}.orders");
    let tt = format!("source.{t}");
    pyclient::create_topic(&source.addr(), &t, 2).await;
    for p in 0..2 {
        let _ = pyclient::produce(&source.addr(), &t, p, json!({}), &records("old", 200, 100)).await;
    }
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\nheartbeats.replication.enabled = false\n"
        ),
    );
    let mut kmirror = Kmirror::run(&config, dir.path());
    for p in 0..2 {
        eventually("the old topic replicated", Duration::from_secs(60), || async {
            (latest(&dst, &tt, p).await == 200).then_some(())
        })
        .await;
    }

    // The new topic gets more records than the old one had: fetching at the old position
    // would succeed, and only its id tells that these are other records.
    pyclient::delete_topic(&source.addr(), &t).await;
    pyclient::create_topic(&source.addr(), &t, 2).await;
    for p in 0..2 {
        let _ = pyclient::produce(&source.addr(), &t, p, json!({}), &records("new", 500, 100)).await;
    }
    let expected: Vec<String> = (0..2)
        .map(|p| format!("{t}-{p} -> {tt}-{p}: source cluster source deleted topic {t} and created it again"))
        .collect();
    let log = eventually(
        "kmirror reporting the topic created again",
        Duration::from_secs(60),
        || {
            let log = kmirror.log();
            let found = expected.iter().all(|e| log.contains(e));
            async move { found.then_some(log) }
        },
    )
    .await;
    assert!(kmirror.has_exited().is_none(), "kmirror exited:\n{log}");
    let detail = log
        .lines()
        .find(|l| l.contains("created it again"))
        .unwrap_or_default();
    // Nothing of the new topic reached the target.
    for p in 0..2 {
        assert_eq!(latest(&dst, &tt, p).await, 200, "partition {p}:\n{log}");
        let held = pyclient::consume(&target.addr(), &tt, p, 0, 200, 30).await;
        assert!(
            held.iter().all(|r| r
                .value
                .as_deref()
                .is_some_and(|v| v.starts_with(&crate::support::hex(b"old-")))),
            "partition {p} holds records of the new topic"
        );
    }
    report_detected(
        "source topic deleted and created again",
        2 * (200 + 500),
        "SourceTopicRecreated (topic id changed), target kept the old topic's 2 x 200 records only",
        detail,
    );
    kmirror.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_retention_deletes_what_was_not_replicated() {
    let _one = exclusive().await;
    // Retention checked every second rather than every five minutes.
    let source =
        Kafka::single_with(KafkaOptions::default().with("log.retention.check.interval.ms=1000")).await;
    let target = kafka::shared_target().await;
    let (src, dst) = (source.client().await, target.client().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = topic("fault-retention");
    let t = format!("{prefix}.events");
    let tt = format!("source.{t}");
    pyclient::create_topic_with(
        &source.addr(),
        &t,
        1,
        json!({"segment.bytes": "1048576", "retention.bytes": "1048576"}),
    )
    .await;
    let _ = pyclient::produce(&source.addr(), &t, 0, json!({}), &records("kept", 100, 100)).await;
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\nheartbeats.replication.enabled = false\n"
        ),
    );
    let kmirror = Kmirror::run(&config, dir.path());
    eventually(
        "the first records replicated",
        Duration::from_secs(60),
        || async { (latest(&dst, &tt, 0).await == 100).then_some(()) },
    )
    .await;
    kmirror.stop_cleanly().await;

    // While kmirror is stopped, 3 MB more: segments roll at 1 MiB and retention deletes the
    // oldest, the 100 replicated records and some that were not.
    for _ in 0..3 {
        let _ = pyclient::produce(&source.addr(), &t, 0, json!({}), &records("gone", 1000, 1000)).await;
    }
    let log_start = eventually(
        "retention deleting past offset 100",
        Duration::from_secs(60),
        || async {
            let start = src.list_offset(&t, 0, OffsetSpec::Earliest).await.unwrap_or(0);
            (start > 100).then_some(start)
        },
    )
    .await;

    let mut kmirror = Kmirror::run(&config, dir.path());
    let expected =
        format!("{t}-0 -> {tt}-0: source offset 100 is no longer on the source (deleted by retention");
    let log = eventually(
        "kmirror reporting the lost records",
        Duration::from_secs(60),
        || {
            let log = kmirror.log();
            let found = log.contains(&expected);
            async move { found.then_some(log) }
        },
    )
    .await;
    assert!(kmirror.has_exited().is_none(), "kmirror exited:\n{log}");
    assert_eq!(
        latest(&dst, &tt, 0).await,
        100,
        "the target got records past the gap:\n{log}"
    );
    report_detected(
        "source retention past kmirror's position",
        3100,
        &format!(
            "SourceDataLost at offset 100 (source log start {log_start}), target kept offsets 0..100 only"
        ),
        log.lines()
            .find(|l| l.contains("no longer on the source"))
            .unwrap_or_default(),
    );
    kmirror.stop_cleanly().await;
}
