//! Consumer groups of one flow: discovery on the source, exact checkpoints on the target, and
//! the optional commit of translated offsets for groups idle on the target.
//!
//! ```text
//! every refresh.groups.interval.seconds   ListGroups (source) ─► consumer groups only
//!                                           (classic `consumer` or no protocol, KIP-848)
//!                                           ─► groups / groups.exclude
//! every emit.checkpoints.interval.seconds OffsetFetch (source) ─► translate (exact map)
//!                                           ─► monotonic filter ─► <source>.checkpoints.internal
//! every sync.group.offsets.interval.seconds ConsumerGroupDescribe / DescribeGroups
//!                                           + OffsetFetch (target)
//!                                           ─► decide (idle only, never rewind) ─► OffsetCommit
//! ```
//!
//! The pure parts are in [`checkpoint`] and [`sync`]; this is the thin loop around them and
//! the one function ([`sync_group`]) that `kmirror offsets translate --commit` shares.

pub mod checkpoint;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::cluster::{Cluster, ClusterError};
use crate::config::{FlowConfig, GroupsConfig};
use crate::metrics;
use crate::offsets::TranslationView;
use crate::offsets::mm2::{InternalTopicWriter, ensure_internal_topic};
use crate::protocol::mm2::Checkpoint;
use checkpoint::{CheckpointLog, GroupCheckpoint, Translated, translate_group};
use sync::{SyncDecision, decide};

/// MM2's checkpoints topic of `flow` on its target: `<source><sep>checkpoints<sep>internal`,
/// with the internal-topic separator the offset-syncs topic uses too (KIP-949; MM2's
/// `DefaultReplicationPolicy.checkpointsTopic`).
pub fn checkpoints_topic(flow: &FlowConfig) -> String {
    let sep = flow.internal_topics.internal_separator(&flow.policy);
    format!("{}{sep}checkpoints{sep}internal", flow.source)
}

/// What one group offset sync did, per partition.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// `(target topic, partition, offset)` committed.
    pub committed: Vec<(String, i32, i64)>,
    /// The group has members on the target (state, member count): nothing was touched.
    pub active: Option<(String, usize)>,
    pub ahead: Vec<sync::SkippedAhead>,
    pub unchanged: usize,
    pub failed: Vec<ClusterError>,
}

/// Commits `checkpoints` of one group on `target` under the rules of [`sync::decide`].
pub async fn sync_group(
    target: &Cluster,
    group: &str,
    checkpoints: &[GroupCheckpoint],
) -> Result<SyncReport, ClusterError> {
    let described = target.describe_group(group).await?;
    let current = target.committed_offsets(group).await?;
    let unreadable: Vec<(String, i32)> = current
        .failed
        .iter()
        .filter_map(|e| match e {
            ClusterError::Group { at: Some(at), .. } => Some((**at).clone()),
            _ => None,
        })
        .collect();
    let mut report = SyncReport {
        failed: current.failed,
        ..SyncReport::default()
    };
    match decide(&described, &current.offsets, &unreadable, checkpoints) {
        SyncDecision::Active { state, members } => report.active = Some((format!("{state:?}"), members)),
        SyncDecision::NotConsumerGroup { protocol_type } => {
            report.active = Some((
                format!("not a consumer group (protocol type `{protocol_type}`)"),
                0,
            ));
        }
        SyncDecision::Sync(plan) => {
            report.ahead = plan.ahead;
            report.unchanged = plan.unchanged;
            let failed = target.commit_offsets(group, &plan.commit).await?;
            for c in &plan.commit {
                let refused = failed.iter().any(|e| {
                    matches!(e, ClusterError::Group { at: Some(at), .. } if at.0 == c.topic && at.1 == c.partition)
                });
                if !refused {
                    report.committed.push((c.topic.clone(), c.partition, c.offset));
                }
            }
            report.failed.extend(failed);
        }
    }
    Ok(report)
}

/// The group work of one flow, run beside its replication until shutdown.
#[derive(Debug)]
pub struct GroupsTask {
    pub flow: FlowConfig,
    pub config: GroupsConfig,
    pub source: Arc<Cluster>,
    pub target: Arc<Cluster>,
    pub view: TranslationView,
}

