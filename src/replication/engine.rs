//! The replication engine: connects the clusters, loads the offset store, and for every flow
//! discovers topics, prepares the target and runs one task per source partition, until
//! shutdown or a fatal error.
//!
//! A partition task that fails for good stops that partition alone
//! (`partition_failure = stop-partition`, the default): it is logged with flow, topic,
//! partition and source offset, counted in `kmirror_partition_stopped`, named by `/readyz`,
//! and stays stopped until the process restarts, when it resumes from its offsets. Errors that
//! are not one partition's (`failure::scope`), and every failure with
//! `partition_failure = stop-process`, stop every flow and the process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinError, JoinSet};

use super::ReplicationError;
use super::context::FlowContext;
use super::failure::{self, Scope};
use super::partition::PartitionTask;
use super::positions::{Positions, Tracked};
use super::progress::{self, CatchUp, FlowLag, Report};
use super::sync::TopicSync;
use super::topics;
use crate::cluster::{Cluster, FetchOptions, IsolationLevel};
use crate::config::{
    Config, FlowConfig, GappedPolicy, GroupsConfig, LogAppendTimestamps, OffsetSyncsLocation,
    PartitionFailure, TopicSyncConfig,
};
use crate::error::Side;
use crate::metrics;
use crate::observe::{Readiness, StoppedPartition};
use crate::offsets::groups::GroupsTask;
use crate::offsets::mm2::{SyncTopic, heartbeat_pairs, run_heartbeats, spawn_offset_syncs};
use crate::offsets::{FileStore, OffsetStore, OffsetsWriter, PartitionKey, PartitionState, TranslationView};
use crate::protocol::timestamps::Timestamps;

/// Runs every flow of `config` until `shutdown` turns true (then drains and returns `Ok`) or
/// an error stops the process (then stops the rest and returns that error): one that is not
/// a single partition's, or a partition's with `partition_failure = stop-process`.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), ReplicationError> {
    run_with(config, shutdown, Readiness::default()).await
}

