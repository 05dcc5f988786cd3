//! The engine between two fake brokers, for batches and errors placed exactly where a test
//! wants them: transactional sources (aborted data and markers must never reach the target),
//! compacted batches with offset gaps (the validating target must accept them and hold
//! identical records), and every class of produce error (retriable, producer state lost,
//! fatal), which a real broker does not answer on demand.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kmirror::protocol::batch::{CONTROL_BIT, RecordBatch, TRANSACTIONAL_BIT};
use kmirror::protocol::errors;
use kmirror::protocol::records::{BatchSpec, Record, decode_records, encode_batch};
use kmirror::replication::ReplicationError;
use kmirror::testkit::batches::{data_batch, producer_batch};
use kmirror::testkit::{FakeBroker, Fault};
use tokio::sync::watch;

use crate::support::{eventually, mm2_properties};

pub struct Running {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ReplicationError>>,
    _dir: tempfile::TempDir,
}

/// The engine between two fake brokers with the test MM2 configuration (`source->target`).
pub fn start(source: &FakeBroker, target: &FakeBroker) -> Running {
    start_with(source, target, "")
}

/// [`start`] with `extra` lines of MM2 properties.
pub fn start_with(source: &FakeBroker, target: &FakeBroker, extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = mm2_properties(dir.path(), &source.addr(), &target.addr(), extra);
    let mut config = kmirror::config::load(&path).unwrap();
    config.state_dir = dir.path().join("state");
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(kmirror::replication::engine::run(config, rx));
    Running {
        shutdown,
        task,
        _dir: dir,
    }
}

impl Running {
    pub async fn stop(self) -> Result<(), ReplicationError> {
        let _ = self.shutdown.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("engine stops")
            .expect("no panic")
    }
}

/// Records on the target partition, in order, with their values.
pub fn target_values(target: &FakeBroker, topic: &str) -> Vec<Option<Bytes>> {
    partition_values(target, topic, 0)
}

/// [`target_values`] of one partition.
pub fn partition_values(target: &FakeBroker, topic: &str, partition: i32) -> Vec<Option<Bytes>> {
    target
        .log(topic, partition)
        .into_iter()
        .flat_map(|s| decode_records(&RecordBatch::try_from_bytes(s.bytes).unwrap()).unwrap())
        .map(|r| r.value)
        .collect()
}

pub fn values(batch: &RecordBatch) -> Vec<Option<Bytes>> {
    decode_records(batch)
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect()
}

fn control(base_offset: i64, producer_id: i64, commit: bool) -> Bytes {
    let spec = BatchSpec {
        base_offset,
        attributes: CONTROL_BIT | TRANSACTIONAL_BIT,
        producer_id,
        producer_epoch: 0,
        base_sequence: -1,
        ..BatchSpec::default()
    };
    let marker = Record {
        key: Some(Bytes::from(vec![0, 0, 0, u8::from(commit)])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ..Record::default()
    };
    encode_batch(&spec, &[marker]).unwrap()
}

/// Topic `tx` with one partition on `source`: offsets 0..3 a committed transaction of
/// producer 7, 3 its commit marker, 4..6 an aborted transaction of producer 8, 6 its abort
/// marker, 7..10 plain data (lz4). Returns the three data batches.
pub fn transactional_source(source: &FakeBroker) -> [RecordBatch; 3] {
    source.create_topic("tx", 1);
    let committed = producer_batch(0, 3, 7, 0, TRANSACTIONAL_BIT);
    let aborted = producer_batch(4, 2, 8, 0, TRANSACTIONAL_BIT);
    let plain = data_batch(7, 3, 10, kmirror::protocol::batch::Compression::Lz4);
    source.append_raw("tx", 0, committed.as_bytes().clone());
    source.append_raw("tx", 0, control(3, 7, true));
    source.append_raw("tx", 0, aborted.as_bytes().clone());
    source.append_raw("tx", 0, control(6, 8, false));
    source.append_raw("tx", 0, plain.as_bytes().clone());
    source.set_aborted_transactions("tx", 0, vec![(8, 4)]);
    [committed, aborted, plain]
}

#[tokio::test]
async fn transactions_arrive_committed_only_and_without_markers() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    let [committed, _aborted, plain] = transactional_source(&source);

    let run = start(&source, &target);
    eventually(
        "committed data on the target",
        Duration::from_secs(20),
        || async { (target.log("source.tx", 0).len() == 2).then_some(()) },
    )
    .await;
    run.stop().await.unwrap();

    let stored: Vec<RecordBatch> = target
        .log("source.tx", 0)
        .into_iter()
        .map(|s| RecordBatch::try_from_bytes(s.bytes).unwrap())
        .collect();
    assert!(stored.iter().all(|b| !b.is_control() && !b.is_transactional()));
    assert_eq!(
        stored[0].records(),
        committed.records(),
        "records forwarded byte for byte"
    );
    assert_eq!(stored[1].records(), plain.records());
    let mut want = values(&committed);
    want.extend(values(&plain));
    assert_eq!(target_values(&target, "source.tx"), want);
}

