//! Shared helpers: a real broker (tansu) per test, the independent Python client, and small
//! utilities.

pub mod kmirror;
pub mod pyclient;
pub mod tansu;

use std::path::PathBuf;
use std::time::Duration;

/// Where `scripts/install-test-deps.sh` put tansu and the Python venv.
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
