//! The command line. Subcommands here are thin: parse, call the library, print.

#![allow(clippy::print_stdout, reason = "the CLI's output is its interface")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};

mod offsets;
mod table;
mod takeover;

use crate::cluster::{Cluster, FetchOptions, IsolationLevel, OffsetSpec};
use crate::config::ClientConfig;
use crate::config::Config;
use crate::protocol::batch::BatchIter;
use crate::replication::{engine, topics};

#[derive(Debug, Parser)]
#[command(
    name = "kmirror",
    version,
    about = "Kafka replication that forwards record batches byte for byte"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replicate the flows of a config file (native TOML or an MM2 `.properties` file) until
    /// SIGTERM or Ctrl-C, which drain the batches in flight and flush the offsets.
    Run {
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Serve Prometheus metrics on `http://ADDR/metrics`, with `/healthz` and `/readyz`
        /// (e.g. `0.0.0.0:9644`; port 0 picks a free port, which is logged). Overrides the
        /// config file's `metrics_addr`.
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Validate a config file, connect to every cluster and print what `run` would replicate,
    /// writing nothing. Exits non-zero with every problem listed.
    Check {
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Read a running kmirror's metrics endpoint twice and print, per flow, the topics and
    /// partitions replicated, the lag in records, the rate and the time to lag 0.
    Status {
        /// The address given to `run --metrics-addr`.
        #[arg(long)]
        metrics_addr: String,
        /// Time between the two reads, for the rate.
        #[arg(long, default_value_t = 2000)]
        interval_ms: u64,
    },
    /// Measure kmirror: `synthetic` (in-memory brokers, kmirror's own cost) or `e2e` (real
    /// clusters, loss/duplicate/order checked). Exits non-zero when a check fails.
    Bench {
        #[command(subcommand)]
        kind: BenchCommand,
    },
    /// Consumer group offsets across a flow.
    Offsets {
        #[command(subcommand)]
        command: OffsetsCommand,
    },
    /// Start kmirror where a stopped MirrorMaker 2 left each partition: MM2's committed source
    /// offsets, and past them the last record it wrote, found on the source by content; writes
    /// one baseline per partition to the offset store (see docs/mirrormaker2.md).
    Takeover {
        /// Take over from MirrorMaker 2 (the only kind there is; required, to say so).
        #[arg(long, required = true)]
        from_mm2: bool,
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// `SRC->TGT`; needed when the configuration enables several flows.
        #[arg(long)]
        flow: Option<String>,
        /// MM2's Connect offsets topic on the target (default `mm2-offsets.<source>.internal`).
        #[arg(long)]
        mm2_offsets_topic: Option<String>,
        /// Print the plan, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Connect to a cluster and print its brokers, topics, partitions, leaders and offsets.
    Metadata {
        /// Bootstrap servers, `host:port[,host:port...]`.
        #[arg(long, short = 'b')]
        bootstrap: String,
    },
    /// Fetch raw batches of one partition and print their headers (nothing is decompressed).
    Inspect {
        #[arg(long, short = 'b')]
        bootstrap: String,
        #[arg(long, short = 't')]
        topic: String,
        #[arg(long, short = 'p', default_value_t = 0)]
        partition: i32,
        /// First offset to fetch; the earliest available when omitted.
        #[arg(long, short = 'o')]
        offset: Option<i64>,
        /// Stop after this many batches.
        #[arg(long, default_value_t = 20)]
        max_batches: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Replicate between a synthetic source and sink in this process: wire GB/s, records/s,
    /// CPU seconds per GB, peak RSS, added latency, and a plain TCP relay of the same bytes.
    Synthetic(crate::bench::synthetic::SyntheticOptions),
    /// Produce sequence-numbered keyed records into a new source topic, replicate it with the
    /// in-process engine, read the target back: latency percentiles, loss, duplicates, order.
    E2e(crate::bench::e2e::E2eOptions),
    /// The end-to-end verifier on files another program wrote (what it sent per key, what it
    /// read from the target): loss, duplicates, order, latency. For replicators kmirror does
    /// not run itself (benches/compare.sh).
    Verify(crate::bench::verify_files::VerifyOptions),
}

async fn bench(kind: BenchCommand) -> anyhow::Result<()> {
    match kind {
        BenchCommand::Synthetic(options) => {
            // Metrics are recorded as in a deployment (with nothing serving them), so that
            // their cost on the hot path is part of the figures.
            let _metrics = crate::observe::install_recorder()?;
            let report = crate::bench::synthetic::run(options).await?;
            println!("{report}");
            anyhow::ensure!(
                report.rejected == 0,
                "the synthetic sink refused {} batches",
                report.rejected
            );
        }
        BenchCommand::E2e(options) => {
            let report = crate::bench::e2e::run(options).await?;
            println!("{report}");
            anyhow::ensure!(
                report.verdict.passed(),
                "FAILED: records were lost, duplicated or reordered"
            );
        }
        BenchCommand::Verify(options) => {
            let verdict = crate::bench::verify_files::run(&options)?;
            println!("{verdict}");
            println!("{}", crate::bench::verify_files::summary_line(&verdict));
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum OffsetsCommand {
    /// Print, per partition, a group's committed offset on the source, the exact offset of the
    /// same record on the target, and the lag; `--commit` commits the translation on the
    /// target once (refused while the group has members there; never rewinds).
    Translate {
        #[arg(long, short = 'c')]
        config: PathBuf,
        #[arg(long, short = 'g')]
        group: String,
        /// `SRC->TGT`; needed when the configuration enables several flows.
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        commit: bool,
    },
}

async fn connect(bootstrap: &str) -> anyhow::Result<Arc<Cluster>> {
    let seeds: Vec<String> = bootstrap
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    anyhow::ensure!(!seeds.is_empty(), "--bootstrap names no server");
    Ok(Cluster::bootstrap(bootstrap, &seeds, ClientConfig::default()).await?)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config, metrics_addr } => run_flows(&config, metrics_addr).await,
        Command::Check { config } => check(&config).await,
        Command::Status {
            metrics_addr,
            interval_ms,
        } => status(&metrics_addr, interval_ms).await,
        Command::Bench { kind } => bench(kind).await,
        Command::Offsets {
            command:
                OffsetsCommand::Translate {
                    config,
                    group,
                    flow,
                    commit,
                },
        } => offsets::translate(&config, &group, flow.as_deref(), commit).await,
        Command::Takeover {
            from_mm2: _,
            config,
            flow,
            mm2_offsets_topic,
            dry_run,
        } => takeover::from_mm2(&config, flow.as_deref(), mm2_offsets_topic.as_deref(), dry_run).await,
        Command::Metadata { bootstrap } => metadata(&bootstrap).await,
        Command::Inspect {
            bootstrap,
            topic,
            partition,
            offset,
            max_batches,
        } => inspect(&bootstrap, &topic, partition, offset, max_batches).await,
    }
}

async fn metadata(bootstrap: &str) -> anyhow::Result<()> {
    let cluster = connect(bootstrap).await?;
    let snapshot = cluster.metadata();
    println!(
        "cluster id: {}",
        snapshot.cluster_id.as_deref().unwrap_or("(none)")
    );
    for b in snapshot.brokers.values() {
        let controller = if b.node_id == snapshot.controller_id {
            " (controller)"
        } else {
            ""
        };
        println!("broker {} at {}{controller}", b.node_id, b.addr());
    }
    let mut topics: Vec<_> = snapshot.topics.values().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    for t in topics {
        println!("topic {} ({} partitions)", t.name, t.partitions.len());
        for p in &t.partitions {
            let earliest = cluster
                .list_offset(&t.name, p.partition, OffsetSpec::Earliest)
                .await;
            let latest = cluster
                .list_offset(&t.name, p.partition, OffsetSpec::Latest)
                .await;
            let show = |r: Result<i64, _>| {
                r.map_or_else(
                    |e: crate::cluster::ClusterError| format!("error: {e}"),
                    |o| o.to_string(),
                )
            };
            println!(
                "  partition {} leader {} offsets {}..{}",
                p.partition,
                p.leader,
                show(earliest),
                show(latest)
            );
        }
    }
    cluster.close().await;
    Ok(())
}

async fn inspect(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    offset: Option<i64>,
    max_batches: usize,
) -> anyhow::Result<()> {
    let cluster = connect(bootstrap).await?;
    let mut next = match offset {
        Some(o) => o,
        None => {
            cluster
                .list_offset(topic, partition, OffsetSpec::Earliest)
                .await?
        }
    };
    let end = cluster.list_offset(topic, partition, OffsetSpec::Latest).await?;
    let options = FetchOptions {
        isolation: IsolationLevel::ReadUncommitted,
        ..FetchOptions::default()
    };
    println!("{topic}-{partition}: fetching from offset {next}, end offset {end}");
    println!(
        "{:>10} {:>10} {:>7} {:>7} {:>8} {:>8} {:>10} {:>5}",
        "base", "last", "records", "codec", "kind", "bytes", "producer", "crc"
    );
    let mut shown = 0;
    while next < end && shown < max_batches {
        let fetched = cluster.fetch(topic, partition, next, &options).await?;
        let before = next;
        for item in BatchIter::new(fetched.records) {
            let batch = item.map_err(|e| anyhow::anyhow!("{topic}-{partition}: {e}"))?;
            let crc = if batch.verify_crc().is_ok() { "ok" } else { "BAD" };
            println!(
                "{:>10} {:>10} {:>7} {:>7} {:>8} {:>8} {:>10} {:>5}",
                batch.base_offset(),
                batch.last_offset(),
                batch.record_count(),
                format!("{:?}", batch.compression()).to_lowercase(),
                format!("{:?}", batch.kind()).to_lowercase(),
                batch.len(),
                batch.producer_id(),
                crc
            );
            next = next.max(batch.next_offset());
            shown += 1;
            if shown >= max_batches {
                break;
            }
        }
        anyhow::ensure!(
            next > before,
            "{topic}-{partition}: no complete batch at offset {before}"
        );
    }
    cluster.close().await;
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Config> {
    let config = crate::config::load(path)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    anyhow::ensure!(!config.flows.is_empty(), "{}: no flow is enabled", path.display());
    Ok(config)
}

/// Turns true on SIGTERM or SIGINT. The handlers are in place when this returns.
fn shutdown_signal() -> anyhow::Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    drop(tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    }));
    Ok(rx)
}

async fn run_flows(path: &Path, metrics_addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let config = load(path)?;
    let readiness = crate::observe::Readiness::default();
    if let Some(addr) = metrics_addr.or(config.metrics_addr) {
        let bound = crate::observe::serve(addr, readiness.clone())
            .await
            .map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: {e}"))?;
        tracing::info!("metrics on http://{bound}/metrics (health: /healthz, readiness: /readyz)");
    }
    for flow in &config.flows {
        tracing::info!(flow = %flow.name(), "starting; SIGTERM or Ctrl-C stops after draining");
    }
    engine::run_with(config, shutdown, readiness).await?;
    tracing::info!("stopped; offsets flushed");
    Ok(())
}

async fn check(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    for w in &config.warnings {
        println!("warning: {w}");
    }
    let mut problems = Vec::new();
    let mut clusters = std::collections::HashMap::new();
    for (alias, c) in &config.clusters {
        match Cluster::bootstrap(alias, &c.bootstrap_servers, c.client.clone()).await {
            Ok(cluster) => {
                println!(
                    "cluster {alias}: connected ({} brokers)",
                    cluster.metadata().brokers.len()
                );
                let _ = clusters.insert(alias.clone(), cluster);
            }
            Err(e) => problems.push(format!("cluster {alias}: {e}")),
        }
    }
    for flow in &config.flows {
        let (Some(source), Some(target)) = (clusters.get(&flow.source), clusters.get(&flow.target)) else {
            continue;
        };
        println!("flow {}:", flow.name());
        let plans = match topics::plan(flow, source, target).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("flow {}: {e}", flow.name()));
                continue;
            }
        };
        if plans.is_empty() {
            println!("  (no source topic matches)");
        }
        for plan in plans {
            let state = match plan.target_partitions {
                None => "will be created".to_owned(),
                Some(n) if n < plan.partitions => {
                    format!("exists with {n} partitions, will grow to {}", plan.partitions)
                }
                Some(n) if n > plan.partitions => {
                    format!("exists with {n} partitions (more than the source)")
                }
                Some(_) => "exists".to_owned(),
            };
            println!(
                "  {} ({} partitions) -> {} [{state}]",
                plan.source_topic, plan.partitions, plan.target_topic
            );
            if plan.target_partitions.is_none() {
                // Validate-only requests: the target creates nothing.
                match topics::plan_creation(flow, source, target, &plan).await {
                    Ok(creation) => {
                        if let Some((limit, _)) = creation.size {
                            println!(
                                "    will set max.message.bytes={limit}: the source admits batches that large"
                            );
                        }
                        for r in &creation.left_out {
                            println!(
                                "    warning: will leave out {}={}, which the target refuses: {}",
                                r.name, r.value, r.reason
                            );
                        }
                    }
                    Err(e) => problems.push(format!("target topic {}: {e}", plan.target_topic)),
                }
            }
            if plan.target_partitions.is_some() {
                match topics::size_shortfall(source, target, &plan).await {
                    Ok(Some((source_limit, target_limit))) => problems.push(format!(
                        "target topic {} has max.message.bytes={target_limit}, less than source topic {} admits ({source_limit}): larger source batches will be refused (kmirror forwards batches whole; raise it to {source_limit})",
                        plan.target_topic, plan.source_topic
                    )),
                    Ok(None) => {}
                    Err(e) => println!("    (cannot compare the batch size limits: {e})"),
                }
                match target.describe_topic_config(&plan.target_topic).await {
                    Ok(entries) => {
                        for e in entries {
                            let value = e.value.as_deref().unwrap_or("");
                            if e.name == "message.timestamp.type" && value == "LogAppendTime" {
                                problems.push(format!(
                                    "target topic {} has message.timestamp.type=LogAppendTime: the broker will overwrite the source timestamps",
                                    plan.target_topic
                                ));
                            }
                            if e.name == "compression.type" && value != "producer" && !value.is_empty() {
                                problems.push(format!(
                                    "target topic {} has compression.type={value}: the broker will recompress every batch (set it to producer to keep batches byte for byte)",
                                    plan.target_topic
                                ));
                            }
                        }
                    }
                    Err(e) => println!("    (cannot read the target topic's configuration: {e})"),
                }
            }
        }
    }
    for report in crate::check::probe::check(&config, &clusters).await {
        problems.extend(print_permissions(&report));
    }
    for cluster in clusters.values() {
        cluster.close().await;
    }
    if problems.is_empty() {
        println!("ok");
        Ok(())
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        anyhow::bail!("{} problem(s) found", problems.len())
    }
}

