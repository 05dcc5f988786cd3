//! MM2's internal topics as kmirror writes them, between two Apache Kafka brokers, read back
//! with confluent-kafka and a decoder written in the test from the MM2 format description
//! (`support/mm2_decode.py`), not with kmirror's codec:
//! - every offset sync names a source record and the target offset of that same record
//!   (contents compared), and MM2's "+1" translation of a group that consumed everything
//!   gives the target's end;
//! - heartbeats go both ways (`heartbeats` on each cluster) and the target of
//!   `source->target` shows `source.heartbeats`, although the topic filter selects only data;
//! - with `offset-syncs.topic.location = target` the topic is on the target, named after the
//!   source, and with heartbeats disabled no heartbeat is written.
//!
//! MM2's own `HeartbeatFormatter` (connect-mirror, through `scripts/kafka/mm2-tools.sh`)
//! decodes the heartbeats as well.
//!
//! The heartbeat scenario has brokers of its own: a `heartbeats` topic on a shared source would
//! be replicated by every other test's flow (MM2 replicates heartbeats whatever the topic
//! filter). The other runs on the shared brokers under cluster aliases of its own, so its
//! internal topics are its own too.

use std::collections::BTreeMap;
use std::time::Duration;

use kmirror::cluster::{Cluster, OffsetSpec};
use serde_json::{Value, json};

use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, hex, topic};

const PARTITIONS: i32 = 3;

/// Several produce rounds per partition of `orders`, each its own batches, in different
/// codecs and sizes (one round is larger than `offset.lag.max` in the configurations below).
async fn produce_rounds(source: &Kafka, orders: &str) -> Vec<i64> {
    pyclient::create_topic(&source.addr(), orders, PARTITIONS).await;
    let mut ends = Vec::new();
    for p in 0..PARTITIONS {
        let mut n = 0;
        for (round, (codec, size)) in [("none", 7), ("gzip", 1), ("lz4", 40), ("zstd", 12)]
            .into_iter()
            .enumerate()
        {
            let records: Vec<PyRecord> = (0..size)
                .map(|i| PyRecord {
                    key: Some(hex(format!("p{p}-r{round}-k{i}").as_bytes())),
                    value: Some(hex(format!("value {i} of round {round} in {p}").as_bytes())),
                    headers: vec![("round".into(), Some(hex(&[round as u8])))],
                    timestamp: Some(1_700_000_000_000 + i64::from(n)),
                    ..PyRecord::default()
                })
                .collect();
            let _ = pyclient::produce(
                &source.addr(),
                orders,
                p,
                json!({"compression.type": codec}),
                &records,
            )
            .await;
            n += size;
        }
        ends.push(i64::from(n));
    }
    ends
}

