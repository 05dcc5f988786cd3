//! `kmirror bench e2e` between two real brokers (tansu 0.6.0): the harness creates its topic,
//! replicates it with the in-process engine, reads the target back and passes only with
//! nothing lost, duplicated or reordered. No timing is asserted.

use crate::support::tansu::TansuBroker;

#[tokio::test]
async fn bench_e2e_passes_between_two_tansu_brokers() {
    let (source, target) = (TansuBroker::start().await, TansuBroker::start().await);
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
