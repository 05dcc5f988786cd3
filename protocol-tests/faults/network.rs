//! Network partitions: kmirror in a network namespace of its own, joined to the source's and
//! the target's namespaces by veth pairs ([`crate::support::netns`]); one link taken down for
//! a while, then up. Packets are dropped silently meanwhile, so kmirror's connections hang
//! until its own request timeout notices, the hardest way for a network to fail.
//!
//! Long forms only (`scripts/faults.sh`, root and iproute2 needed): they are `#[ignore]`d in
//! `cargo test`.

use std::time::{Duration, Instant};

use super::harness::{Run, Setup, exclusive, scaled};
use crate::support::kafka::{Kafka, KafkaOptions};
use crate::support::netns::Topology;
use crate::support::stream::Spec;

#[derive(Debug, Clone, Copy)]
enum Towards {
    Source,
    Target,
}

async fn partition(towards: Towards) {
    let _one = exclusive().await;
    let topology = Topology::create();
    let source = Kafka::single_with(KafkaOptions::default().in_netns(topology.source.clone())).await;
    let target = Kafka::cluster(KafkaOptions::default().in_netns(topology.target.clone())).await;
    let mut setup = Setup::new(&source, &target);
    setup.kmirror_ns = Some(topology.kmirror.clone());
    // Both clusters are the scenario's own: heartbeats flow as in production.
    setup.heartbeats = true;
    let (name, link, what) = match towards {
        Towards::Target => ("network partition kmirror-target", &topology.to_target, "target"),
        Towards::Source => ("network partition kmirror-source", &topology.to_source, "source"),
    };
    let mut run = Run::start(name, setup, Spec::default(), Duration::from_secs(8)).await;
    let cut = scaled(Duration::from_secs(10), Duration::from_secs(30));

    let began = Instant::now();
    link.cut();
    run.sleep(cut).await;
    link.restore();
    let fault = run
        .fault_ended(
            format!(
                "the veth link between kmirror and the {what} down for {} s (packets dropped), then up",
                cut.as_secs()
            ),
            began,
        )
        .await;
    let _ = run.finish(fault, Duration::from_secs(20)).await;
    drop(target);
    drop(source);
    drop(topology);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long form: scripts/faults.sh (needs root for network namespaces)"]
async fn network_partition_between_kmirror_and_target() {
    partition(Towards::Target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long form: scripts/faults.sh (needs root for network namespaces)"]
async fn network_partition_between_kmirror_and_source() {
    partition(Towards::Source).await;
}
