//! `kmirror bench synthetic`: the replication engine between a synthetic source and sink (see
//! `broker.rs`) in the same process, so that nothing but kmirror's own work is measured.
//!
//! ```text
//!  synthetic source ──Fetch──► kmirror engine (this process's runtime) ──Produce──► synthetic sink
//!  (own thread, pre-built                                                 (own thread, checks
//!   batches)                                                               every batch)
//! ```
//!
//! Only the replication path is measured: offset syncs, heartbeats and group checkpoints are
//! turned off for the run (the synthetic brokers serve one topic each and no groups).
//!
//! The measurement starts once data reaches the sink (plus a warm-up) and covers `duration`:
//! wire bytes and records accepted by the sink, the replicator's CPU seconds (process CPU
//! minus the synthetic threads'), peak RSS, and the added latency of each batch (its Fetch
//! response leaving the source to its Produce request reaching the sink). The same bytes then
//! go through a plain TCP relay (`bench/relay.rs`) for the baseline.
//!
//! With `--tls` both brokers accept only TLS with a certificate made at start (`bench/tls.rs`),
//! kmirror's clusters are configured with `security.protocol=SSL` and that CA as truststore
//! (the production configuration path), and the baseline relay decrypts and re-encrypts.

mod answers;
mod broker;

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::BenchError;
use super::cpu;
use super::latency::Histogram;
use super::payload;
use super::relay::{self, RelayReport, RelayTls};
use super::tls::BenchTls;
use crate::protocol::batch::Compression;
use crate::replication::engine;