/// [`run`], reporting readiness: set once every flow found its topics and started its
/// partitions, cleared when stopping.
pub async fn run_with(
    config: Config,
    mut shutdown: watch::Receiver<bool>,
    readiness: Readiness,
) -> Result<(), ReplicationError> {
    let groups = config
        .flows
        .iter()
        .map(GroupsConfig::of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReplicationError::Config(Box::new(e)))?;
    let syncs = config
        .flows
        .iter()
        .map(TopicSyncConfig::of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReplicationError::Config(Box::new(e)))?;
    let store = FileStore::open(&config.state_dir)
        .map_err(|e| ReplicationError::Store(Box::new(e)))?
        .with_max_history(config.offsets_history_max);
    let (mut store, positions) = Tracked::new(store);
    let stored = store.load().map_err(|e| ReplicationError::Store(Box::new(e)))?;
    let flush_interval = config
        .flows
        .iter()
        .map(|f| f.offset_flush_interval)
        .min()
        .unwrap_or(Duration::from_secs(1));
    let view = TranslationView::new(&stored, config.offsets_history_max);
    let (offsets, writer_thread) = OffsetsWriter::spawn(Box::new(store), flush_interval, view.clone());

    let mut clusters: HashMap<String, Arc<Cluster>> = HashMap::new();
    for flow in &config.flows {
        for (alias, side) in [(&flow.source, Side::Source), (&flow.target, Side::Target)] {
            if clusters.contains_key(alias) {
                continue;
            }
            let c = &config.clusters[alias];
            let cluster = Cluster::bootstrap(alias, &c.bootstrap_servers, c.client.clone())
                .await
                .map_err(|source| ReplicationError::Cluster { side, source })?;
            let _ = clusters.insert(alias.to_string(), cluster);
        }
    }

    // Internal stop signal: the caller's shutdown, or a fatal partition error.
    let (stop_tx, stop) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let budget = Arc::new(Semaphore::new(config.memory_budget_bytes.max(1)));
    let mut tasks = JoinSet::new();
    // Group checkpoints and offset sync: beside replication, never a reason to stop it.
    let mut group_tasks = JoinSet::new();
    let planned = Arc::new(AtomicUsize::new(0));
    // MM2's internal topics: heartbeats of every cluster pair, offset syncs of every flow.
    // These tasks end on the stop signal (heartbeats) or once the flow's partition tasks are
    // gone (offset syncs), after writing what they hold.
    let mut internal = JoinSet::new();
    for pair in heartbeat_pairs(&config.flows) {
        let target = clusters[&pair.target].clone();
        let written = metrics::heartbeats_emitted(&pair.source, &pair.target);
        drop(internal.spawn(run_heartbeats(pair, target, written, stop.clone())));
    }
    for ((flow, groups), sync) in config.flows.iter().zip(groups).zip(syncs) {
        // Topic config and ACL sync: beside replication, like the group tasks.
        let topic_sync = TopicSync {
            flow: flow.clone(),
            config: sync,
            source: clusters[&flow.source].clone(),
            target: clusters[&flow.target].clone(),
        };
        drop(group_tasks.spawn(topic_sync.run(stop.clone())));
        let group_task = GroupsTask {
            flow: flow.clone(),
            config: groups,
            source: clusters[&flow.source].clone(),
            target: clusters[&flow.target].clone(),
            view: view.clone(),
        };
        drop(group_tasks.spawn(group_task.run(stop.clone())));
        let offset_syncs = flow.internal_topics.emit_offset_syncs.then(|| {
            let c = &flow.internal_topics;
            let cluster = match c.offset_syncs_location {
                OffsetSyncsLocation::Source => &flow.source,
                OffsetSyncsLocation::Target => &flow.target,
            };
            let topic = SyncTopic {
                cluster: clusters[cluster].clone(),
                topic: c.offset_syncs_topic(&flow.policy, &flow.source, &flow.target),
                replication_factor: c.offset_syncs_replication_factor,
                lag_max: c.offset_lag_max,
                // MM2 promotes delayed syncs when it commits offsets; kmirror when it makes
                // its offsets durable.
                promote_every: flow.offset_flush_interval,
            };
            let (sender, task) =
                spawn_offset_syncs(topic, metrics::offset_syncs_emitted(&flow.name()), stop.clone());
            drop(internal.spawn(async move {
                let _ = task.await;
            }));
            sender
        });
        let ctx = Arc::new(FlowContext {
            name: flow.name(),
            source: clusters[&flow.source].clone(),
            target: clusters[&flow.target].clone(),
            offsets: offsets.clone(),
            offset_syncs,
            fetch_options: FetchOptions {
                max_wait: flow.fetch_max_wait,
                min_bytes: 1,
                max_bytes: flow.fetch_max_bytes,
                partition_max_bytes: flow.fetch_partition_max_bytes,
                isolation: IsolationLevel::ReadCommitted,
            },
            max_in_flight: flow.max_in_flight,
            fail_on_gapped: flow.gapped_batches == GappedPolicy::Fail,
            log_append_time: match flow.log_append_time_timestamps {
                LogAppendTimestamps::AppendTime => Timestamps::AppendTime,
                LogAppendTimestamps::ProducerTime => Timestamps::Keep,
            },
            budget: budget.clone(),
            budget_bytes: config.memory_budget_bytes.max(1),
            shutdown: stop.clone(),
            lag: FlowLag::new(&flow.name(), config.partition_metrics),
            fetchers: Default::default(),
            producers: Default::default(),
        });
        let states: BTreeMap<PartitionKey, PartitionState> = stored
            .iter()
            .filter(|(k, _)| k.flow == ctx.name)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let on_planned = {
            let (planned, readiness, flows) = (planned.clone(), readiness.clone(), config.flows.len());
            move || {
                if planned.fetch_add(1, Ordering::Relaxed) + 1 == flows {
                    readiness.set(true);
                }
            }
        };
        drop(tokio::spawn(log_progress(ctx.clone(), config.progress_interval)));
        let outcomes = Outcomes {
            ctx: ctx.clone(),
            policy: flow.partition_failure,
            readiness: readiness.clone(),
            positions: positions.clone(),
            tasks: HashMap::new(),
        };
        drop(tasks.spawn(supervise(
            flow.clone(),
            ctx,
            states,
            stop_tx.clone(),
            on_planned,
            outcomes,
        )));
    }

    let mut failure = None;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s), if failure.is_none() && !*stop.borrow() => {
                tracing::info!("shutting down: draining in-flight batches");
                readiness.set(false);
                let _ = stop_tx.send(true);
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    tracing::error!(error = %e, "replication stopped");
                    failure.get_or_insert(e);
                    let _ = stop_tx.send(true);
                }
                Some(Err(join)) => {
                    tracing::error!(error = %join, "a replication task panicked");
                    let _ = stop_tx.send(true);
                }
            },
        }
    }
    // Every flow is done, so every offset-sync sender is gone: the internal-topic tasks write
    // what they hold and end (heartbeats and groups on the stop signal, which is set by now).
    let _ = stop_tx.send(true);
    while internal.join_next().await.is_some() {}
    while group_tasks.join_next().await.is_some() {}
    let flushed = offsets.flush().await;
    drop(offsets);
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    for cluster in clusters.values() {
        cluster.close().await;
    }
    match failure {
        Some(e) => Err(e),
        None => flushed.map_err(|e| ReplicationError::Store(Box::new(e))),
    }
}

