//! Consumer groups across a flow, on Apache Kafka (the shared brokers, groups and topics of
//! each test its own), checked with confluent-kafka.
//!
//! - A group that committed offsets in the middle of batches on the source, for partitions in
//!   every codec, resumes on the target at exactly the record it would read next on the source
//!   (contents compared, no duplicate, no gap), although the target partitions held other
//!   records before (so target offsets differ from source offsets); the checkpoints topic is
//!   decoded by a Python decoder written here from MM2's format description; `kmirror offsets
//!   translate` prints the translation and `--commit` moves a second group.
//! - The sync rules with a real coordinator, for a classic target group and for a KIP-848 one
//!   (`group.protocol=consumer`): the target group follows the source while it is empty, is
//!   left alone while a librdkafka consumer is a member of it, and is never rewound.
//!
//! Between two fake brokers, for what a real broker does not do on demand: a DescribeGroups
//! that fails with an exact error (nothing is committed for a group whose state is unknown),
//! and a committed offset inside aborted data (it moves to the next replicated record).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kmirror::cluster::OffsetSpec;
use kmirror::protocol::batch::RecordBatch;
use kmirror::protocol::mm2::{Checkpoint, Mm2Record};
use kmirror::protocol::records::decode_records;
use kmirror::testkit::{FakeBroker, Fault};
use serde_json::json;
use tokio::sync::watch;

use crate::replication_faults::transactional_source;
use crate::support::kafka;
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, Member, PyRecord};
use crate::support::{eventually, hex, mm2_properties, topic};

/// Decodes every record of partition 0 of a checkpoints topic from MM2's description:
/// key = group STRING, topic STRING, partition INT32; value = version INT16, upstream INT64,
/// downstream INT64, metadata STRING; STRING = INT16 length + UTF-8; big-endian.
const CHECKPOINT_DECODER: &str = r#"
import json, struct, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

req = json.load(sys.stdin)
conf = {"bootstrap.servers": req["bootstrap"], "enable.metrics.push": False}
end = req["end"]

def string(b, i):
    (n,) = struct.unpack_from(">h", b, i)
    if n < 0:
        raise ValueError("negative STRING length")
    return b[i + 2:i + 2 + n].decode("utf-8"), i + 2 + n

out = []
consumer = Consumer({**conf, "group.id": "checkpoint-decoder", "enable.auto.commit": False})
consumer.assign([TopicPartition(req["topic"], 0, OFFSET_BEGINNING)])
deadline = time.time() + 60
next_offset = 0
while next_offset < end and time.time() < deadline:
    m = consumer.poll(0.5)
    if m is None or m.error():
        continue
    next_offset = m.offset() + 1
    k, v = m.key(), m.value()
    group, i = string(k, 0)
    topic, i = string(k, i)
    (partition,) = struct.unpack_from(">i", k, i)
    (version,) = struct.unpack_from(">h", v, 0)
    upstream, downstream = struct.unpack_from(">qq", v, 2)
    metadata, _ = string(v, 18)
    out.append({"group": group, "topic": topic, "partition": partition, "version": version,
                "upstream": upstream, "downstream": downstream, "metadata": metadata})
consumer.close()
json.dump({"end": end, "records": out}, sys.stdout)
"#;

/// `GROUP_AUTHORIZATION_FAILED`: not retriable.
const GROUP_AUTHORIZATION_FAILED: i16 = 30;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const RECORDS: i64 = 30;
/// Offsets the group commits on the source, per partition: inside batches of 7.
const APP_COMMITS: [i64; 5] = [10, 15, 3, 23, 8];

fn records(partition: i32) -> Vec<PyRecord> {
    (0..RECORDS)
        .map(|i| PyRecord {
            key: Some(hex(format!("k{partition}-{i}").as_bytes())),
            value: Some(hex(format!("value {i} of partition {partition}").as_bytes())),
            headers: if i % 3 == 0 {
                vec![("h".into(), Some(hex(b"x")))]
            } else {
                vec![]
            },
            timestamp: Some(1_700_000_000_000 + i),
            ..PyRecord::default()
        })
        .collect()
}

/// What a consumer sees of a record: key, value, headers, timestamp.
type Contents = (
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
    Option<i64>,
);

fn contents(records: Vec<PyRecord>) -> Vec<Contents> {
    records
        .into_iter()
        .map(|r| (r.key, r.value, r.headers, r.timestamp))
        .collect()
}

/// A decoded checkpoint: (group, topic, partition) → (version, upstream, downstream, metadata).
type DecodedCheckpoints = BTreeMap<(String, String, i64), (i64, i64, i64, String)>;

