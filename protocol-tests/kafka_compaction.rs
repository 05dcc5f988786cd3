//! A compacted source after Apache Kafka's own log cleaner ran: repeated keys, tombstones,
//! headers, four codecs, an idempotent producer whose only batch the cleaner empties. kmirror
//! replicates to a compacted target topic (the config copied); the target must hold exactly the
//! records librdkafka reads on the source, in order, the gapped batches renumbered (and counted)
//! and every other batch byte for byte. A group offset committed inside the compacted range is
//! translated with `kmirror offsets translate`.

use std::process::Command;
use std::time::Duration;

use kmirror::cluster::{Cluster, OffsetSpec};
use kmirror::protocol::batch::RecordBatch;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::kafka;
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{
    assert_same_records, eventually, hex, mm2_properties, paired_batches, raw_batches, topic,
};

const CODECS: [&str; 4] = ["none", "gzip", "lz4", "zstd"];

fn record(key: &str, value: Option<&str>, headers: bool) -> PyRecord {
    PyRecord {
        key: Some(hex(key.as_bytes())),
        value: value.map(|v| hex(v.as_bytes())),
        headers: if headers {
            vec![("h".into(), Some(hex(key.as_bytes()))), ("h".into(), None)]
        } else {
            vec![]
        },
        ..PyRecord::default()
    }
}

/// Key, value, headers, timestamp: what a consumer sees of a record.
type Seen = (
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
    Option<i64>,
);

fn seen(records: &[PyRecord]) -> Vec<Seen> {
    records
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone(), r.timestamp))
        .collect()
}

fn is_gapped(b: &RecordBatch) -> bool {
    b.record_count() > 0 && b.last_offset_delta() + 1 != b.record_count()
}

/// The writes of one partition: an idempotent producer's batch of ten keys, another idempotent
/// producer's only batch (three keys, all overwritten later, so the cleaner empties it), then
/// plain writes that overwrite some keys, delete one (a tombstone) and overwrite the three.
async fn write_partition(bootstrap: &str, topic: &str, p: i32, codec: &str) {
    let first: Vec<PyRecord> = (0..10)
        .map(|i| record(&format!("k{i}"), Some(&format!("first {i} {codec}")), i % 2 == 0))
        .collect();
    let idempotent = json!({"compression.type": codec, "enable.idempotence": true, "linger.ms": 200});
    let _ = pyclient::produce_with(bootstrap, topic, p, idempotent.clone(), &first, true).await;
    let doomed: Vec<PyRecord> = (0..3)
        .map(|i| record(&format!("e{i}"), Some("doomed"), false))
        .collect();
    let _ = pyclient::produce_with(bootstrap, topic, p, idempotent, &doomed, true).await;
    let mut later: Vec<PyRecord> = [1, 3, 5]
        .iter()
        .map(|i| record(&format!("k{i}"), Some(&format!("second {i}")), true))
        .collect();
    later.push(record("k7", None, true));
    later.extend((0..3).map(|i| record(&format!("e{i}"), Some("kept"), false)));
    let plain = json!({"compression.type": codec, "linger.ms": 200});
    let _ = pyclient::produce_with(bootstrap, topic, p, plain, &later, true).await;
}

/// Whether every record before `end` has a key of its own, as after a full cleaning.
fn compacted_below(records: &[PyRecord], end: i64) -> bool {
    let mut keys = std::collections::HashSet::new();
    records
        .iter()
        .filter(|r| r.offset < end)
        .all(|r| keys.insert(r.key.clone()))
}