/// One flow: topic discovery every refresh interval, target preparation, and the partition
/// tasks. Returns when the stop signal is set and every partition task has drained, or with
/// the error that stops the process (after setting the stop signal).
async fn supervise(
    flow: FlowConfig,
    ctx: Arc<FlowContext>,
    mut stored: BTreeMap<PartitionKey, PartitionState>,
    stop_tx: Arc<watch::Sender<bool>>,
    on_planned: impl FnOnce(),
    mut outcomes: Outcomes,
) -> Result<(), ReplicationError> {
    let mut stop = stop_tx.subscribe();
    let mut on_planned = Some(on_planned);
    // Partitions started, stopped ones included: a stopped partition stays stopped.
    let mut running: HashSet<(String, i32)> = HashSet::new();
    let mut partitions = JoinSet::new();
    let mut result = Ok(());
    'discovery: loop {
        if *stop.borrow() {
            break;
        }
        match topics::plan(&flow, &ctx.source, &ctx.target).await {
            Err(e) => tracing::warn!(flow = %ctx.name, error = %e, "topic discovery failed; retrying"),
            Ok(plans) => {
                let all_prepared = plans.len();
                let mut prepared = 0;
                for plan in plans {
                    let target_partitions = match topics::ensure_target(
                        &flow,
                        &ctx.source,
                        &ctx.target,
                        &plan,
                    )
                    .await
                    {
                        Ok(n) => {
                            prepared += 1;
                            n
                        }
                        Err(e) => {
                            tracing::warn!(flow = %ctx.name, topic = %plan.source_topic, error = %e, "cannot prepare the target topic; retrying");
                            continue;
                        }
                    };
                    for p in 0..plan.partitions.min(target_partitions) {
                        if !running.insert((plan.source_topic.clone(), p)) {
                            continue;
                        }
                        let key = PartitionKey {
                            flow: ctx.name.clone(),
                            topic: plan.source_topic.clone(),
                            partition: p,
                        };
                        let task = PartitionTask::new(ctx.clone(), &plan.source_topic, &plan.target_topic, p);
                        tracing::debug!(flow = %ctx.name, topic = %plan.source_topic, partition = p, "replicating");
                        let handle = partitions.spawn(task.run(stored.remove(&key), stop.clone()));
                        let _ = outcomes.tasks.insert(handle.id(), key);
                    }
                }
                if prepared == all_prepared
                    && let Some(f) = on_planned.take()
                {
                    f();
                }
            }
        }
        let next_discovery = tokio::time::Instant::now() + flow.refresh_topics_interval;
        loop {
            let done = tokio::select! {
                _ = tokio::time::sleep_until(next_discovery) => break,
                _ = stop.wait_for(|s| *s) => break 'discovery,
                Some(done) = partitions.join_next_with_id(), if !partitions.is_empty() => done,
            };
            if let Err(e) = outcomes.ended(done).await {
                result = Err(e);
                let _ = stop_tx.send(true);
                break 'discovery;
            }
        }
    }
    // Drain: every partition task finishes its in-flight batches (the stop signal is set by
    // the engine when this flow fails, too).
    while let Some(done) = partitions.join_next_with_id().await {
        if let Err(e) = outcomes.ended(done).await
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result
}