/// `kmirror offsets translate` with the test's working directory (where the state is).
fn translate(dir: &Path, config: &Path, group: &str, commit: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmirror"));
    cmd.args(["offsets", "translate", "--config"])
        .arg(config)
        .args(["--group", group])
        .current_dir(dir)
        .env("RUST_LOG", "error");
    if commit {
        let _ = cmd.arg("--commit");
    }
    let out = cmd.output().expect("run kmirror offsets translate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The rows of the translate table: (topic, partition, committed, target topic, target
/// offset, lag, translation).
fn table_rows(text: &str, topic: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with(topic))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resumes_on_the_target_at_exactly_the_record_it_would_read_next() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let (src, tgt) = (source.addr(), target.addr());
    let t = topic("groups");
    let (app, cli) = (format!("{t}-app"), format!("{t}-cli"));
    let remote = format!("source.{t}");
    let n = CODECS.len() as i32;
    pyclient::create_topic(&src, &t, n).await;
    // Other records on the target first: target offsets are source offsets plus 2 + p.
    pyclient::create_topic(&tgt, &remote, n).await;
    for p in 0..n {
        let junk: Vec<PyRecord> = (0..2 + p)
            .map(|i| PyRecord {
                value: Some(hex(format!("older {i}").as_bytes())),
                ..PyRecord::default()
            })
            .collect();
        let _ = pyclient::produce(&tgt, &remote, p, json!({}), &junk).await;
        let config = json!({"compression.type": CODECS[p as usize], "batch.num.messages": 7});
        let _ = pyclient::produce(&src, &t, p, config, &records(p)).await;
    }
    let app_commits: Vec<(&str, i32, i64)> =
        (0..n).map(|p| (t.as_str(), p, APP_COMMITS[p as usize])).collect();
    pyclient::commit(&src, &app, &app_commits).await;
    pyclient::commit(&src, &cli, &[(t.as_str(), 0, 4), (t.as_str(), 1, 20)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &src,
        &tgt,
        &format!(
            "source->target.topics = {t}\nemit.heartbeats.enabled = false\ngroups = {app}\n\
             refresh.groups.interval.seconds = 1\nemit.checkpoints.interval.seconds = 1\n\
             sync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1"
        ),
    );
    let kmirror = Kmirror::run(&config, dir.path());
    let target_cluster = target.client().await;

    // The group appears on the target at the translated offsets.
    let want: Vec<(String, i32, i64)> = (0..n)
        .map(|p| (remote.clone(), p, APP_COMMITS[p as usize] + 2 + i64::from(p)))
        .collect();
    let wait = async {
        loop {
            let got = pyclient::committed(&tgt, &app).await;
            if got == want {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let got = tokio::time::timeout(Duration::from_secs(90), wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "group {app} not synced on the target; kmirror log:\n{}",
                kmirror.log()
            )
        });
    assert_eq!(got, want, "kmirror log:\n{}", kmirror.log());

    // A consumer of the group on the target reads exactly what it would read on the source.
    for p in 0..n {
        let from = APP_COMMITS[p as usize];
        let count = usize::try_from(RECORDS - from).unwrap();
        let on_source = pyclient::consume(&src, &t, p, from, count, 60).await;
        let on_target = pyclient::consume_group(&tgt, &app, &remote, p, count, 60).await;
        assert_eq!(on_source.len(), count);
        assert_eq!(on_target[0].offset, from + 2 + i64::from(p), "partition {p}");
        assert_eq!(
            contents(on_target),
            contents(on_source),
            "partition {p} ({})",
            CODECS[p as usize]
        );
    }

    // The checkpoints, read by an independent decoder (up to the end offset). The topic is
    // shared by every test on this target: only this group's records are looked at.
    let checkpoints_topic = "source.checkpoints.internal";
    let _ = target_cluster
        .refresh_topics(&[checkpoints_topic.to_owned()])
        .await;
    let end = target_cluster
        .list_offset(checkpoints_topic, 0, OffsetSpec::Latest)
        .await
        .unwrap();
    let decoded = pyclient::run_inline(
        CHECKPOINT_DECODER,
        json!({"bootstrap": tgt, "topic": checkpoints_topic, "end": end}),
    )
    .await;
    let mut latest = DecodedCheckpoints::new();
    for r in decoded["records"].as_array().unwrap() {
        let s = |k: &str| r[k].as_str().unwrap().to_owned();
        let n = |k: &str| r[k].as_i64().unwrap();
        if s("topic") != remote {
            continue;
        }
        let _ = latest.insert(
            (s("group"), s("topic"), n("partition")),
            (n("version"), n("upstream"), n("downstream"), s("metadata")),
        );
    }
    for p in 0..i64::from(n) {
        let from = APP_COMMITS[p as usize];
        assert_eq!(
            latest.get(&(app.clone(), remote.clone(), p)),
            Some(&(0, from, from + 2 + p, String::new())),
            "checkpoint of partition {p}: {decoded}; kmirror log:\n{}",
            kmirror.log()
        );
    }
    assert!(latest.keys().all(|(g, _, _)| *g == app), "{decoded}");

    // The CLI: the translation of another group, then its commit.
    let (ok, text) = eventually(
        "translate sees the replicated data",
        Duration::from_secs(30),
        || async {
            let (ok, text) = translate(dir.path(), &config, &cli, false);
            let rows = table_rows(&text, &t);
            (ok && rows.len() == 2 && rows.iter().all(|r| r[6] == "exact")).then_some((ok, text))
        },
    )
    .await;
    assert!(ok, "{text}");
    let rows = table_rows(&text, &t);
    let expect = |p: &str, committed: &str, target: &str, lag: &str| {
        vec![
            t.clone(),
            p.to_owned(),
            committed.to_owned(),
            remote.clone(),
            target.to_owned(),
            lag.to_owned(),
            "exact".to_owned(),
        ]
    };
    assert_eq!(
        rows,
        [expect("0", "4", "6", "26"), expect("1", "20", "23", "10")],
        "{text}"
    );
    let (ok, text) = translate(dir.path(), &config, &cli, true);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("committed {remote}-0 at 6")), "{text}");
    assert_eq!(
        pyclient::committed(&tgt, &cli).await,
        [(remote.clone(), 0, 6), (remote.clone(), 1, 23)]
    );
    let first = pyclient::consume_group(&tgt, &cli, &remote, 1, 1, 60).await;
    assert_eq!(
        contents(first),
        contents(pyclient::consume(&src, &t, 1, 20, 1, 60).await)
    );
    kmirror.stop_cleanly().await;
}

/// The `result` counts of `kmirror_group_offset_syncs_total` on kmirror's metrics endpoint.
async fn sync_results(addr: &str, result: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to /metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await.unwrap();
    out.lines()
        .filter(|l| {
            l.starts_with("kmirror_group_offset_syncs_total{") && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until kmirror has skipped `result` two more times: whole sync passes happened since.
async fn two_more(addr: &str, result: &str) {
    let seen = sync_results(addr, result).await;
    eventually(
        &format!("two more {result} passes"),
        Duration::from_secs(60),
        || async { (sync_results(addr, result).await >= seen + 2.0).then_some(()) },
    )
    .await;
}

/// The sync rules against a real coordinator, with a target group of `protocol` (`classic`,
/// or `consumer` for KIP-848): it follows the source while it is empty, is left alone while a
/// consumer is a member, and is never rewound.
async fn the_target_group_follows_only_while_empty(protocol: &str) {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let (src, tgt) = (source.addr(), target.addr());
    let t = topic(&format!("rules-{protocol}"));
    let group = format!("{t}-app");
    let remote = format!("source.{t}");
    pyclient::create_topic(&src, &t, 1).await;
    let values: Vec<PyRecord> = (0..40)
        .map(|i| PyRecord {
            value: Some(hex(format!("v{i}").as_bytes())),
            ..PyRecord::default()
        })
        .collect();
    let _ = pyclient::produce(&src, &t, 0, json!({"batch.num.messages": 5}), &values).await;
    pyclient::commit(&src, &group, &[(t.as_str(), 0, 10)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &src,
        &tgt,
        &format!(
            "source->target.topics = {t}\nemit.heartbeats.enabled = false\ngroups = {group}\n\
             refresh.groups.interval.seconds = 1\nemit.checkpoints.interval.seconds = 1\n\
             sync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1"
        ),
    );
    let k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let metrics = eventually("the metrics address", Duration::from_secs(20), || async {
        let log = k.log();
        let at = log.find("metrics on http://")? + "metrics on http://".len();
        Some(log[at..][..log[at..].find("/metrics")?].to_owned())
    })
    .await;
    // The target topic starts empty: translations equal the source offsets.
    let at = |offset: i64| vec![(remote.clone(), 0, offset)];
    let synced = |offset: i64| {
        let (tgt, group, want) = (tgt.clone(), group.clone(), at(offset));
        async move {
            eventually(
                &format!("the target group at {offset}"),
                Duration::from_secs(60),
                || async { (pyclient::committed(&tgt, &group).await == want).then_some(()) },
            )
            .await;
        }
    };
    synced(10).await;
    // Empty: it follows the source.
    pyclient::commit(&src, &group, &[(t.as_str(), 0, 15)]).await;
    synced(15).await;

    // A consumer joins the group on the target: kmirror leaves it alone.
    let member = Member::join(&tgt, &group, &remote, protocol).await;
    pyclient::commit(&src, &group, &[(t.as_str(), 0, 20)]).await;
    two_more(&metrics, "skipped_active").await;
    assert_eq!(
        pyclient::committed(&tgt, &group).await,
        at(15),
        "kmirror log:\n{}",
        k.log()
    );
    assert_eq!(
        sync_results(&metrics, "failed").await,
        0.0,
        "no commit was even tried:\n{}",
        k.log()
    );

    // Empty again: it follows, to exactly the translation.
    member.leave().await;
    synced(20).await;

    // Ahead of the translation (committed on the target while empty): never rewound.
    pyclient::commit(&tgt, &group, &[(remote.as_str(), 0, 35)]).await;
    pyclient::commit(&src, &group, &[(t.as_str(), 0, 25)]).await;
    two_more(&metrics, "skipped_ahead").await;
    assert_eq!(pyclient::committed(&tgt, &group).await, at(35));

    // Behind again: it follows.
    pyclient::commit(&tgt, &group, &[(remote.as_str(), 0, 1)]).await;
    synced(25).await;
    assert_eq!(
        sync_results(&metrics, "failed").await,
        0.0,
        "kmirror log:\n{}",
        k.log()
    );
    k.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_target_group_follows_only_while_empty_and_is_never_rewound() {
    the_target_group_follows_only_while_empty("classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip_848_target_group_follows_only_while_empty_and_is_never_rewound() {
    the_target_group_follows_only_while_empty("consumer").await;
}

fn target_offset(target: &FakeBroker, group: &str) -> Option<i64> {
    target
        .group(group)
        .and_then(|g| g.offsets.get(&("source.tx".to_owned(), 0)).map(|(o, _)| *o))
}

/// Waits until the target has been asked DescribeGroups twice more: a full sync pass
/// happened after whatever the test changed before.
async fn two_sync_passes(target: &FakeBroker) {
    let seen = target.request_count(ApiKey::DescribeGroups);
    eventually("two more sync passes", Duration::from_secs(30), || async {
        (target.request_count(ApiKey::DescribeGroups) >= seen + 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_group_whose_state_is_unknown_is_not_committed_and_aborted_data_is_skipped() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    // Source offsets: 0..3 committed transaction, 3 marker, 4..6 aborted, 6 marker, 7..10
    // plain. On the target: 0..3 and 3..6.
    let _ = transactional_source(&source);
    // Inside the aborted data: the next replicated record is the plain batch's first.
    source.commit_group_offset("app", "tx", 0, 5);
    source.commit_group_offset("console-consumer-1", "tx", 0, 1);

    let dir = tempfile::tempdir().unwrap();
    let path = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        "refresh.groups.interval.seconds = 1\nemit.checkpoints.interval.seconds = 1\n\
         sync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1",
    );
    let mut config = kmirror::config::load(&path).unwrap();
    config.state_dir = dir.path().join("state");
    let (shutdown, rx) = watch::channel(false);
    let engine = tokio::spawn(kmirror::replication::engine::run(config, rx));

    let synced = |want: i64| {
        let target = &target;
        eventually(
            "the target group at the translation",
            Duration::from_secs(30),
            move || async move { (target_offset(target, "app") == Some(want)).then_some(()) },
        )
    };
    synced(3).await;
    // Excluded by the default group filter.
    assert!(target.group("console-consumer-1").is_none());
    let checkpoints: Vec<Checkpoint> = target
        .log("source.checkpoints.internal", 0)
        .into_iter()
        .flat_map(|b| decode_records(&RecordBatch::try_from_bytes(b.bytes).unwrap()).unwrap())
        .map(|r| Checkpoint::decode(&r.key.unwrap(), &r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(
        (
            checkpoints[0].topic.as_str(),
            checkpoints[0].upstream_offset,
            checkpoints[0].downstream_offset
        ),
        ("source.tx", 5, 3)
    );

    // The source group moves while the target group is idle: the target follows, exactly.
    source.commit_group_offset("app", "tx", 0, 8);
    synced(4).await;

    // The group's state cannot be learnt (DescribeGroups fails): nothing is sent for it.
    let commits = target.request_count(ApiKey::OffsetCommit);
    target.inject(Fault::Error {
        api: ApiKey::DescribeGroups,
        code: GROUP_AUTHORIZATION_FAILED,
        times: 2,
    });
    source.commit_group_offset("app", "tx", 0, 9);
    two_sync_passes(&target).await;
    assert_eq!(target_offset(&target, "app"), Some(4));
    assert_eq!(target.request_count(ApiKey::OffsetCommit), commits);

    // Known again: it follows.
    synced(5).await;

    let _ = shutdown.send(true);
    tokio::time::timeout(Duration::from_secs(30), engine)
        .await
        .expect("engine stops")
        .expect("no panic")
        .unwrap();
}