async fn scrape(addr: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of the counter `name` for `topic` with label `label="value"`, 0 when absent.
fn counter(metrics: &str, name: &str, topic: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| l.contains(&format!("topic=\"{topic}\"")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_source_arrives_as_librdkafka_reads_it() {
    let (source, target) = (kafka::shared_source().await, kafka::shared_target().await);
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("compact");
    let name = format!("{prefix}.t");
    let target_topic = format!("source.{name}");
    let partitions = CODECS.len() as i32;
    pyclient::create_topic_with(
        &source.addr(),
        &name,
        partitions,
        json!({"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
               // Tombstones stay for the whole test: they are part of what must arrive.
               "delete.retention.ms": "86400000"}),
    )
    .await;
    for (p, codec) in CODECS.iter().enumerate() {
        write_partition(&source.addr(), &name, p as i32, codec).await;
    }

    // Roll the segments (an append after segment.ms) and wait for the cleaner: done when every
    // record before the last roll has a key of its own.
    let src = source.client().await;
    let mut roll = 0;
    eventually(
        "the log cleaner to compact every partition",
        Duration::from_secs(120),
        || {
            roll += 1;
            let (addr, name, src) = (source.addr(), name.clone(), src.clone());
            async move {
                let mut done = true;
                for p in 0..partitions {
                    let end = src.list_offset(&name, p, OffsetSpec::Latest).await.unwrap();
                    let records = pyclient::read_all(&addr, &name, p, "read_uncommitted").await;
                    if !compacted_below(&records, end - 1) {
                        done = false;
                        let marker = record(&format!("roll-{roll}"), Some("roll"), false);
                        let _ = pyclient::produce(&addr, &name, p, json!({}), &[marker]).await;
                    }
                }
                done.then_some(())
            }
        },
    )
    .await;
    // No more rolls on the source, and a target that copies the configs keeps its segment (its
    // own cleaner must not run under the comparison).
    pyclient::alter_topic_config(&source.addr(), &name, json!({"segment.ms": "604800000"})).await;

    let mut gapped_total = 0;
    for p in 0..partitions {
        let raw = raw_batches(&src, &name, p, 0).await;
        let shapes: Vec<String> = raw
            .iter()
            .map(|b| {
                format!(
                    "[{}..{} n={} {:?}{}{}{}]",
                    b.base_offset(),
                    b.next_offset() - 1,
                    b.record_count(),
                    b.compression(),
                    if b.producer_id() >= 0 { " pid" } else { "" },
                    if is_gapped(b) { " gapped" } else { "" },
                    if b.attributes() & 0x40 != 0 {
                        " delete-horizon"
                    } else {
                        ""
                    },
                )
            })
            .collect();
        eprintln!("{name}-{p} ({}): {}", CODECS[p as usize], shapes.join(" "));
        let gapped = raw.iter().filter(|b| is_gapped(b)).count();
        assert!(gapped >= 1, "{name}-{p}: the cleaner left no gapped batch");
        assert!(
            raw.iter().any(|b| b.record_count() == 0),
            "{name}-{p}: the cleaner kept no empty batch for the idempotent producer"
        );
        gapped_total += gapped;
    }

    // A group that stopped inside the compacted range: at k2, the third record of the first
    // batch, whose k1 the cleaner removed.
    let group = format!("{prefix}-g");
    let first = pyclient::read_all(&source.addr(), &name, 0, "read_uncommitted").await;
    let k2 = first.iter().find(|r| r.key == Some(hex(b"k2"))).unwrap().offset;
    pyclient::commit(&source.addr(), &group, &[(name.as_str(), 0, k2)]).await;

    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        &format!("source->target.topics = {prefix}.*\nemit.heartbeats.enabled = false\n"),
    );
    let mut k = Kmirror::run_with(&config, dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let dst = target.client().await;
    let mut want = Vec::new();
    for p in 0..partitions {
        want.push(pyclient::read_all(&source.addr(), &name, p, "read_uncommitted").await);
    }
    for p in 0..partitions {
        let n = want[p as usize].len() as i64;
        wait_for_end(&dst, &target_topic, p, n, &mut k).await;
    }
    let addr = eventually("the metrics address", Duration::from_secs(20), || async {
        let log = k.log();
        let at = log.find("metrics on http://")? + "metrics on http://".len();
        Some(log[at..][..log[at..].find("/metrics")?].to_owned())
    })
    .await;
    let metrics = scrape(&addr).await;
    let renumbered = counter(
        &metrics,
        "kmirror_batches_reshaped_total",
        &name,
        "reason=\"renumbered\"",
    );
    let empty = counter(&metrics, "kmirror_batches_total", &name, "action=\"empty\"");

    let translate = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["offsets", "translate", "--config"])
        .arg(&config)
        .args(["--group", &group])
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .output()
        .expect("run kmirror offsets translate");
    let table = String::from_utf8_lossy(&translate.stdout).into_owned();
    eprintln!("{table}");
    k.stop_cleanly().await;

    assert_eq!(
        renumbered as usize, gapped_total,
        "renumbered batches:\n{metrics}"
    );
    assert_eq!(empty, partitions as u64, "empty batches dropped");
    let created = dst.describe_topic_config(&target_topic).await.unwrap();
    let value = |n: &str| created.iter().find(|e| e.name == n).and_then(|e| e.value.clone());
    assert_eq!(value("cleanup.policy").as_deref(), Some("compact"));
    assert_eq!(value("min.cleanable.dirty.ratio").as_deref(), Some("0.01"));

    for p in 0..partitions {
        let on_target = pyclient::read_all(&target.addr(), &target_topic, p, "read_uncommitted").await;
        let from_source = &want[p as usize];
        assert_eq!(seen(&on_target), seen(from_source), "{target_topic}-{p}");
        assert!(
            from_source.iter().any(|r| r.value.is_none()),
            "{name}-{p}: no tombstone compared"
        );
        for (i, (s, t)) in paired_batches(&src, &name, &dst, &target_topic, p, |_| true)
            .await
            .iter()
            .enumerate()
        {
            let what = format!("{target_topic}-{p} batch {i}");
            if is_gapped(s) {
                assert_eq!(
                    (t.record_count(), t.last_offset_delta() + 1, t.compression()),
                    (s.record_count(), s.record_count(), s.compression()),
                    "{what}: renumbered"
                );
            } else {
                assert_same_records(&what, s, t);
            }
        }
    }

    // The committed offset is k2's, the third record of a batch the cleaner left gapped (k1
    // gone). The offset map is kept per batch, so the translation is the target batch's first
    // record (k0): a consumer moved there reads k0 again, never skips a record.
    let row = table.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| {
        panic!(
            "no row for {name}:\n{table}{}",
            String::from_utf8_lossy(&translate.stderr)
        )
    });
    let cells: Vec<&str> = row.split_whitespace().collect();
    let on_target = pyclient::read_all(&target.addr(), &target_topic, 0, "read_uncommitted").await;
    let k2_on_target = on_target
        .iter()
        .find(|r| r.key == Some(hex(b"k2")))
        .unwrap()
        .offset;
    assert_eq!((cells[2], cells[4]), (k2.to_string().as_str(), "0"), "{table}");
    assert!(row.ends_with("start of compacted batch"), "{table}");
    assert_eq!(k2_on_target, 1, "k2 follows k0 on the target");
}

async fn wait_for_end(target: &Cluster, topic: &str, p: i32, want: i64, k: &mut Kmirror) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = k.has_exited() {
            panic!("kmirror exited early ({status}):\n{}", k.log());
        }
        let _ = target.refresh_topics(&[topic.to_owned()]).await;
        let got = target
            .list_offset(topic, p, OffsetSpec::Latest)
            .await
            .unwrap_or(-1);
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}-{p} did not reach {want} records (at {got}); kmirror log:\n{}",
            k.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
