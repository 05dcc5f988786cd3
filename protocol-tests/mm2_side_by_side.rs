//! kmirror next to MirrorMaker 2 itself (4.3.1, dedicated mode, from the installed jars):
//!
//! - MM2's client library reads kmirror's output: `RemoteClusterUtils.translateOffsets` on
//!   kmirror's checkpoints gives exactly the offsets `kmirror offsets translate` prints, for a
//!   group committed at batch boundaries, inside batches, at the head and at 0; MM2's
//!   `CheckpointFormatter` and `OffsetSyncFormatter` decode kmirror's records (the heartbeat
//!   formatter is in `mm2_topics`, which has brokers of its own for heartbeats).
//! - One `mm2.properties` drives both: MM2 and `kmirror run` on the same file (only the
//!   target's address differs: each writes to a target of its own) create the same target
//!   topics from the same topic filter, excludes and replication policy, copy the same records,
//!   and name the checkpoints topic alike.
//! - Taking over a running MM2: MM2 replicates part of a continuous stream and is killed with
//!   SIGKILL, `kmirror takeover --from-mm2` starts kmirror where MM2 left each partition, and the
//!   target ends with every source record exactly once, in order (confluent-kafka reads both).
//!
//! MM2 starts in about 10 s on two cores; the two tests that run it have a target broker of
//! their own (MM2's Connect topics and worker group would be shared otherwise) and the shared
//! source, with topics of their own and heartbeats off (kmirror writes reverse heartbeats to
//! the source, which every other test's flow would then replicate).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kmirror::cluster::{Cluster, OffsetSpec};
use serde_json::json;

use crate::replication::{caught_up, ends};
use crate::support::kafka::{self, Kafka};
use crate::support::kmirror::Kmirror;
use crate::support::mm2::{self, Mm2};
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, hex, mm2_properties, topic};

/// Runs the kmirror binary with `args` in `dir`; returns (success, stdout + stderr).
fn kmirror_cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run kmirror");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Records of one partition, in batches of 7 (`batch.num.messages`), lz4.
fn records(partition: i32, n: i64) -> Vec<PyRecord> {
    (0..n)
        .map(|i| PyRecord {
            key: Some(hex(format!("k{partition}-{i}").as_bytes())),
            value: Some(hex(format!("value {i} of partition {partition}").as_bytes())),
            timestamp: Some(1_700_000_000_000 + i),
            ..PyRecord::default()
        })
        .collect()
}

/// `topic partition offset` lines as a map.
fn offsets_of(lines: &str) -> BTreeMap<(String, i32), i64> {
    lines
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (t, p, o) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some(((t.to_owned(), p), o))
        })
        .collect()
}

