//! Shared helpers: Apache Kafka brokers (`kafka`), kmirror as a child process, the
//! independent Python client, and small utilities.

pub mod kafka;
pub mod kmirror;
pub mod mm2;
pub mod netns;
pub mod oauth_issuer;
pub mod pyadmin;
pub mod pyclient;
pub mod stream;

use std::path::PathBuf;
use std::time::Duration;

/// Where `scripts/install-test-deps.sh` put Apache Kafka and the Python venv.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("KMIRROR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `<dir>/mm2.properties`: clusters `source` and `target` at the given addresses, the
/// flow source->target enabled, topics discovered every second, then `extra` lines.
pub fn mm2_properties(dir: &std::path::Path, source: &str, target: &str, extra: &str) -> PathBuf {
    let path = dir.join("mm2.properties");
    let text = format!(
        "clusters = source, target\n\
         source.bootstrap.servers = {source}\n\
         target.bootstrap.servers = {target}\n\
         source->target.enabled = true\n\
         refresh.topics.interval.seconds = 1\n\
         {extra}\n"
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

/// A unique topic name per test.
pub fn topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every batch of a partition from `from` to the end (the high watermark), raw, as the broker
/// serves it.
pub async fn raw_batches(
    cluster: &::kmirror::cluster::Cluster,
    topic: &str,
    partition: i32,
    from: i64,
) -> Vec<::kmirror::protocol::batch::RecordBatch> {
    use ::kmirror::cluster::{FetchOptions, IsolationLevel};
    let options = FetchOptions {
        isolation: IsolationLevel::ReadUncommitted,
        ..FetchOptions::default()
    };
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let fetched = cluster
            .fetch(topic, partition, next, &options)
            .await
            .unwrap_or_else(|e| panic!("fetch {topic}-{partition} at {next}: {e}"));
        let before = next;
        for b in ::kmirror::protocol::batch::BatchIter::new(fetched.records) {
            let b = b.expect("a well-formed batch");
            if b.next_offset() <= next {
                continue;
            }
            next = b.next_offset();
            out.push(b);
        }
        if next >= fetched.high_watermark || next == before {
            return out;
        }
    }
}

/// The byte-for-byte check on a real target: the data batches of a source partition (no
/// control batch, none empty) and the batches of its target partition pair up one to one,
/// with the same record count, codec and timestamp type, and the same records section, byte
/// for byte (only the header fields outside it may differ: offsets, leader epoch, producer
/// identity, the transactional bit, CRC). Returns the number of batches compared.
pub async fn assert_same_batches(
    source: &::kmirror::cluster::Cluster,
    source_topic: &str,
    target: &::kmirror::cluster::Cluster,
    target_topic: &str,
    partition: i32,
) -> usize {
    let from_source: Vec<_> = raw_batches(source, source_topic, partition, 0)
        .await
        .into_iter()
        .filter(|b| !b.is_control() && b.record_count() > 0)
        .collect();
    let on_target = raw_batches(target, target_topic, partition, 0).await;
    assert_eq!(
        from_source.len(),
        on_target.len(),
        "{source_topic}-{partition} -> {target_topic}: batch counts differ"
    );
    for (i, (s, t)) in from_source.iter().zip(&on_target).enumerate() {
        let what = format!(
            "{target_topic}-{partition} batch {i} (source offset {})",
            s.base_offset()
        );
        assert_eq!(s.record_count(), t.record_count(), "{what}: record count");
        assert_eq!(s.compression(), t.compression(), "{what}: codec");
        assert_eq!(
            s.last_offset_delta(),
            t.last_offset_delta(),
            "{what}: offset deltas"
        );
        assert_eq!(s.base_timestamp(), t.base_timestamp(), "{what}: first timestamp");
        assert!(s.records() == t.records(), "{what}: the records section differs");
    }
    from_source.len()
}

/// The data batches of a source partition that `keep` selects (none empty, no control batch)
/// paired one to one, in order, with the batches of its target partition; fails unless the
/// counts match. For sources where not every data batch is replicated (aborted transactions)
/// or not every batch keeps its bytes (compacted batches are renumbered): the caller checks
/// each pair as the case needs, e.g. with [`assert_same_records`].
pub async fn paired_batches(
    source: &::kmirror::cluster::Cluster,
    source_topic: &str,
    target: &::kmirror::cluster::Cluster,
    target_topic: &str,
    partition: i32,
    keep: impl Fn(&::kmirror::protocol::batch::RecordBatch) -> bool,
) -> Vec<(
    ::kmirror::protocol::batch::RecordBatch,
    ::kmirror::protocol::batch::RecordBatch,
)> {
    let from_source: Vec<_> = raw_batches(source, source_topic, partition, 0)
        .await
        .into_iter()
        .filter(|b| !b.is_control() && b.record_count() > 0 && keep(b))
        .collect();
    let on_target = raw_batches(target, target_topic, partition, 0).await;
    assert_eq!(
        from_source.len(),
        on_target.len(),
        "{source_topic}-{partition} -> {target_topic}: batch counts differ"
    );
    from_source.into_iter().zip(on_target).collect()
}

/// The byte-for-byte check of one pair from [`paired_batches`]: same record count, codec,
/// offset deltas and first timestamp, and the same records section.
pub fn assert_same_records(
    what: &str,
    s: &::kmirror::protocol::batch::RecordBatch,
    t: &::kmirror::protocol::batch::RecordBatch,
) {
    let what = format!("{what} (source offset {})", s.base_offset());
    assert_eq!(s.record_count(), t.record_count(), "{what}: record count");
    assert_eq!(s.compression(), t.compression(), "{what}: codec");
    assert_eq!(
        s.last_offset_delta(),
        t.last_offset_delta(),
        "{what}: offset deltas"
    );
    assert_eq!(s.base_timestamp(), t.base_timestamp(), "{what}: first timestamp");
    assert!(s.records() == t.records(), "{what}: the records section differs");
}
