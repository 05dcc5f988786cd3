//! The synthetic run in `cargo test`, plaintext and over TLS (no timing is asserted).

use super::*;

/// A short run: records flow, the sink checked and accepted every batch, the relay moved
/// the same bytes. No timing is asserted.
async fn short_run(tls: bool) -> SyntheticReport {
    let options = SyntheticOptions {
        record_size: 256,
        batch_records: 8,
        codec: Codec::Zstd,
        partitions: 3,
        max_in_flight: 5,
        rtt_ms: 1,
        rate_mb: 0.0,
        fetch_max_bytes: 1 << 20,
        duration_secs: 20,
        warmup_secs: 0,
        records: Some(2_000),
        memory_budget_bytes: 64 * 1024 * 1024,
        no_baseline: false,
        tls,
    };
    let report = run(options).await.unwrap();
    assert_eq!(report.rejected, 0, "{report}");
    assert!(report.records >= 2_000, "{report}");
    assert_eq!(report.records, report.batches * 8, "{report}");
    assert_eq!(
        report.wire_bytes,
        report.batches * report.batch_bytes as u64,
        "{report}"
    );
    assert!(report.latency.count() > 0, "{report}");
    assert_eq!(report.baseline.map(|b| b.bytes), Some(report.wire_bytes));
    assert!(report.to_string().contains("every batch accepted"));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_synthetic_run_moves_validated_records() {
    let report = short_run(false).await;
    assert_eq!(report.tls_session, None);
    assert!(report.to_string().contains("plaintext"), "{report}");
}

/// The same over TLS on both legs: the brokers saw TLS handshakes (kmirror trusted the
/// generated CA through its security settings) and the relay baseline ran over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_synthetic_run_over_tls_moves_validated_records() {
    let report = short_run(true).await;
    assert!(report.tls_session.is_some(), "{report}");
    let text = report.to_string();
    assert!(text.contains("TLS on both legs"), "{text}");
    assert!(text.contains("TLS relay"), "{text}");
}