/// The `name=value` fields of a formatter line such as `Checkpoint{consumerGroupId=g, ...}`.
fn fields(line: &str) -> BTreeMap<String, String> {
    let inner = line
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map_or("", |(inner, _)| inner);
    inner
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The end offset of partition 0 of `topic`.
async fn end_of(c: &Cluster, topic: &str) -> i64 {
    let _ = c.refresh_topics(&[topic.to_owned()]).await;
    c.list_offset(topic, 0, OffsetSpec::Latest).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mm2_client_code_reads_kmirrors_checkpoints_and_syncs() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let (src, tgt) = (source.addr(), target.addr());
    let t = topic("mm2client");
    let group = format!("{t}-group");
    let remote = format!("source.{t}");
    const PARTITIONS: i32 = 4;
    const RECORDS: i64 = 40;
    pyclient::create_topic(&src, &t, PARTITIONS).await;
    // Other records on the target first: target offsets are source offsets plus 3.
    pyclient::create_topic(&tgt, &remote, PARTITIONS).await;
    for p in 0..PARTITIONS {
        let junk: Vec<PyRecord> = (0..3)
            .map(|i| PyRecord {
                value: Some(hex(format!("older {i}").as_bytes())),
                ..PyRecord::default()
            })
            .collect();
        let _ = pyclient::produce(&tgt, &remote, p, json!({}), &junk).await;
        let config = json!({"compression.type": "lz4", "batch.num.messages": 7});
        let _ = pyclient::produce(&src, &t, p, config, &records(p, RECORDS)).await;
    }
    // A batch boundary (14), inside a batch (17), the head (40) and the start (0).
    let commits = [
        (t.as_str(), 0, 14),
        (t.as_str(), 1, 17),
        (t.as_str(), 2, RECORDS),
        (t.as_str(), 3, 0),
    ];
    pyclient::commit(&src, &group, &commits).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &src,
        &tgt,
        &format!(
            "source->target.topics = {t}\nemit.heartbeats.enabled = false\ngroups = {group}\n\
             refresh.groups.interval.seconds = 1\nemit.checkpoints.interval.seconds = 1"
        ),
    );
    let kmirror = Kmirror::run(&config, dir.path());
    let config_arg = config.to_str().unwrap();

    // kmirror's own translation, once every partition is replicated.
    let table = eventually(
        "kmirror translates every partition",
        Duration::from_secs(60),
        || async {
            let (ok, text) = kmirror_cli(
                dir.path(),
                &["offsets", "translate", "--config", config_arg, "--group", &group],
            );
            let rows: Vec<Vec<String>> = text
                .lines()
                .filter(|l| l.starts_with(&t))
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .collect();
            (ok && rows.len() == PARTITIONS as usize && rows.iter().all(|r| r[6] == "exact")).then_some(rows)
        },
    )
    .await;
    let from_kmirror: BTreeMap<(String, i32), i64> = table
        .iter()
        .map(|r| ((r[3].clone(), r[1].parse().unwrap()), r[4].parse().unwrap()))
        .collect();
    let want: BTreeMap<(String, i32), i64> = commits
        .iter()
        .map(|&(_, p, o)| ((remote.clone(), p), o + 3))
        .collect();
    assert_eq!(from_kmirror, want, "kmirror offsets translate");

    // MM2's RemoteClusterUtils on the target, once kmirror has checkpointed every partition.
    let from_mm2 = eventually(
        "translateOffsets sees every partition",
        Duration::from_secs(60),
        || async {
            let got = offsets_of(&mm2::tools(&["translate", &tgt, "source", &group]).await);
            (got.len() == PARTITIONS as usize).then_some(got)
        },
    )
    .await;
    assert_eq!(
        from_mm2,
        from_kmirror,
        "RemoteClusterUtils.translateOffsets differs from kmirror offsets translate; kmirror log:\n{}",
        kmirror.log()
    );

    // MM2's CheckpointFormatter on the checkpoints topic (shared: this group's records only).
    let target_cluster = target.client().await;
    let checkpoints = "source.checkpoints.internal";
    let n = end_of(&target_cluster, checkpoints).await.to_string();
    let lines = mm2::tools(&["format", &tgt, checkpoints, "checkpoint", &n, "30000"]).await;
    let mut latest = BTreeMap::new();
    for line in lines.lines() {
        let f = fields(line);
        assert!(
            line.starts_with("Checkpoint{") && f.contains_key("upstreamOffset"),
            "not a checkpoint: {line}"
        );
        if f.get("consumerGroupId") == Some(&group) {
            let _ = latest.insert(
                f["topicPartition"].clone(),
                (f["upstreamOffset"].clone(), f["downstreamOffset"].clone()),
            );
        }
    }
    let want: BTreeMap<String, (String, String)> = commits
        .iter()
        .map(|&(_, p, o)| (format!("{remote}-{p}"), (o.to_string(), (o + 3).to_string())))
        .collect();
    assert_eq!(latest, want, "CheckpointFormatter:\n{lines}");

    // MM2's OffsetSyncFormatter on the offset syncs (on the source, shared): every sync of
    // this topic pairs a source offset with the same record's target offset (+3).
    let source_cluster = source.client().await;
    let syncs_topic = "mm2-offset-syncs.target.internal";
    let n = end_of(&source_cluster, syncs_topic).await.to_string();
    let lines = mm2::tools(&["format", &src, syncs_topic, "offset-sync", &n, "30000"]).await;
    let mut ours = 0;
    for line in lines.lines() {
        let f = fields(line);
        assert!(line.starts_with("OffsetSync{"), "not an offset sync: {line}");
        let Some(p) = f["topicPartition"].strip_prefix(&format!("{t}-")) else {
            continue;
        };
        let (u, d): (i64, i64) = (
            f["upstreamOffset"].parse().unwrap(),
            f["downstreamOffset"].parse().unwrap(),
        );
        assert_eq!(d, u + 3, "partition {p}: {line}");
        ours += 1;
    }
    assert!(ours >= PARTITIONS, "syncs of {t}:\n{lines}");
    kmirror.stop_cleanly().await;
}