#[tokio::test]
async fn compacted_batches_are_renumbered_and_accepted() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("compacted", 1);
    let records: Vec<Record> = [0, 2, 5, 6]
        .into_iter()
        .map(|d| Record {
            offset_delta: d,
            timestamp_delta: i64::from(d) * 3,
            key: Some(Bytes::from(format!("k{d}"))),
            value: (d != 5).then(|| Bytes::from(format!("v{d}"))),
            headers: vec![
                (Bytes::from_static(b"h"), Some(Bytes::from_static(b"x"))),
                (Bytes::from_static(b"h"), None),
            ],
            ..Record::default()
        })
        .collect();
    for codec in [
        kmirror::protocol::batch::Compression::None,
        kmirror::protocol::batch::Compression::Zstd,
    ] {
        let base = source.log("compacted", 0).len() as i64 * 10;
        let spec = BatchSpec {
            base_offset: base,
            compression: codec,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_018,
            ..BatchSpec::default()
        };
        source.append_raw("compacted", 0, encode_batch(&spec, &records).unwrap());
    }
    let run = start(&source, &target);
    eventually(
        "renumbered batches on the target",
        Duration::from_secs(20),
        || async { (target.log("source.compacted", 0).len() == 2).then_some(()) },
    )
    .await;
    run.stop().await.unwrap();
    for stored in target.log("source.compacted", 0) {
        let b = RecordBatch::try_from_bytes(stored.bytes).unwrap();
        let got = decode_records(&b).unwrap();
        assert_eq!(got.len(), records.len());
        for (i, (g, want)) in got.iter().zip(&records).enumerate() {
            assert_eq!(g.offset_delta, i as i32);
            assert_eq!(
                (&g.key, &g.value, &g.headers, g.timestamp_delta),
                (&want.key, &want.value, &want.headers, want.timestamp_delta)
            );
        }
    }
}

async fn survives(fault: Fault) {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("t", 1);
    let batches: Vec<RecordBatch> = (0..6)
        .map(|i| data_batch(i * 4, 4, 20, kmirror::protocol::batch::Compression::None))
        .collect();
    for b in &batches {
        source.append_raw("t", 0, b.as_bytes().clone());
    }
    target.inject(fault.clone());
    let run = start(&source, &target);
    eventually(
        &format!("all records despite {fault:?}"),
        Duration::from_secs(30),
        || async { (target_values(&target, "source.t").len() >= 24).then_some(()) },
    )
    .await;
    run.stop().await.unwrap();
    let want: Vec<_> = batches.iter().flat_map(values).collect();
    assert_eq!(
        target_values(&target, "source.t"),
        want,
        "exactly once despite {fault:?}"
    );
}

#[tokio::test]
async fn retriable_produce_errors_are_recovered_exactly_once() {
    survives(Fault::Error {
        api: ApiKey::Produce,
        code: errors::NOT_LEADER_OR_FOLLOWER,
        times: 3,
    })
    .await;
    survives(Fault::Error {
        api: ApiKey::Produce,
        code: errors::REQUEST_TIMED_OUT,
        times: 2,
    })
    .await;
    survives(Fault::DisconnectAfterBytes {
        api: ApiKey::Produce,
        bytes: 7,
    })
    .await;
}

#[tokio::test]
async fn lost_producer_state_is_recovered_exactly_once() {
    survives(Fault::Error {
        api: ApiKey::Produce,
        code: errors::OUT_OF_ORDER_SEQUENCE_NUMBER,
        times: 1,
    })
    .await;
    survives(Fault::Error {
        api: ApiKey::Produce,
        code: errors::UNKNOWN_PRODUCER_ID,
        times: 1,
    })
    .await;
}

/// With `partition.failure = stop-process`, a batch the target refuses stops every flow and
/// the engine returns the error (the fake broker refuses every batch with one code; Apache
/// Kafka's refusal of one partition is in `timestamps.rs`).
#[tokio::test]
async fn fatal_produce_errors_stop_the_process_with_context() {
    for code in [errors::INVALID_RECORD, 10 /* MESSAGE_TOO_LARGE */] {
        let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
        source.create_topic("t", 1);
        source.append_raw(
            "t",
            0,
            data_batch(0, 4, 20, kmirror::protocol::batch::Compression::None).into_bytes(),
        );
        target.inject(Fault::Error {
            api: ApiKey::Produce,
            code,
            times: 100,
        });
        let run = start_with(&source, &target, "partition.failure = stop-process");
        let err = tokio::time::timeout(Duration::from_secs(30), run.task)
            .await
            .expect("stops by itself")
            .unwrap()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("source.t") || text.contains("t-0"), "{text}");
        assert!(text.contains(&format!("({code})")), "{text}");
    }
}

