//! `kmirror bench e2e`: against real clusters, with the replication engine in this process.
//!
//! 1. A new source topic `kmirror-e2e-<time>` is created with `partitions` partitions.
//! 2. The engine replicates it (flow `source->target`, default policy: the target topic is
//!    `source.kmirror-e2e-<time>`), offsets kept in a temporary directory.
//! 3. A producer writes `records` records in batches, keyed `k0..k<keys>` (key `n` always to
//!    partition `n mod partitions`), each value carrying its per-key sequence and send time
//!    (see [`super::verify`]); kmirror's own produce path, no producer id, no retries.
//! 4. A consumer reads the target topic from offset 0 while this happens and notes when each
//!    record arrives, until every record is there or nothing new came for `idle_timeout`. It
//!    polls the partitions one after the other (100 ms long polls), so a latency includes up
//!    to one polling round; it is an upper bound of what kmirror adds plus both brokers.
//! 5. [`verify`](super::verify::verify) decides: any loss, duplicate or reorder fails the run.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::BenchError;
use super::verify::{self, Received, Verdict};
use crate::cluster::{Cluster, FetchOptions, IsolationLevel};
use crate::config::ClientConfig;
use crate::protocol::batch::{BatchIter, Compression};
use crate::protocol::records::{BatchSpec, Record, decode_records_bounded, encode_batch};
use crate::replication::engine;

#[derive(Debug, Clone, clap::Args)]
pub struct E2eOptions {
    /// Source cluster bootstrap servers, `host:port[,host:port...]`.
    #[arg(long)]
    pub source: String,
    /// Target cluster bootstrap servers.
    #[arg(long)]
    pub target: String,
    /// Records to send.
    #[arg(long, default_value_t = 10_000)]
    pub records: u64,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Distinct keys (each an ordered stream of sequences).
    #[arg(long, default_value_t = 64)]
    pub keys: u64,
    /// Records per produced batch.
    #[arg(long, default_value_t = 100)]
    pub batch_records: usize,
    /// Bytes per record value.
    #[arg(long, default_value_t = 256)]
    pub record_size: usize,
    /// Records per second to send at most (0: as fast as the source takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Give up reading the target after this long without a new record.
    #[arg(long, default_value_t = 30)]
    pub idle_timeout_secs: u64,
}

/// What an e2e run found.
#[derive(Debug, Clone)]
pub struct E2eReport {
    pub source_topic: String,
    pub target_topic: String,
    pub send_seconds: f64,
    pub seconds: f64,
    pub verdict: Verdict,
}

impl fmt::Display for E2eReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "e2e: {} -> {} (in-process engine)",
            self.source_topic, self.target_topic
        )?;
        writeln!(
            f,
            "  produced in        {:.1} s ({:.0} records/s); all read back after {:.1} s",
            self.send_seconds,
            self.verdict.sent as f64 / self.send_seconds.max(f64::MIN_POSITIVE),
            self.seconds
        )?;
        write!(f, "{}", self.verdict)
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

async fn connect(name: &str, bootstrap: &str) -> Result<Arc<Cluster>, BenchError> {
    let seeds: Vec<String> = bootstrap
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    Cluster::bootstrap(name, &seeds, ClientConfig::default())
        .await
        .map_err(|e| BenchError::cluster(format!("connecting to {name} at {bootstrap}"), e))
}

/// Runs the whole scenario; the report says PASSED or FAILED.
pub async fn run(o: E2eOptions) -> Result<E2eReport, BenchError> {
    if o.partitions < 1 || o.keys < 1 || o.batch_records < 1 {
        return Err(BenchError::Options(
            "partitions, keys and batch records must be at least 1".to_owned(),
        ));
    }
    let source = connect("source", &o.source).await?;
    let target = connect("target", &o.target).await?;
    let topic = format!("kmirror-e2e-{}", now_micros() / 1000);
    let target_topic = format!("source.{topic}");
    source
        .create_topic(&topic, o.partitions, -1, &[])
        .await
        .map_err(|e| BenchError::cluster(format!("creating {topic}"), e))?;

    let state = super::StateDir::new("e2e")?;
    let list = |servers: &str| {
        let quoted: Vec<String> = servers.split(',').map(|s| format!("{:?}", s.trim())).collect();
        format!("[{}]", quoted.join(", "))
    };
    let config = crate::config::from_toml_str(
        &format!(
            "state_dir = {state:?}\n[clusters.source]\nbootstrap_servers = {src}\n\
             [clusters.target]\nbootstrap_servers = {tgt}\n\
             [[flows]]\nsource = \"source\"\ntarget = \"target\"\ntopics = [{topic:?}]\n\
             refresh_topics_interval_ms = 1000\nfetch_max_wait_ms = 100\n",
            state = state.path().display().to_string(),
            src = list(&o.source),
            tgt = list(&o.target),
        ),
        "e2e bench",
    )
    .map_err(|e| BenchError::Options(e.to_string()))?;
    let (stop, stopped) = watch::channel(false);
    let engine = tokio::spawn(engine::run(config, stopped));

    let started = tokio::time::Instant::now();
    let (done_tx, done) = watch::channel(None::<Vec<u64>>);
    let consumer = tokio::spawn(consume(
        target.clone(),
        target_topic.clone(),
        o.partitions,
        o.records,
        done,
        o.idle_timeout_secs,
    ));
    let produced = produce(&source, &topic, &o).await;
    let send_seconds = started.elapsed().as_secs_f64();
    let sent = match produced {
        Ok(sent) => sent,
        Err(e) => {
            let _ = stop.send(true);
            consumer.abort();
            return Err(e);
        }
    };
    let _ = done_tx.send(Some(sent.clone()));
    let partitions = consumer
        .await
        .map_err(|e| BenchError::NoData(format!("the consumer failed: {e}")))??;
    let seconds = started.elapsed().as_secs_f64();
    super::stop_engine(&stop, engine).await?;
    source.close().await;
    target.close().await;
    Ok(E2eReport {
        source_topic: topic,
        target_topic,
        send_seconds,
        seconds,
        verdict: verify::verify(&sent, &partitions),
    })
}

