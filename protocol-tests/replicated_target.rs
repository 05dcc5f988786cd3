//! Produces whose outcome is unknown, on a replicated target: a three-node Apache Kafka
//! cluster (replication factor 3, `min.insync.replicas=2`). A follower of the busy partitions
//! is paused (SIGSTOP) for several of kmirror's request timeouts while a continuous stream is
//! replicated: the leader appends kmirror's batches but cannot commit them, so every produce
//! times out with the batches in the leader's log above the high watermark. When the follower
//! resumes, those batches become committed. kmirror must have sent them again as the same
//! batches (same producer id, epoch and sequences), which the leader recognises as duplicates:
//! every record arrives exactly once, in order, as librdkafka reads the target. The same holds
//! when kmirror is killed (SIGKILL) while its batches wait above the high watermark: the
//! restarted process sends them again under the producer identity its offsets log kept.

use std::time::Duration;

use kmirror::cluster::OffsetSpec;

use crate::replication::caught_up;
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::pyclient::{self, PyRecord};
use crate::support::{mm2_properties, topic};

/// A three-node target whose followers stay in the ISR through the pauses below (the default
/// lag bound is 30 s): the leader then holds every batch above the high watermark instead of
/// shrinking the ISR and committing alone.
async fn replicated_target() -> Kafka {
    Kafka::cluster(KafkaOptions::default().with("replica.lag.time.max.ms=60000")).await
}

/// The flow's configuration: the test's topics, a short request timeout on the target.
fn config(dir: &std::path::Path, source: &Kafka, target: &Kafka, prefix: &str) -> std::path::PathBuf {
    mm2_properties(
        dir,
        &source.addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\n\
             emit.heartbeats.enabled = false\n\
             target.request.timeout.ms = 1500\n"
        ),
    )
}

/// The node (index) that leads neither partition of the target topic: it follows both, as
/// every node holds a replica.
async fn follower_of_both(target: &Kafka, target_topic: &str) -> usize {
    let partitions = pyclient::describe_topic(&target.addr(), target_topic).await;
    let leaders: Vec<i32> = partitions.iter().map(|p| p.leader).collect();
    let id = (1..=3)
        .find(|id| !leaders.contains(id))
        .expect("three nodes, two partitions: one node leads neither");
    target.index_of(id)
}

/// Every record of the source topic once on the target, in order: equal counts and values.
async fn exactly_once(source: &Kafka, target: &Kafka, topic: &str, expected: usize) {
    let src = source.client().await;
    let target_topic = format!("source.{topic}");
    let mut total = 0;
    for p in 0..2 {
        let n = src.list_offset(topic, p, OffsetSpec::Latest).await.unwrap() as usize;
        let a = pyclient::consume(&source.addr(), topic, p, 0, n, 60).await;
        let b = pyclient::consume(&target.addr(), &target_topic, p, 0, n + 1, 15).await;
        let values = |v: &[PyRecord]| v.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(a.len(), n, "{topic}-{p}: source");
        assert_eq!(
            b.len(),
            n,
            "{target_topic}-{p}: {} records on the target for {n} on the source",
            b.len()
        );
        assert!(
            values(&a) == values(&b),
            "{target_topic}-{p}: records differ from the source"
        );
        total += n;
    }
    assert_eq!(total, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_makes_produces_unknown_and_every_record_arrives_once() {
    let source = kafka::shared_source().await;
    let target = replicated_target().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("unknown");
    let seq = format!("{prefix}.seq");
    pyclient::create_topic(&source.addr(), &seq, 2).await;
    let (src, dst) = (source.client().await, target.client().await);
    pyclient::produce_seq(&source.addr(), &seq, 2, "a", 0, 400, 0.0).await;
    let mut k = Kmirror::run(&config(dir.path(), source, &target, &prefix), dir.path());
    caught_up(&src, &dst, &seq, 2, &mut k, Duration::from_secs(120)).await;
    let paused = follower_of_both(&target, &format!("source.{seq}")).await;

    // A stream of 2,000 records over about 10 s; the follower is paused for 8 s of it, more
    // than five request timeouts.
    let addr = source.addr();
    let stream = seq.clone();
    let producer =
        tokio::spawn(async move { pyclient::produce_seq(&addr, &stream, 2, "b", 400, 2000, 10.0).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    target.pause(paused);
    tokio::time::sleep(Duration::from_secs(8)).await;
    target.resume(paused);
    producer.await.unwrap();

    caught_up(&src, &dst, &seq, 2, &mut k, Duration::from_secs(180)).await;
    let log = k.log();
    k.stop_cleanly().await;
    assert!(
        log.contains("sending the unacknowledged batches again"),
        "no produce failed while the follower was paused: the test did not make outcomes unknown; kmirror log:\n{log}"
    );
    assert!(
        !log.contains("with a new one"),
        "the target forgot kmirror's producer: the resend was not tested; kmirror log:\n{log}"
    );
    exactly_once(source, &target, &seq, 2400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmirror_killed_with_batches_above_the_high_watermark_resends_them_once() {
    let source = kafka::shared_source().await;
    let target = replicated_target().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = topic("killed-unknown");
    let seq = format!("{prefix}.seq");
    pyclient::create_topic(&source.addr(), &seq, 2).await;
    let (src, dst) = (source.client().await, target.client().await);
    pyclient::produce_seq(&source.addr(), &seq, 2, "a", 0, 400, 0.0).await;
    let config = config(dir.path(), source, &target, &prefix);
    let mut k = Kmirror::run(&config, dir.path());
    caught_up(&src, &dst, &seq, 2, &mut k, Duration::from_secs(120)).await;
    let paused = follower_of_both(&target, &format!("source.{seq}")).await;

    let addr = source.addr();
    let stream = seq.clone();
    let producer =
        tokio::spawn(async move { pyclient::produce_seq(&addr, &stream, 2, "b", 400, 2000, 10.0).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    target.pause(paused);
    // kmirror is killed while the leader holds its batches uncommitted, and started again
    // while they still are: it cannot know which of them the leader has.
    tokio::time::sleep(Duration::from_secs(3)).await;
    k.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut k = Kmirror::run(&config, dir.path());
    tokio::time::sleep(Duration::from_secs(4)).await;
    target.resume(paused);
    producer.await.unwrap();

    caught_up(&src, &dst, &seq, 2, &mut k, Duration::from_secs(180)).await;
    let log = k.log();
    k.stop_cleanly().await;
    assert!(
        !log.contains("with a new one"),
        "the target forgot kmirror's producer: the resend was not tested; kmirror log:\n{log}"
    );
    exactly_once(source, &target, &seq, 2400).await;
}