/// Waits until every partition of `remote` on the target holds `ends` records.
async fn replicated(target: &Cluster, remote: &str, ends: &[i64], k: &mut Kmirror) {
    let topic = remote.to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = k.has_exited() {
            panic!("kmirror exited early ({status}):\n{}", k.log());
        }
        let _ = target.refresh_topics(std::slice::from_ref(&topic)).await;
        let mut got = Vec::new();
        for p in 0..PARTITIONS {
            got.push(
                target
                    .list_offset(&topic, p, OffsetSpec::Latest)
                    .await
                    .unwrap_or(-1),
            );
        }
        if got == ends {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic} at {got:?}, not {ends:?}; kmirror log:\n{}",
            k.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Offset syncs of `orders` (decoded by the test's decoder) per partition, in the order
/// written.
async fn syncs_by_partition(bootstrap: &str, topic: &str, orders: &str) -> BTreeMap<i32, Vec<(i64, i64)>> {
    let mut out: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for s in pyclient::read_mm2(bootstrap, topic, "offset-sync", 1, 30).await {
        // The replicated `heartbeats` topic has syncs too, as in MM2.
        assert!(
            s["topic"] == orders || s["topic"] == "heartbeats",
            "syncs name the source topic: {s}"
        );
        if s["topic"] != orders {
            continue;
        }
        let p = s["partition"].as_i64().unwrap() as i32;
        out.entry(p)
            .or_default()
            .push((s["upstream"].as_i64().unwrap(), s["downstream"].as_i64().unwrap()));
    }
    out
}

/// MM2's translation (`OffsetSyncStore.translateDownstream`) with every sync kept: the newest
/// sync at or before the group offset, plus one unless it is exactly there.
fn mm2_translate(syncs: &[(i64, i64)], group: i64) -> Option<i64> {
    let (u, d) = syncs.iter().rev().find(|(u, _)| *u <= group)?;
    Some(d + i64::from(*u != group))
}

/// Checks the syncs of every partition (in topic `syncs_topic` on `holder`) against the
/// records on both sides, once the sync of each partition's last record has been written (it
/// is delayed, then promoted).
async fn check_syncs(run: &Run<'_>, holder: &Kafka, syncs_topic: &str) {
    let (orders, ends) = (&run.orders, &run.ends);
    let syncs = eventually(
        "the last record of every partition to be synced",
        Duration::from_secs(60),
        || async {
            let syncs = syncs_by_partition(&holder.addr(), syncs_topic, orders).await;
            let complete = (0..PARTITIONS).all(|p| {
                let end = ends[p as usize];
                syncs.get(&p).is_some_and(|s| s.contains(&(end - 1, end - 1)))
            });
            complete.then_some(syncs)
        },
    )
    .await;
    let strip = |r: &PyRecord| (r.key.clone(), r.value.clone(), r.headers.clone(), r.timestamp);
    for p in 0..PARTITIONS {
        let end = ends[p as usize];
        let n = end as usize;
        let a = pyclient::consume(&run.source.addr(), orders, p, 0, n, 60).await;
        let b = pyclient::consume(&run.target.addr(), &run.remote, p, 0, n, 60).await;
        assert_eq!((a.len(), b.len()), (n, n), "{orders}-{p}");
        let at = |records: &[PyRecord], o: i64| records.iter().find(|r| r.offset == o).map(strip);
        let syncs = &syncs[&p];
        assert!(
            syncs.contains(&(0, 0)),
            "{orders}-{p}: the first batch is synced: {syncs:?}"
        );
        for &(u, d) in syncs {
            let (x, y) = (at(&a, u), at(&b, d));
            assert!(
                x.is_some() && x == y,
                "{orders}-{p}: sync {u}->{d} pairs different records"
            );
        }
        // A group that consumed everything translates exactly to the target's end.
        assert_eq!(mm2_translate(syncs, end), Some(end), "{orders}-{p}: {syncs:?}");
        // Syncs also inside the 40-record round (offset.lag.max = 10).
        assert!(syncs.len() >= 8, "{orders}-{p}: {syncs:?}");
    }
}

/// Heartbeat records of a topic, decoded by the test's decoder: (source, target) pairs, each
/// record's value timestamp equal to its record timestamp.
async fn heartbeats(bootstrap: &str, topic: &str, min_records: usize) -> Vec<(String, String)> {
    let records: Vec<Value> = pyclient::read_mm2(bootstrap, topic, "heartbeat", min_records, 30).await;
    assert!(records.len() >= min_records, "{topic}: {records:?}");
    records
        .iter()
        .map(|h| {
            assert_eq!(h["heartbeat_timestamp"], h["timestamp"], "{topic}: {h}");
            (
                h["source"].as_str().unwrap().to_owned(),
                h["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Two brokers, the produce rounds on the source, and kmirror running `<source>-><target>`
/// with `extra` settings until the remote `orders` topic has caught up.
struct Run<'a> {
    source: &'a Kafka,
    target: &'a Kafka,
    /// The source topic and its name on the target.
    orders: String,
    remote: String,
    ends: Vec<i64>,
    kmirror: Kmirror,
    _dir: tempfile::TempDir,
}

async fn replicate_with<'a>(
    source: &'a Kafka,
    target: &'a Kafka,
    aliases: (&str, &str),
    extra: &str,
) -> Run<'a> {
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("mm2");
    let orders = format!("{prefix}.orders");
    let ends = produce_rounds(source, &orders).await;
    let (s, t) = aliases;
    let config = dir.path().join("mm2.properties");
    std::fs::write(
        &config,
        format!(
            "clusters = {s}, {t}\n\
             {s}.bootstrap.servers = {}\n\
             {t}.bootstrap.servers = {}\n\
             {s}->{t}.enabled = true\n\
             {s}->{t}.topics = {prefix}.*\n\
             refresh.topics.interval.seconds = 1\n\
             {extra}\n",
            source.addr(),
            target.addr()
        ),
    )
    .unwrap();
    let mut kmirror = Kmirror::run(&config, dir.path());
    let remote = format!("{s}.{orders}");
    replicated(&*target.client().await, &remote, &ends, &mut kmirror).await;
    Run {
        source,
        target,
        orders,
        remote,
        ends,
        kmirror,
        _dir: dir,
    }
}

/// Asserts that every heartbeat of `topic` on `broker` is for the pair (source, target).
async fn heartbeats_only_from(broker: &Kafka, topic: &str, pair: (&str, &str)) {
    let found = heartbeats(&broker.addr(), topic, 2).await;
    let want = (pair.0.to_owned(), pair.1.to_owned());
    assert!(found.iter().all(|p| *p == want), "{topic}: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_syncs_are_exact_and_heartbeats_flow_as_in_mm2() {
    let (source, target) = tokio::join!(Kafka::single(), Kafka::single());
    let run = replicate_with(&source, &target, ("source", "target"), "offset.lag.max = 10").await;
    check_syncs(&run, &source, "mm2-offset-syncs.target.internal").await;

    // Herder source->target writes to the target, herder target->source to the source.
    heartbeats_only_from(&target, "heartbeats", ("source", "target")).await;
    heartbeats_only_from(&source, "heartbeats", ("target", "source")).await;
    // The source's heartbeats reach the target as `source.heartbeats` (the topic filter
    // selects only the test's own topics).
    heartbeats_only_from(&target, "source.heartbeats", ("target", "source")).await;
    // MM2's own HeartbeatFormatter decodes them too.
    let lines =
        crate::support::mm2::tools(&["format", &target.addr(), "heartbeats", "heartbeat", "2", "30000"])
            .await;
    assert_eq!(lines.lines().count(), 2, "{lines}");
    for line in lines.lines() {
        assert!(
            line.starts_with("Heartbeat{")
                && line.contains("sourceClusterAlias=source")
                && line.contains("targetClusterAlias=target"),
            "HeartbeatFormatter: {line}"
        );
    }
    run.kmirror.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_syncs_on_the_target_are_named_after_the_source() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let (s, t) = (topic("east"), topic("west"));
    let run = replicate_with(
        source,
        target,
        (&s, &t),
        "offset-syncs.topic.location = target\noffset.lag.max = 10\nemit.heartbeats.enabled = false",
    )
    .await;
    check_syncs(&run, target, &format!("mm2-offset-syncs.{s}.internal")).await;
    let (src, dst) = (source.client().await, target.client().await);
    let (on_source, on_target) = (
        src.refresh_metadata().await.unwrap(),
        dst.refresh_metadata().await.unwrap(),
    );
    for (side, meta, broker) in [("source", &on_source, source), ("target", &on_target, target)] {
        let named_after_target = format!("mm2-offset-syncs.{t}.internal");
        assert!(
            !meta.topics.contains_key(&named_after_target),
            "{side} has {named_after_target}"
        );
        // Other tests' flows may have made a `heartbeats` topic on a shared broker: none of
        // its records is from these two clusters.
        if meta.topics.contains_key("heartbeats") {
            let ours: Vec<_> = heartbeats(&broker.addr(), "heartbeats", 1)
                .await
                .into_iter()
                .filter(|(a, b)| [a, b].iter().any(|alias| **alias == s || **alias == t))
                .collect();
            assert!(ours.is_empty(), "{side}: heartbeats {ours:?}");
        }
    }
    run.kmirror.stop_cleanly().await;
}