/// Produces every record; returns how many went to each key.
async fn produce(source: &Cluster, topic: &str, o: &E2eOptions) -> Result<Vec<u64>, BenchError> {
    let keys = o.keys;
    let partitions = u64::try_from(o.partitions).unwrap_or(1);
    let mut sent = vec![0u64; usize::try_from(keys).unwrap_or(0)];
    // Key n goes to partition n mod partitions; each partition cycles through its keys.
    let keys_of = |p: u64| (p..keys).step_by(partitions as usize).collect::<Vec<u64>>();
    let by_partition: Vec<Vec<u64>> = (0..partitions).map(keys_of).filter(|k| !k.is_empty()).collect();
    let mut cursor = vec![0usize; by_partition.len()];
    let started = tokio::time::Instant::now();
    let mut written = 0u64;
    let mut turn = 0usize;
    while written < o.records {
        let slot = turn % by_partition.len();
        turn += 1;
        let partition_keys = &by_partition[slot];
        let partition = (partition_keys[0] % partitions) as i32;
        let now = now_micros();
        let n = (o.records - written).min(o.batch_records as u64);
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let k = partition_keys[cursor[slot] % partition_keys.len()];
                cursor[slot] += 1;
                let seq = sent[k as usize];
                sent[k as usize] += 1;
                Record {
                    offset_delta: i as i32,
                    key: Some(Bytes::from(verify::key(k))),
                    value: Some(Bytes::from(verify::value(seq, now, o.record_size))),
                    ..Record::default()
                }
            })
            .collect();
        let spec = BatchSpec {
            compression: Compression::None,
            base_timestamp: now / 1000,
            max_timestamp: now / 1000,
            ..BatchSpec::default()
        };
        let batch = encode_batch(&spec, &records)
            .map_err(|e| BenchError::Options(format!("encoding a batch: {e}")))?;
        let _ = source
            .produce(topic, partition, batch)
            .await
            .map_err(|e| BenchError::cluster(format!("producing to {topic}-{partition}"), e))?;
        written += n;
        if o.rate > 0 {
            let due = started + Duration::from_secs_f64(written as f64 / o.rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
    Ok(sent)
}

/// Reads every target partition from offset 0 until all `expected` records are in (once the
/// producer is done) or nothing new came for `idle_secs`.
async fn consume(
    target: Arc<Cluster>,
    topic: String,
    partitions: i32,
    expected: u64,
    mut done: watch::Receiver<Option<Vec<u64>>>,
    idle_secs: u64,
) -> Result<Vec<Vec<Received>>, BenchError> {
    let options = FetchOptions {
        max_wait: Duration::from_millis(100),
        isolation: IsolationLevel::ReadCommitted,
        ..FetchOptions::default()
    };
    let mut out: Vec<Vec<Received>> = vec![Vec::new(); partitions as usize];
    let mut offsets = vec![0i64; partitions as usize];
    let mut last_progress = tokio::time::Instant::now();
    let idle = Duration::from_secs(idle_secs);
    loop {
        let total: u64 = out.iter().map(|p| p.len() as u64).sum();
        let producer_done = done.borrow_and_update().is_some();
        if producer_done && total >= expected {
            return Ok(out);
        }
        if last_progress.elapsed() > idle {
            return Ok(out);
        }
        let mut progressed = false;
        for p in 0..partitions {
            let i = p as usize;
            let fetched = match target.fetch(&topic, p, offsets[i], &options).await {
                Ok(f) => f,
                // The target topic appears once kmirror created it.
                Err(_) => {
                    let _ = target.refresh_topics(std::slice::from_ref(&topic)).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let at = now_micros();
            for batch in BatchIter::new(fetched.records) {
                let Ok(batch) = batch else { break };
                let records = decode_records_bounded(&batch, 256 << 20).map_err(|e| {
                    BenchError::NoData(format!(
                        "{topic}-{p}: undecodable batch at {}: {e}",
                        batch.base_offset()
                    ))
                })?;
                for r in records {
                    let offset = batch.base_offset() + i64::from(r.offset_delta);
                    if offset < offsets[i] {
                        continue;
                    }
                    out[i].push(Received {
                        key: r.key.map(|k| k.to_vec()),
                        value: r.value.map(|v| v.to_vec()),
                        received_micros: at,
                    });
                    offsets[i] = offset + 1;
                    progressed = true;
                }
                offsets[i] = offsets[i].max(batch.next_offset());
            }
        }
        if progressed {
            last_progress = tokio::time::Instant::now();
        }
    }
}