/// What the end of each partition task of a flow means.
struct Outcomes {
    ctx: Arc<FlowContext>,
    policy: PartitionFailure,
    readiness: Readiness,
    positions: Positions,
    /// The partition of each running task.
    tasks: HashMap<tokio::task::Id, PartitionKey>,
}

impl Outcomes {
    /// `Ok` when the flow goes on (the task ended with the stop signal, or only its partition
    /// stopped); the error that stops the process otherwise.
    async fn ended(
        &mut self,
        done: Result<(tokio::task::Id, Result<(), ReplicationError>), JoinError>,
    ) -> Result<(), ReplicationError> {
        let (id, error) = match done {
            Ok((id, Ok(()) | Err(ReplicationError::Interrupted))) => {
                let _ = self.tasks.remove(&id);
                return Ok(());
            }
            Ok((id, Err(e))) => (id, e),
            Err(join) if join.is_cancelled() => {
                let _ = self.tasks.remove(&join.id());
                return Ok(());
            }
            Err(join) => {
                let id = join.id();
                let partition = self
                    .tasks
                    .get(&id)
                    .map_or_else(|| "a partition".to_owned(), ToString::to_string);
                (
                    id,
                    ReplicationError::Panicked {
                        partition,
                        message: panic_message(join),
                    },
                )
            }
        };
        let Some(key) = self.tasks.remove(&id) else {
            return Err(error);
        };
        let reason = match failure::scope(&error) {
            Scope::Process => return Err(error),
            Scope::Partition(reason) => reason,
        };
        let offset = match failure::source_offset(&error) {
            Some(offset) => offset,
            None => {
                // A refused produce names no source offset; the entries logged before it end
                // at the refused batch. Flushing makes sure the store has seen all of them.
                self.ctx
                    .offsets
                    .flush()
                    .await
                    .map_err(|e| ReplicationError::Store(Box::new(e)))?;
                self.positions.resume_offset(&key).unwrap_or(-1)
            }
        };
        if self.policy == PartitionFailure::StopProcess {
            tracing::error!(flow = %key.flow, topic = %key.topic, partition = key.partition, offset, reason,
                error = %error, "partition failed; stopping every flow (partition_failure = stop-process)");
            return Err(error);
        }
        tracing::error!(flow = %key.flow, topic = %key.topic, partition = key.partition, offset, reason,
            error = %error,
            "partition stopped; the other partitions go on. Fix the cause and restart kmirror: this partition resumes from its offsets");
        metrics::partition_stopped(&key.flow, &key.topic, key.partition, reason, offset);
        self.ctx.lag.stop(&key.topic, key.partition);
        self.readiness.partition_stopped(StoppedPartition {
            flow: key.flow,
            topic: key.topic,
            partition: key.partition,
            offset,
            reason,
            error: error.to_string(),
        });
        Ok(())
    }
}

/// The message of a panic, when it is a string.
fn panic_message(join: JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned()),
        Err(join) => join.to_string(),
    }
}

/// Logs a flow's catch-up every `interval`: percent of the lag measured when it began, rate
/// and ETA; once when it is caught up, then nothing until it falls behind again.
async fn log_progress(ctx: Arc<FlowContext>, interval: Duration) {
    let mut stop = ctx.shutdown.clone();
    let mut state = CatchUp::default();
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (lag, sent, stopped) = ctx.lag.totals();
        let (next, report) = progress::step(state, lag, sent, last.elapsed().as_secs_f64());
        (state, last) = (next, tokio::time::Instant::now());
        match report {
            Report::Quiet => {}
            Report::CaughtUp if stopped > 0 => tracing::info!(
                flow = %ctx.name,
                stopped_partitions = stopped,
                "caught up: lag 0 on every partition but the stopped ones"
            ),
            Report::CaughtUp => tracing::info!(flow = %ctx.name, "caught up: lag 0"),
            Report::CatchingUp {
                percent,
                lag,
                records_per_second,
                eta_seconds,
            } => {
                let eta = eta_seconds.map_or_else(|| "unknown".to_owned(), |s| format!("{:.0}s", s.ceil()));
                tracing::info!(
                    flow = %ctx.name,
                    done = %format_args!("{percent:.1}%"),
                    lag,
                    records_per_second = %format_args!("{records_per_second:.0}"),
                    eta = %eta,
                    "catching up"
                );
            }
        }
    }
}
