//! `kmirror bench`: numbers about kmirror that are gated by correctness.
//!
//! - [`synthetic`]: the engine between an in-memory source and sink that speak the Kafka
//!   protocol, on their own threads; throughput, CPU seconds per GB, peak RSS and added
//!   latency of kmirror alone, every produced batch checked, against a plain TCP relay.
//! - [`e2e`]: against real clusters: sequence-numbered keyed records with a send timestamp
//!   into the source, replicated by the in-process engine, read back from the target and
//!   checked by [`verify`] for loss, duplicates and per-key order; any of them fails the run.
//!
//! `kmirror bench synthetic --tls` puts TLS on both legs: the synthetic brokers serve a
//! certificate made at start (`bench/tls.rs`), kmirror connects with
//! `security.protocol=SSL`, and the baseline becomes a relay that decrypts and re-encrypts the
//! same bytes.

mod cpu;
pub mod e2e;
mod latency;
mod payload;
mod relay;
pub mod synthetic;
mod tls;
pub mod verify;
pub mod verify_files;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use latency::Histogram;
pub use relay::RelayReport;

use crate::cluster::ClusterError;
use crate::replication::ReplicationError;

#[derive(Debug, Error)]
pub enum BenchError {
    #[error("{0}")]
    Options(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("replication failed: {0}")]
    Replication(Box<ReplicationError>),
    #[error("{what}: {source}")]
    Cluster {
        what: String,
        #[source]
        source: Box<ClusterError>,
    },
    #[error("{0}")]
    NoData(String),
    #[error("TLS set-up of the synthetic brokers: {0}")]
    Tls(String),
}

impl BenchError {
    fn io(what: &str, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_owned(),
            source,
        }
    }

    fn cluster(what: impl Into<String>, source: ClusterError) -> Self {
        Self::Cluster {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Stops the engine started for a run and waits (30 s at most) for it to drain.
async fn stop_engine(
    stop: &tokio::sync::watch::Sender<bool>,
    engine: tokio::task::JoinHandle<Result<(), ReplicationError>>,
) -> Result<(), BenchError> {
    let _ = stop.send(true);
    match tokio::time::timeout(std::time::Duration::from_secs(30), engine).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(BenchError::Replication(Box::new(e))),
        Ok(Err(_)) | Err(_) => Err(BenchError::NoData(
            "the engine did not stop within 30 s".to_owned(),
        )),
    }
}

/// A fresh state directory for the engine's offset store, removed on drop.
#[derive(Debug)]
struct StateDir(PathBuf);

impl StateDir {
    fn new(what: &str) -> Result<Self, BenchError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("kmirror-bench-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| BenchError::io(&format!("creating {}", path.display()), e))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