/// Record batch codecs a synthetic source can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl From<Codec> for Compression {
    fn from(c: Codec) -> Self {
        match c {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

/// The knobs of a synthetic run.
#[derive(Debug, Clone, clap::Args)]
pub struct SyntheticOptions {
    /// Bytes per record value (JSON-like events).
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_records: usize,
    #[arg(long, value_enum, default_value_t = Codec::Lz4)]
    pub codec: Codec,
    /// Partitions of the source topic.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Produce requests in flight per target broker (1 to 5).
    #[arg(long, default_value_t = 5)]
    pub max_in_flight: usize,
    /// Round-trip time added to every response of both brokers (a WAN link).
    #[arg(long, default_value_t = 0)]
    pub rtt_ms: u64,
    /// Wire MB per second the source serves at most, for latency at a moderate load (0: as
    /// fast as kmirror fetches).
    #[arg(long, default_value_t = 0.0)]
    pub rate_mb: f64,
    /// kmirror's fetch.max.bytes (the most one Fetch response holds).
    #[arg(long, default_value_t = crate::config::DEFAULT_FETCH_MAX_BYTES)]
    pub fetch_max_bytes: i32,
    /// Length of the measurement.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Time replicating before the measurement starts.
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    /// End the measurement early once the sink has accepted this many records in it.
    #[arg(long)]
    pub records: Option<u64>,
    /// kmirror's memory budget for batches in flight.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub memory_budget_bytes: usize,
    /// Skip the relay baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// TLS on both legs: the synthetic brokers serve a certificate made at start, kmirror
    /// connects with security.protocol=SSL and trusts its CA; the baseline relay decrypts and
    /// re-encrypts.
    #[arg(long)]
    pub tls: bool,
}

/// What a synthetic run measured.
#[derive(Debug, Clone)]
pub struct SyntheticReport {
    pub options: SyntheticOptions,
    pub batch_bytes: usize,
    pub seconds: f64,
    pub wire_bytes: u64,
    pub records: u64,
    pub batches: u64,
    /// The TLS version and cipher suite of kmirror's connections, with `--tls`.
    pub tls_session: Option<String>,
    /// Batches the sink refused (must be 0), and why the first one was.
    pub rejected: u64,
    pub first_rejection: Option<String>,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub latency: Histogram,
    pub baseline: Option<RelayReport>,
}

const GB: f64 = 1e9;

impl SyntheticReport {
    pub fn cpu_seconds_per_gb(&self) -> f64 {
        self.cpu_seconds / (self.wire_bytes as f64 / GB).max(f64::MIN_POSITIVE)
    }
    /// Wire GB/s per core kmirror kept busy.
    pub fn gb_per_core_second(&self) -> f64 {
        1.0 / self.cpu_seconds_per_gb().max(f64::MIN_POSITIVE)
    }
    /// kmirror's CPU per batch, in microseconds: the fixed part of its cost that small
    /// batches pay most for.
    pub fn cpu_us_per_batch(&self) -> f64 {
        self.cpu_seconds * 1e6 / (self.batches as f64).max(1.0)
    }
}

impl fmt::Display for SyntheticReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let ms = |d: Option<Duration>| {
            d.map_or_else(|| "-".to_owned(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
        };
        writeln!(
            f,
            "synthetic: {} partitions, {} B records, {} records ({} B) per {:?} batch, {} in flight, rtt {} ms, fetch.max.bytes {}, source {}, {}",
            o.partitions,
            o.record_size,
            o.batch_records,
            self.batch_bytes,
            o.codec,
            o.max_in_flight,
            o.rtt_ms,
            o.fetch_max_bytes,
            if o.rate_mb > 0.0 {
                format!("paced at {} MB/s", o.rate_mb)
            } else {
                "unpaced".to_owned()
            },
            self.tls_session
                .as_ref()
                .map_or_else(|| "plaintext".to_owned(), |s| format!("TLS on both legs ({s})"))
        )?;
        writeln!(f, "  measured           {:.1} s", self.seconds)?;
        writeln!(
            f,
            "  throughput         {:.3} GB/s wire, {:.0} records/s, {:.0} batches/s",
            self.wire_bytes as f64 / GB / self.seconds,
            self.records as f64 / self.seconds,
            self.batches as f64 / self.seconds
        )?;
        writeln!(
            f,
            "  kmirror CPU        {:.2} s = {:.3} CPU s/GB ({:.2} GB/s per core), {:.1} µs per batch",
            self.cpu_seconds,
            self.cpu_seconds_per_gb(),
            self.gb_per_core_second(),
            self.cpu_us_per_batch()
        )?;
        writeln!(
            f,
            "  peak RSS           {:.1} MiB (process, synthetic brokers included)",
            self.peak_rss_bytes as f64 / 1048576.0
        )?;
        writeln!(
            f,
            "  added latency      p50 {} p99 {} p99.9 {} max {} ({} batches)",
            ms(self.latency.quantile(0.5)),
            ms(self.latency.quantile(0.99)),
            ms(self.latency.quantile(0.999)),
            ms(self.latency.max()),
            self.latency.count()
        )?;
        if let Some(b) = &self.baseline {
            let relay_per_gb = b.cpu_seconds / (b.bytes as f64 / GB);
            writeln!(
                f,
                "  {}    {:.3} CPU s/GB ({:.2} GB/s); kmirror/relay CPU per GB = {:.2}x",
                if o.tls {
                    "TLS relay      "
                } else {
                    "plain TCP relay"
                },
                relay_per_gb,
                b.bytes as f64 / GB / b.seconds,
                self.cpu_seconds_per_gb() / relay_per_gb.max(f64::MIN_POSITIVE)
            )?;
        }
        match &self.first_rejection {
            None => write!(
                f,
                "  validation         every batch accepted (CRC, framing, sequences, records byte for byte)"
            ),
            Some(why) => write!(
                f,
                "  validation         FAILED: {} batches refused; first: {why}",
                self.rejected
            ),
        }
    }
}

/// Runs the engine against the synthetic brokers; see the module docs.
pub async fn run(options: SyntheticOptions) -> Result<SyntheticReport, BenchError> {
    let o = &options;
    if o.partitions < 1 || o.batch_records < 1 || o.record_size < 64 {
        return Err(BenchError::Options(
            "partitions and batch records must be at least 1, records at least 64 bytes".to_owned(),
        ));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let batch = payload::batch(o.record_size, o.batch_records, o.codec.into(), now_ms, 42)
        .map_err(|e| BenchError::Options(format!("cannot build the batch: {e}")))?;
    let batch_bytes = batch.len();
    let tls = if o.tls { Some(BenchTls::generate()?) } else { None };
    let security = |alias: &str| {
        tls.as_ref()
            .map_or_else(String::new, |t| t.cluster_security_toml(alias))
    };
    let brokers = broker::start(
        "bench",
        "src.bench",
        o.partitions,
        batch.clone(),
        Duration::from_millis(o.rtt_ms),
        (o.rate_mb * 1e6) as u64,
        tls.as_ref().map(|t| t.server.clone()),
    )
    .map_err(|e| BenchError::io("starting the synthetic brokers", e))?;
    let state = super::StateDir::new("synthetic")?;
    let config = crate::config::from_toml_str(
        &format!(
            "state_dir = {state:?}\nmemory_budget_bytes = {budget}\n\
             [clusters.src]\nbootstrap_servers = [\"{source}\"]\n{src_security}\
             [clusters.tgt]\nbootstrap_servers = [\"{sink}\"]\n{tgt_security}\
             [[flows]]\nsource = \"src\"\ntarget = \"tgt\"\ntopics = [\"bench\"]\nmax_in_flight = {inflight}\nfetch_max_bytes = {fetch}\nfetch_partition_max_bytes = {partition_fetch}\n\
             [flows.properties]\n\"emit.offset-syncs.enabled\" = false\n\"emit.heartbeats.enabled\" = false\n\
             \"emit.checkpoints.enabled\" = false\n\"refresh.groups.enabled\" = false\n",
            state = state.path().display().to_string(),
            budget = o.memory_budget_bytes,
            source = brokers.source,
            sink = brokers.sink,
            src_security = security("src"),
            tgt_security = security("tgt"),
            inflight = o.max_in_flight,
            fetch = o.fetch_max_bytes,
            partition_fetch = o.fetch_max_bytes.min(1 << 20),
        ),
        "synthetic bench",
    )
    .map_err(|e| BenchError::Options(e.to_string()))?;
    // The relay baseline's TLS client is the one kmirror built from its configuration.
    let relay_tls = match (
        &tls,
        config
            .clusters
            .get("tgt")
            .and_then(|c| c.client.security.tls.as_ref()),
    ) {
        (Some(t), Some(client)) => Some(RelayTls {
            server: t.server.clone(),
            client: client.rustls(),
        }),
        _ => None,
    };
    let (stop, stopped) = watch::channel(false);
    let engine = tokio::spawn(engine::run(config, stopped));

    let stats = &brokers.shared.stats;
    let records = || stats.records.load(Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    while records() == 0 {
        if engine.is_finished() || started.elapsed() > Duration::from_secs(30) {
            let _ = stop.send(true);
            return Err(match engine.await {
                Ok(Err(e)) => BenchError::Replication(Box::new(e)),
                _ => BenchError::NoData("no record reached the synthetic sink within 30 s".to_owned()),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(o.warmup_secs)).await;

    let snapshot = || -> Result<(u64, u64, u64, f64), BenchError> {
        Ok((
            stats.bytes.load(Ordering::Relaxed),
            records(),
            stats.batches.load(Ordering::Relaxed),
            cpu::replicator_seconds().map_err(|e| BenchError::io("reading /proc/self", e))?,
        ))
    };
    *stats.latency.lock().unwrap_or_else(|p| p.into_inner()) = Histogram::default();
    let (bytes0, records0, batches0, cpu0) = snapshot()?;
    let t0 = tokio::time::Instant::now();
    let duration = Duration::from_secs(o.duration_secs);
    while t0.elapsed() < duration
        && o.records.is_none_or(|n| records() - records0 < n)
        && !engine.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (bytes1, records1, batches1, cpu1) = snapshot()?;
    let seconds = t0.elapsed().as_secs_f64();
    let latency = stats.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();

    super::stop_engine(&stop, engine).await?;
    let peak_rss_bytes = cpu::peak_rss_bytes().map_err(|e| BenchError::io("reading /proc/self/status", e))?;
    let rejected = stats.rejected.load(Ordering::Relaxed);
    let first_rejection = stats
        .first_rejection
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let tls_session = brokers
        .shared
        .tls_session
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    drop(brokers);

    let wire_bytes = bytes1 - bytes0;
    let baseline = if o.no_baseline || wire_bytes == 0 {
        None
    } else {
        // The same bytes in pieces the size of a fetch response's records.
        let chunk: Vec<u8> = batch.as_bytes().iter().copied().cycle().take(1 << 20).collect();
        Some(
            tokio::task::spawn_blocking(move || relay::run(wire_bytes, &chunk, relay_tls))
                .await
                .map_err(|e| BenchError::NoData(format!("the relay baseline failed: {e}")))?
                .map_err(|e| BenchError::io("running the relay baseline", e))?,
        )
    };
    Ok(SyntheticReport {
        options,
        batch_bytes,
        tls_session,
        seconds,
        wire_bytes,
        records: records1 - records0,
        batches: batches1 - batches0,
        rejected,
        first_rejection,
        cpu_seconds: cpu1 - cpu0,
        peak_rss_bytes,
        latency,
        baseline,
    })
}

#[cfg(test)]
mod tests;