/// What both tools replicate in `one_properties_file_drives_mm2_and_kmirror`: (topic,
/// partitions, records per partition).
const SAME_FILE_TOPICS: [(&str, i32, i64); 5] = [
    ("orders", 3, 30),
    ("payments", 2, 20),
    ("audit.keep", 1, 10),
    ("audit.skip", 1, 10),
    ("cache-internal", 1, 10),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_properties_file_drives_mm2_and_kmirror() {
    let _one = mm2::exclusive().await;
    // Brokers of its own: with the `_` separator the internal topics are named
    // `source_checkpoints_internal` and `mm2-offset-syncs_target_internal`, which Kafka refuses
    // to create next to the `.` names other tests create on the shared brokers (topic names
    // that differ only in `.` and `_` collide).
    let (source, mm2_target) = (Kafka::single().await, Kafka::single().await);
    let kmirror_target = Kafka::single().await;
    let (source, kmirror_target) = (&source, &kmirror_target);
    let prefix = topic("samefile");
    let group = format!("{prefix}-group");
    for (name, partitions, n) in SAME_FILE_TOPICS {
        let t = format!("{prefix}.{name}");
        pyclient::create_topic(&source.addr(), &t, partitions).await;
        for p in 0..partitions {
            let _ = pyclient::produce(
                &source.addr(),
                &t,
                p,
                json!({"batch.num.messages": 7}),
                &records(p, n),
            )
            .await;
        }
    }
    pyclient::commit(
        &source.addr(),
        &group,
        &[(format!("{prefix}.orders").as_str(), 0, 12)],
    )
    .await;
    // The topic filter, the excludes (MM2's defaults kept, one more added), a custom separator
    // and the groups, as an MM2 user writes them.
    let settings = format!(
        "source->target.topics = {prefix}.*\n\
         source->target.topics.exclude = .*[\\-\\.]internal, .*\\.replica, __.*, .*\\.skip\n\
         replication.policy.separator = _\n\
         groups = {prefix}-.*\n\
         emit.heartbeats.enabled = false\n\
         heartbeats.replication.enabled = false\n\
         {}",
        mm2::ONE_BROKER_SETTINGS
    );
    let (mm2_dir, k_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mm2_config = mm2_properties(mm2_dir.path(), &source.addr(), &mm2_target.addr(), &settings);
    let k_config = mm2_properties(k_dir.path(), &source.addr(), &kmirror_target.addr(), &settings);
    let strip_target = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("target.bootstrap.servers"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip_target(&mm2_config),
        strip_target(&k_config),
        "the same file but for the target's address"
    );

    let mm2 = Mm2::start(&mm2_config, mm2_dir.path(), "target").await;
    let kmirror = Kmirror::run(&k_config, k_dir.path());
    let src = source.client().await;
    let want: BTreeSet<String> = ["orders", "payments", "audit.keep"]
        .iter()
        .map(|n| format!("source_{prefix}.{n}"))
        .collect();
    for (target, who) in [(&mm2_target, "MirrorMaker 2"), (kmirror_target, "kmirror")] {
        let c = target.client().await;
        for (name, partitions, _) in &SAME_FILE_TOPICS[..3] {
            let t = format!("{prefix}.{name}");
            let remote = format!("source_{t}");
            let source_ends = ends(&src, &t, *partitions).await;
            let got = eventually(
                &format!("{who} to replicate {t}"),
                Duration::from_secs(240),
                || async {
                    let _ = c.refresh_topics(std::slice::from_ref(&remote)).await;
                    let got = ends(&c, &remote, *partitions).await;
                    (got == source_ends).then_some(got)
                },
            )
            .await;
            assert_eq!(got, source_ends);
        }
        // Every target topic of this test's prefix: the three, nothing excluded.
        let names: BTreeSet<String> = c
            .refresh_metadata()
            .await
            .unwrap()
            .topics
            .keys()
            .filter(|n| n.contains(&prefix))
            .cloned()
            .collect();
        assert_eq!(names, want, "{who}'s target topics");
        // Both name the checkpoints topic after the source with the custom separator.
        let checkpoints = "source_checkpoints_internal";
        eventually(
            &format!("{who}'s {checkpoints}"),
            Duration::from_secs(60),
            || async {
                let meta = c.refresh_metadata().await.ok()?;
                meta.topics.contains_key(checkpoints).then_some(())
            },
        )
        .await;
        c.close().await;
    }
    // The same records on both targets, in the same order.
    for (name, partitions, n) in &SAME_FILE_TOPICS[..3] {
        let remote = format!("source_{prefix}.{name}");
        for p in 0..*partitions {
            let n = usize::try_from(*n).unwrap();
            let a = pyclient::consume(&mm2_target.addr(), &remote, p, 0, n, 60).await;
            let b = pyclient::consume(&kmirror_target.addr(), &remote, p, 0, n, 60).await;
            let strip = |v: Vec<PyRecord>| {
                v.into_iter()
                    .map(|r| (r.key, r.value, r.headers, r.timestamp))
                    .collect::<Vec<_>>()
            };
            assert_eq!(a.len(), n, "{remote}-{p} on MM2's target");
            assert!(strip(a) == strip(b), "{remote}-{p}: the two targets differ");
        }
    }
    drop(mm2);
    kmirror.stop_cleanly().await;
}

/// Records in every partition of `topic` (0 when it does not exist).
async fn records_in(c: &Cluster, topic: &str) -> i64 {
    let Ok(meta) = c.refresh_topics(&[topic.to_owned()]).await else {
        return 0;
    };
    let Ok(t) = meta.topic(topic) else { return 0 };
    let mut total = 0;
    for p in &t.partitions {
        total += c
            .list_offset(topic, p.partition, OffsetSpec::Latest)
            .await
            .unwrap_or(0);
    }
    total
}

/// Source records of the takeover stream (3 partitions, round robin).
const STREAM: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_from_a_killed_mm2_is_exactly_once() {
    let _one = mm2::exclusive().await;
    let (source, target) = (kafka::shared_source().await, Kafka::single().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("takeover");
    let stream = format!("{prefix}.stream");
    let remote = format!("source.{stream}");
    pyclient::create_topic(&source.addr(), &stream, 3).await;
    // MM2 commits every 5 s: at the kill, the target holds records past the commits.
    let settings = format!(
        "source->target.topics = {prefix}.*\n\
         emit.heartbeats.enabled = false\n\
         heartbeats.replication.enabled = false\n\
         {}\
         offset.flush.interval.ms = 5000\n",
        mm2::ONE_BROKER_SETTINGS
    );
    let config = mm2_properties(dir.path(), &source.addr(), &target.addr(), &settings);
    let mm2 = Mm2::start(&config, dir.path(), "target").await;

    // A first part, until MM2 has copied it and committed; then a steady stream for about
    // 15 s, and MM2 is killed in the middle of it.
    const FIRST: usize = 300;
    pyclient::produce_seq(&source.addr(), &stream, 3, "s", 0, FIRST, 0.0).await;
    let dst = target.client().await;
    eventually(
        "MM2 to copy the first part and commit",
        Duration::from_secs(120),
        || async {
            let _ = dst.refresh_topics(std::slice::from_ref(&remote)).await;
            let copied: i64 = ends(&dst, &remote, 3).await.iter().filter(|e| **e > 0).sum();
            let committed = records_in(&dst, "mm2-offsets.source.internal").await > 0;
            (copied >= FIRST as i64 && committed).then_some(())
        },
    )
    .await;
    let addr = source.addr();
    let topic_name = stream.clone();
    let producer = tokio::spawn(async move {
        pyclient::produce_seq(&addr, &topic_name, 3, "s", FIRST, STREAM - FIRST, 15.0).await
    });
    eventually(
        "MM2 to copy part of the stream",
        Duration::from_secs(60),
        || async {
            let copied: i64 = ends(&dst, &remote, 3).await.iter().filter(|e| **e > 0).sum();
            (copied >= 2 * FIRST as i64).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!producer.is_finished(), "the stream ended before MM2 was killed");
    mm2.kill9();
    // Connections of the killed process are closed by the broker; what it had sent is written.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let config_arg = config.to_str().unwrap();
    let (ok, text) = kmirror_cli(dir.path(), &["takeover", "--from-mm2", "--config", config_arg]);
    assert!(ok, "kmirror takeover failed:\n{text}");
    eprintln!("kmirror takeover --from-mm2:\n{text}");
    // Rows: TOPIC PARTITION MM2-COMMITTED TARGET-TOPIC TARGET-END LAST-WRITTEN RESUME-AT ...
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with(&stream))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let ahead = rows.iter().any(|r| {
        let (committed, last) = (r[2].parse::<i64>().ok(), r[5].parse::<i64>().ok());
        matches!((committed, last), (Some(c), Some(l)) if l > c)
    });
    assert!(
        ahead,
        "MM2 had written nothing past its commits: the test did not exercise the match\n{text}"
    );

    let mut k = Kmirror::run(&config, dir.path());
    producer.await.unwrap();
    let src = source.client().await;
    caught_up(&src, &dst, &stream, 3, &mut k, Duration::from_secs(120)).await;
    k.stop_cleanly().await;
    let mut total = 0;
    for p in 0..3 {
        let n = usize::try_from(src.list_offset(&stream, p, OffsetSpec::Latest).await.unwrap()).unwrap();
        let a = pyclient::consume(&source.addr(), &stream, p, 0, n, 60).await;
        // Equal end offsets (caught_up) on a topic MM2 created empty: n records on the target.
        let b = pyclient::consume(&target.addr(), &remote, p, 0, n, 60).await;
        let values = |v: &[PyRecord]| v.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(
            (a.len(), b.len()),
            (n, n),
            "{stream}-{p}: {} on the source, {} on the target\n{text}",
            a.len(),
            b.len()
        );
        assert!(
            values(&a) == values(&b),
            "{stream}-{p}: the target differs from the source\n{text}"
        );
        total += n;
    }
    assert_eq!(total, STREAM);
}
