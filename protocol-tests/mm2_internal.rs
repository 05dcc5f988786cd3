//! MM2 internal topics against the fake broker: creation as MM2 creates them, the
//! internal-topic writer under produce errors (which a real broker does not answer on demand),
//! and offset syncs of compacted batches with gaps placed exactly where the test wants them.

use std::time::Duration;

use bytes::Bytes;

use kafka_protocol::messages::ApiKey;
use kmirror::cluster::Cluster;
use kmirror::config::ClientConfig;
use kmirror::offsets::mm2::{Ensured, InternalTopicWriter, ensure_internal_topic};
use kmirror::protocol::batch::RecordBatch;
use kmirror::protocol::errors;
use kmirror::protocol::mm2::{Mm2Record, OffsetSync};
use kmirror::protocol::records::{BatchSpec, Record, decode_records, encode_batch};
use kmirror::testkit::{FakeBroker, Fault};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::eventually;

fn fast() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(500),
        reconnect_backoff: Duration::from_millis(10),
        reconnect_backoff_max: Duration::from_millis(50),
        request_retries: 2,
        ..ClientConfig::default()
    }
}

fn sync(partition: i32, u: i64) -> OffsetSync {
    OffsetSync {
        topic: "orders".to_owned(),
        partition,
        upstream_offset: u,
        downstream_offset: u + 7,
    }
}

/// Every record stored in partition 0 of `topic`, decoded as offset syncs.
fn stored_syncs(broker: &FakeBroker, topic: &str) -> Vec<OffsetSync> {
    broker
        .log(topic, 0)
        .into_iter()
        .flat_map(|b| decode_records(&RecordBatch::try_from_bytes(b.bytes).unwrap()).unwrap())
        .map(|r| OffsetSync::decode(&r.key.unwrap(), &r.value.unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn internal_topics_are_created_compacted_with_one_partition_once() {
    let broker = FakeBroker::start().await;
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let name = TOPIC;
    assert_eq!(
        ensure_internal_topic(&cluster, name, None).await.unwrap(),
        Ensured::Created
    );
    assert_eq!(
        broker
            .topic_configs(name)
            .get("cleanup.policy")
            .map(String::as_str),
        Some("compact")
    );
    assert_eq!(cluster.metadata().topic(name).unwrap().partitions.len(), 1);
    assert_eq!(
        ensure_internal_topic(&cluster, name, Some(3)).await.unwrap(),
        Ensured::Existed
    );
    assert_eq!(broker.request_count(ApiKey::CreateTopics), 1);
}

const TOPIC: &str = "mm2-offset-syncs.B.internal";

/// A fake broker with the internal topic, `fault` injected, and a writer to the topic.
async fn writer_after(
    fault: Fault,
) -> (
    FakeBroker,
    InternalTopicWriter,
    JoinHandle<()>,
    watch::Sender<bool>,
) {
    let broker = FakeBroker::start().await;
    let cluster = Cluster::bootstrap("fake", &[broker.addr()], fast())
        .await
        .unwrap();
    let _ = ensure_internal_topic(&cluster, TOPIC, None).await.unwrap();
    broker.inject(fault);
    let (stop_tx, stop) = watch::channel(false);
    let (writer, task) = InternalTopicWriter::spawn(cluster, TOPIC, metrics::Counter::noop(), stop);
    (broker, writer, task, stop_tx)
}

#[tokio::test]
async fn the_writer_retries_retriable_errors_and_keeps_order() {
    // More failures in a row than the cluster's own retries: the writer keeps going.
    let (broker, writer, task, _stop) = writer_after(Fault::Error {
        api: ApiKey::Produce,
        code: errors::NOT_LEADER_OR_FOLLOWER,
        times: 5,
    })
    .await;
    let want: Vec<OffsetSync> = (0..20).map(|i| sync(i % 3, i64::from(i) * 10)).collect();
    for s in &want {
        writer
            .try_send(writer.encode(s, 1_700_000_000_000).unwrap())
            .unwrap();
    }
    writer.flush().await.unwrap();
    assert_eq!(stored_syncs(&broker, TOPIC), want);
    assert!(broker.request_count(ApiKey::Produce) >= 6);
    drop(writer);
    task.await.unwrap();
}

#[tokio::test]
async fn the_writer_drops_a_refused_batch_and_goes_on() {
    let (broker, writer, _task, _stop) = writer_after(Fault::Error {
        api: ApiKey::Produce,
        code: errors::INVALID_RECORD,
        times: 1,
    })
    .await;
    for u in [1, 2] {
        writer.send(writer.encode(&sync(0, u), 0).unwrap()).await.unwrap();
        writer.flush().await.unwrap();
    }
    assert_eq!(stored_syncs(&broker, TOPIC), vec![sync(0, 2)]);
}

/// A compacted source partition: batches whose records have offset gaps, one of them without
/// its first record (the base offset holds nothing). Every sync must name an offset that holds
/// a record, paired with that record's target offset, and MM2's gap rule fires inside batches.
#[tokio::test]
async fn syncs_of_compacted_batches_name_records_that_exist() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("compacted", 1);
    for (base, deltas) in [(0, &[0, 2, 5, 6][..]), (10, &[1, 2, 5][..])] {
        let records: Vec<Record> = deltas
            .iter()
            .map(|&offset_delta| Record {
                offset_delta,
                value: Some(Bytes::from(format!("at {}", base + i64::from(offset_delta)))),
                ..Record::default()
            })
            .collect();
        let spec = BatchSpec {
            base_offset: base,
            last_offset_delta: Some(9),
            ..BatchSpec::default()
        };
        source.append_raw("compacted", 0, encode_batch(&spec, &records).unwrap());
    }
    let run = crate::replication_faults::start(&source, &target);
    let syncs = eventually("the syncs of both batches", Duration::from_secs(20), || async {
        let syncs = stored_syncs(&source, "mm2-offset-syncs.target.internal");
        syncs
            .iter()
            .any(|s| s.topic == "compacted" && s.upstream_offset == 15)
            .then_some(syncs)
    })
    .await;
    run.stop().await.unwrap();
    // (The replicated `heartbeats` topic has syncs too.)
    let pairs: Vec<(i64, i64)> = syncs
        .iter()
        .filter(|s| s.topic == "compacted")
        .map(|s| (s.upstream_offset, s.downstream_offset))
        .collect();
    // Source 0, 2, 5, 6 | 11, 12, 15 are target 0..7. Gaps sync 2, 5, 11 and 15; batch
    // starts sync 0 and 11; 6 would be delayed but the next batch's sync replaces it.
    assert_eq!(pairs, [(0, 0), (2, 1), (5, 2), (11, 4), (15, 6)]);
    let on_target: Vec<_> = target
        .log("source.compacted", 0)
        .into_iter()
        .flat_map(|b| decode_records(&RecordBatch::try_from_bytes(b.bytes).unwrap()).unwrap())
        .map(|r| r.value)
        .collect();
    for (u, d) in pairs {
        assert_eq!(on_target[d as usize], Some(Bytes::from(format!("at {u}"))));
    }
}