/// A corrupt batch on the source (a CRC that does not match: a real broker never serves one)
/// stops its partition alone, named with its offset in the readiness answer, while the other
/// partition and the records before it are replicated; with `stop-process` it stops the engine.
#[tokio::test]
async fn a_corrupt_source_batch_stops_only_its_partition() {
    use kmirror::observe::Readiness;
    use kmirror::protocol::batch::Compression;
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("t", 2);
    let good = data_batch(0, 4, 20, Compression::Lz4);
    let mut corrupt = bytes::BytesMut::from(&data_batch(4, 4, 20, Compression::Lz4).as_bytes()[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    source.append_raw("t", 0, good.as_bytes().clone());
    source.append_raw("t", 0, corrupt.freeze());
    source.append_raw("t", 0, data_batch(8, 4, 20, Compression::Lz4).into_bytes());
    for i in 0..3 {
        source.append_raw("t", 1, data_batch(i * 4, 4, 20, Compression::None).into_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        "emit.heartbeats.enabled = false",
    );
    let mut config = kmirror::config::load(&path).unwrap();
    config.state_dir = dir.path().join("state");
    let (shutdown, rx) = watch::channel(false);
    let readiness = Readiness::default();
    let task = tokio::spawn(kmirror::replication::engine::run_with(
        config,
        rx,
        readiness.clone(),
    ));
    let stopped = eventually("t-0 stopped", Duration::from_secs(30), || async {
        readiness.stopped().pop()
    })
    .await;
    assert_eq!(
        (stopped.flow.as_str(), stopped.topic.as_str(), stopped.partition),
        ("source->target", "t", 0)
    );
    assert_eq!((stopped.offset, stopped.reason), (4, "corrupt_batch"));
    assert!(stopped.error.contains("CRC"), "{}", stopped.error);
    eventually("t-1 on the target", Duration::from_secs(30), || async {
        (partition_values(&target, "source.t", 1).len() == 12).then_some(())
    })
    .await;
    assert_eq!(partition_values(&target, "source.t", 0), values(&good));
    assert!(!task.is_finished(), "the engine goes on");
    let (ready, body) = readiness.answer();
    assert!(!ready);
    assert!(
        body.contains("source->target t-0 at source offset 4 (corrupt_batch)"),
        "{body}"
    );
    let _ = shutdown.send(true);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("a stopped partition is not an error at shutdown");

    let other_target = FakeBroker::start().await;
    let run = start_with(&source, &other_target, "partition.failure = stop-process");
    let err = tokio::time::timeout(Duration::from_secs(30), run.task)
        .await
        .expect("stops by itself")
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("CRC"), "{err}");
}

#[tokio::test]
async fn target_topics_get_the_source_configs_minus_mm2_excludes() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("cfg", 3);
    source.set_topic_config("cfg", "retention.ms", "12345");
    source.set_topic_config("cfg", "max.message.bytes", "2097152");
    // On MM2's default exclude list: never copied.
    source.set_topic_config("cfg", "min.insync.replicas", "2");
    source.set_topic_config("cfg", "message.timestamp.type", "LogAppendTime");
    let run = start(&source, &target);
    let configs = eventually("the target topic", Duration::from_secs(20), || async {
        let c = target.topic_configs("source.cfg");
        (!c.is_empty()).then_some(c)
    })
    .await;
    run.stop().await.unwrap();
    let want: std::collections::BTreeMap<String, String> =
        [("max.message.bytes", "2097152"), ("retention.ms", "12345")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(configs, want);
    assert_eq!(
        target.log("source.cfg", 2).len(),
        0,
        "three partitions exist, like the source's"
    );
}

#[tokio::test]
async fn check_reports_target_topics_that_would_rewrite_batches() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("t", 2);
    source.create_topic("new", 1);
    target.create_topic("source.t", 2);
    target.set_topic_config("source.t", "message.timestamp.type", "LogAppendTime");
    target.set_topic_config("source.t", "compression.type", "gzip");
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(dir.path(), &source.addr(), &target.addr(), "");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "problems make check fail:\n{stdout}");
    assert!(
        stdout.contains("new (1 partitions) -> source.new [will be created]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("t (2 partitions) -> source.t [exists]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("source.t has message.timestamp.type=LogAppendTime"),
        "{stdout}"
    );
    assert!(stdout.contains("source.t has compression.type=gzip"), "{stdout}");
    assert!(
        target.log("source.t", 0).is_empty() && target.topic_configs("source.new").is_empty(),
        "check writes nothing"
    );
}
