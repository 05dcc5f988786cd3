//! kmirror itself crashing: SIGKILL at random moments of a continuous stream, each time
//! started again on the same state directory. Every restart resumes from the offset store and
//! finds what the killed process had sent but not recorded on the target (idempotent producer
//! state, docs/internals.md), so nothing may be lost or written twice.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::harness::{Run, Setup, exclusive, scaled};
use crate::support::kafka::{self, Kafka, KafkaOptions};
use crate::support::stream::Spec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmirror_killed_at_random_moments() {
    let _one = exclusive().await;
    let source = kafka::shared_source().await;
    let target = Kafka::cluster(KafkaOptions::default()).await;
    let kills = scaled(5, 50);
    // The moments are random; the seed is printed so that a failing run can be replayed
    // (KMIRROR_FAULTS_SEED).
    let seed = std::env::var("KMIRROR_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("kmirror kills: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut run = Run::start(
        "kmirror killed",
        Setup::new(source, &target),
        Spec::default(),
        Duration::from_secs(5),
    )
    .await;

    let began = Instant::now();
    for _ in 0..kills {
        // Anywhere from just after start (still reconciling) to well into steady replication.
        run.sleep(Duration::from_millis(rng.random_range(300..4000)))
            .await;
        run.kill_kmirror();
        // Down for a moment or for a while: the backlog on restart differs.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        run.start_kmirror();
    }
    let fault = run
        .fault_ended(
            format!("{kills} SIGKILLs at random moments (seed {seed}), each followed by a restart"),
            began,
        )
        .await;
    let _ = run.finish(fault, Duration::from_secs(10)).await;
}
