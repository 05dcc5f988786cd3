//! Faults of the three-node target cluster (replication factor 3, `min.insync.replicas=2`)
//! during a continuous stream: its busiest leader killed and restarted, the followers of every
//! partition paused past kmirror's request timeout, the whole cluster stopped and started.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::harness::{Run, Setup, exclusive, scaled};
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::pyclient;
use crate::support::stream::Spec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_leader_killed_and_restarted() {
    let _one = exclusive().await;
    let source = kafka::shared_source().await;
    let mut target = Kafka::cluster(KafkaOptions::default()).await;
    let mut run = Run::start(
        "target leader killed",
        Setup::new(source, &target),
        Spec::default(),
        Duration::from_secs(8),
    )
    .await;
    // The node that leads most of the target topic's partitions.
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for p in pyclient::describe_topic(&target.addr(), &run.target_topic).await {
        *led.entry(p.leader).or_default() += 1;
    }
    let (&leader, &partitions) = led.iter().max_by_key(|(_, n)| **n).expect("leaders");
    let down = scaled(Duration::from_secs(10), Duration::from_secs(20));

    let began = Instant::now();
    let i = target.index_of(leader);
    target.kill(i);
    run.sleep(down).await;
    target.start_node(i).await;
    let fault = run
        .fault_ended(
            format!(
                "node {leader}, leader of {partitions} of 4 partitions, SIGKILL, restarted on its log dirs after {} s",
                down.as_secs()
            ),
            began,
        )
        .await;
    let _ = run
        .finish(fault, scaled(Duration::from_secs(15), Duration::from_secs(20)))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_followers_paused_past_the_request_timeout() {
    let _one = exclusive().await;
    let source = kafka::shared_source().await;
    let target = Kafka::cluster(KafkaOptions::default()).await;
    // Node 1 leads every partition; nodes 2 and 3 follow them all.
    let spec = Spec::default();
    let replicas = vec![vec![1, 2, 3]; spec.partitions as usize];
    // CI: a 3 s request timeout and 8 s paused; the long form keeps kmirror's default (30 s).
    let (timeout, paused) = scaled(
        (Some(Duration::from_secs(3)), Duration::from_secs(8)),
        (None, Duration::from_secs(40)),
    );
    let mut setup = Setup::new(source, &target);
    if let Some(t) = timeout {
        setup = setup.extra(&format!("target.request.timeout.ms = {}", t.as_millis()));
    }
    setup.target_replicas = Some(replicas);
    let mut run = Run::start("target followers paused", setup, spec, Duration::from_secs(8)).await;

    let began = Instant::now();
    let followers = [target.index_of(2), target.index_of(3)];
    for &i in &followers {
        target.pause(i);
    }
    run.sleep(paused).await;
    for &i in &followers {
        target.resume(i);
    }
    let request_timeout = timeout.unwrap_or(Duration::from_secs(30));
    let fault = run
        .fault_ended(
            format!(
                "nodes 2 and 3, followers of every partition, SIGSTOP for {} s (request timeout {} s), SIGCONT",
                paused.as_secs(),
                request_timeout.as_secs()
            ),
            began,
        )
        .await;
    // The produces that hung on the paused followers fail at the request timeout, which can
    // come after the followers are back: the outcomes were unknown, and kmirror sent those
    // batches again.
    crate::support::eventually(
        "a produce failing on the paused followers (outcome unknown, batches sent again)",
        Duration::from_secs(60),
        || {
            let seen = run.logs().contains("sending the unacknowledged batches again");
            async move { seen.then_some(()) }
        },
    )
    .await;
    let _ = run.finish(fault, Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long form: scripts/faults.sh"]
async fn target_cluster_stopped_and_started() {
    let _one = exclusive().await;
    let source = kafka::shared_source().await;
    let mut target = Kafka::cluster(KafkaOptions::default()).await;
    let mut run = Run::start(
        "whole target cluster stopped",
        Setup::new(source, &target),
        Spec::default(),
        Duration::from_secs(8),
    )
    .await;
    let down = scaled(Duration::from_secs(10), Duration::from_secs(60));

    let began = Instant::now();
    for i in 0..3 {
        target.kill(i);
    }
    run.sleep(down).await;
    target.start_nodes(&[0, 1, 2]).await;
    let fault = run
        .fault_ended(
            format!(
                "all three nodes SIGKILL, started again on their log dirs after {} s",
                down.as_secs()
            ),
            began,
        )
        .await;
    let _ = run
        .finish(fault, scaled(Duration::from_secs(20), Duration::from_secs(30)))
        .await;
}