/// Prints the permission check of one cluster; returns a problem per missing permission.
fn print_permissions(report: &crate::check::probe::ClusterPermissions) -> Vec<String> {
    println!(
        "permissions of {} on cluster {}:",
        report.principal, report.cluster
    );
    for note in &report.notes {
        println!("  (incomplete: {note})");
    }
    for (need, why) in &report.unchecked {
        println!(
            "  not checked: {} on {} ({why})",
            crate::cluster::acls::operation_name(need.operation),
            need.resource
        );
    }
    if report.missing.is_empty() {
        println!("  everything the flows need is allowed");
    }
    report
        .missing
        .iter()
        .map(|m| {
            println!("  missing: {}", m.line());
            println!("    grant: {}", m.kafka_acls(&report.bootstrap));
            m.line()
        })
        .collect()
}

/// `GET /metrics` from a kmirror endpoint (HTTP/1.1, one request, at most 64 MiB of answer).
async fn scrape(addr: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        let _ = s.take(64 << 20).read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(std::time::Duration::from_secs(10), fetch)
        .await
        .map_err(|_| anyhow::anyhow!("{addr}: no answer within 10 s"))?
        .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("{addr}: not an HTTP response"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{addr}: {}",
        head.lines().next().unwrap_or("")
    );
    Ok(body.to_owned())
}

async fn status(addr: &str, interval_ms: u64) -> anyhow::Result<()> {
    use crate::observe::status::{parse_samples, render, stopped_partitions, summarize};
    let before = parse_samples(&scrape(addr).await?);
    let started = tokio::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(interval_ms)).await;
    let after = parse_samples(&scrape(addr).await?);
    let flows = summarize(&before, &after, started.elapsed().as_secs_f64());
    print!("{}", render(&flows, &stopped_partitions(&after)));
    Ok(())
}
