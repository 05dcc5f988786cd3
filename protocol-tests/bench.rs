//! `kmirror bench e2e` between two Apache Kafka brokers: the harness creates its topic,
//! replicates it with the in-process engine, reads the target back and passes only with
//! nothing lost, duplicated or reordered. No timing is asserted.
//!
//! The brokers are the test's own: the harness's flow emits MM2 heartbeats, and a `heartbeats`
//! topic on a shared broker would be replicated by every other test's flow.

use crate::support::kafka::Kafka;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_e2e_passes_between_two_kafka_brokers() {
    let (source, target) = tokio::join!(Kafka::single(), Kafka::single());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args([
            "bench",
            "e2e",
            "--source",
            &source.addr(),
            "--target",
            &target.addr(),
        ])
        .args([
            "--records",
            "3000",
            "--partitions",
            "3",
            "--keys",
            "12",
            "--batch-records",
            "50",
        ])
        .args(["--record-size", "100", "--idle-timeout-secs", "60"])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run kmirror bench e2e");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3000 sent, 3000 read back"), "{stdout}");
    assert!(
        stdout.contains("lost 0, duplicated 0, out of order 0, unexpected 0"),
        "{stdout}"
    );
    assert!(stdout.contains("result             PASSED"), "{stdout}");
    assert!(stdout.contains("end-to-end latency p50 "), "{stdout}");
}