struct Pass {
    groups: Vec<String>,
    /// The newest translation of every group (all its partitions), for the sync.
    latest: BTreeMap<String, Vec<GroupCheckpoint>>,
    log: CheckpointLog,
    writer: Option<InternalTopicWriter>,
    last_checkpoint: Option<Instant>,
}

impl GroupsTask {
    /// Runs until `shutdown` turns true. Failures are logged and retried at the next tick:
    /// group work never stops replication.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let c = &self.config;
        if !c.emit_checkpoints && !c.sync_group_offsets {
            return;
        }
        let name = self.flow.name();
        let mut pass = Pass {
            groups: Vec::new(),
            latest: BTreeMap::new(),
            log: CheckpointLog::default(),
            writer: None,
            last_checkpoint: None,
        };
        let mut writer_task = None;
        let mut refresh = tokio::time::interval(c.refresh_groups_interval);
        let mut emit = tokio::time::interval(c.emit_checkpoints_interval);
        let mut sync = tokio::time::interval(c.sync_group_offsets_interval);
        let mut age = tokio::time::interval(Duration::from_secs(1));
        for timer in [&mut refresh, &mut emit, &mut sync, &mut age] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        // The first sync waits one interval (as MM2's), so that it uses a full checkpoint pass.
        sync.reset();
        let mut refreshed_once = false;
        let stop = shutdown.clone();
        loop {
            tokio::select! {
                // The guard `wait_for` returns must not live across the awaits below.
                () = async { drop(shutdown.wait_for(|s| *s).await) } => break,
                _ = refresh.tick(), if c.refresh_groups || !refreshed_once => {
                    let new_groups = self.refresh(&mut pass).await;
                    // Checkpoint new groups right away rather than one interval later.
                    if new_groups || !refreshed_once {
                        emit.reset_immediately();
                    }
                    refreshed_once = true;
                }
                _ = emit.tick(), if refreshed_once => {
                    // The checkpoints topic is created when there is a group to checkpoint.
                    if c.emit_checkpoints && pass.writer.is_none() && !pass.groups.is_empty() {
                        match self.start_writer(&stop).await {
                            Ok((w, t)) => {
                                pass.writer = Some(w);
                                writer_task = Some(t);
                            }
                            Err(e) => tracing::warn!(flow = %name, error = %e, "cannot prepare the checkpoints topic; retrying"),
                        }
                    }
                    self.checkpoint(&mut pass).await;
                }
                _ = sync.tick(), if c.sync_group_offsets => self.sync(&pass).await,
                _ = age.tick() => {
                    if let Some(at) = pass.last_checkpoint {
                        metrics::checkpoint_age(&name, at.elapsed().as_secs_f64());
                    }
                }
            }
        }
        drop(pass.writer);
        if let Some(t) = writer_task {
            let _ = t.await;
        }
    }

    async fn start_writer(
        &self,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(InternalTopicWriter, tokio::task::JoinHandle<()>), crate::offsets::mm2::InternalTopicError>
    {
        let topic = checkpoints_topic(&self.flow);
        let rf = self.config.checkpoints_replication_factor;
        let _ = ensure_internal_topic(&self.target, &topic, (rf > 0).then_some(rf)).await?;
        let written = metrics::checkpoints_written(&self.flow.name());
        Ok(InternalTopicWriter::spawn(
            self.target.clone(),
            topic,
            written,
            shutdown.clone(),
        ))
    }

    /// Lists the source groups the filter selects; true when one is new.
    async fn refresh(&self, pass: &mut Pass) -> bool {
        match self.source.consumer_groups().await {
            Ok(all) => {
                let groups: Vec<String> = all
                    .into_iter()
                    .filter(|g| self.config.filter.matches(g))
                    .collect();
                let new = groups.iter().any(|g| !pass.groups.contains(g));
                pass.groups = groups;
                pass.latest.retain(|g, _| pass.groups.contains(g));
                new
            }
            Err(e) => {
                tracing::warn!(flow = %self.flow.name(), error = %e, "cannot list the source groups; retrying");
                false
            }
        }
    }

    async fn checkpoint(&self, pass: &mut Pass) {
        let name = self.flow.name();
        let mut complete = true;
        for group in &pass.groups {
            let offsets = match self.source.committed_offsets(group).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(flow = %name, error = %e, "cannot fetch a group's offsets");
                    complete = false;
                    continue;
                }
            };
            for e in &offsets.failed {
                tracing::warn!(flow = %name, error = %e, "a committed offset could not be read");
            }
            let Translated {
                checkpoints,
                next_record,
                batch_start,
                untranslated,
            } = translate_group(&self.flow, &self.view, group, &offsets.offsets);
            metrics::checkpoint_inexact(&name, "next_record", next_record);
            metrics::checkpoint_inexact(&name, "batch_start", batch_start);
            metrics::checkpoint_inexact(&name, "untranslated", untranslated);
            if let Some(writer) = &pass.writer {
                let fresh = pass.log.select(checkpoints.clone());
                if self.write(writer, &fresh).await {
                    pass.log.written(&fresh);
                } else {
                    complete = false;
                }
            }
            if !checkpoints.is_empty() {
                let _ = pass.latest.insert(group.clone(), checkpoints);
            }
        }
        let written = pass.writer.is_some() || !self.config.emit_checkpoints || pass.groups.is_empty();
        if complete && written {
            pass.last_checkpoint = Some(Instant::now());
            metrics::checkpoint_age(&name, 0.0);
        }
    }

    /// Writes checkpoints and waits until they are on the target.
    async fn write(&self, writer: &InternalTopicWriter, checkpoints: &[GroupCheckpoint]) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        for c in checkpoints {
            let record = Checkpoint {
                group: c.group.clone(),
                topic: c.topic.clone(),
                partition: c.partition,
                upstream_offset: c.upstream,
                downstream_offset: c.downstream,
                metadata: c.metadata.clone(),
            };
            let sent = match writer.encode(&record, now) {
                Ok(r) => writer.send(r).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                tracing::warn!(flow = %self.flow.name(), error = %e, "cannot write a checkpoint");
                return false;
            }
        }
        if checkpoints.is_empty() {
            return true;
        }
        writer.flush().await.is_ok()
    }

    async fn sync(&self, pass: &Pass) {
        let name = self.flow.name();
        for (group, checkpoints) in &pass.latest {
            match sync_group(&self.target, group, checkpoints).await {
                Ok(report) => {
                    if let Some((state, members)) = &report.active {
                        tracing::debug!(flow = %name, group, state, members, "group active on the target; not synced");
                        metrics::group_offset_sync(&name, "skipped_active", checkpoints.len());
                    }
                    for a in &report.ahead {
                        tracing::debug!(flow = %name, group, topic = %a.topic, partition = a.partition, target = a.target, translated = a.translated, "target group ahead; not rewound");
                    }
                    for e in &report.failed {
                        tracing::warn!(flow = %name, group, error = %e, "group offset sync failed");
                    }
                    metrics::group_offset_sync(&name, "committed", report.committed.len());
                    metrics::group_offset_sync(&name, "skipped_ahead", report.ahead.len());
                    metrics::group_offset_sync(&name, "failed", report.failed.len());
                }
                Err(e) => {
                    tracing::warn!(flow = %name, group, error = %e, "group offset sync failed");
                    metrics::group_offset_sync(&name, "failed", checkpoints.len());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::checkpoints_topic;
    use crate::config::from_properties_str;

    fn topic_of(extra: &str) -> String {
        let text = format!(
            "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n\
             A->B.enabled = true\n{extra}"
        );
        let config = from_properties_str(&text, "mm2.properties").expect("config");
        checkpoints_topic(&config.flows[0])
    }

    #[test]
    fn the_checkpoints_topic_follows_the_internal_separator_rule() {
        assert_eq!(topic_of(""), "A.checkpoints.internal");
        assert_eq!(
            topic_of("replication.policy.separator = _\n"),
            "A_checkpoints_internal"
        );
        assert_eq!(
            topic_of(
                "replication.policy.separator = _\n\
                 replication.policy.internal.topic.separator.enabled = false\n"
            ),
            "A.checkpoints.internal"
        );
    }
}
