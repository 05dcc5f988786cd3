//! Taking over a flow from MirrorMaker 2 (`kmirror takeover --from-mm2`): kmirror starts each
//! partition right after the last record MM2 wrote, so nothing is copied again and nothing is
//! written twice.
//!
//! MM2 must be stopped first (killed or not). For every partition the flow replicates whose
//! target partition holds records:
//!
//! 1. MM2's committed position: the `MirrorSourceConnector` source offsets in
//!    `mm2-offsets.<source>.internal` on the target ([`connect_offsets`]): the last source
//!    record MM2 knew delivered.
//! 2. What MM2 wrote past it: it produces ahead of its commits, so the target's last record is
//!    looked up on the source by content, from the committed record on ([`matching`]).
//! 3. kmirror's offset store gets a baseline per partition: resume at the source offset after
//!    that record, the target's end offset now. At start the engine reconciles against that end
//!    (equal: nothing to skip) and writes under a new producer identity of its own, as on any
//!    first start.
//!
//! A target partition that is empty and has no committed MM2 offset gets no baseline: kmirror
//! starts it as new (from the earliest source offset, as MM2 does by default). The target end
//! offsets are read before and after; one that moved means MM2 still runs, and nothing is
//! written.

pub mod connect_offsets;
mod error;
pub mod matching;
mod read;

use crate::cluster::{Cluster, OffsetSpec};
use crate::config::FlowConfig;
use crate::offsets::{Entry, OffsetStore, PartitionKey};
use crate::replication::topics;

pub use connect_offsets::SourcePartition;
pub use error::TakeoverError;
pub use matching::{Matched, Matcher};

/// MM2's offsets topic for a flow from `source` (`offset.storage.topic` in dedicated mode).
pub fn default_offsets_topic(source: &str) -> String {
    format!("mm2-offsets.{source}.internal")
}

/// What the takeover decided for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTakeover {
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    /// The last source offset MM2 committed, if any.
    pub committed: Option<i64>,
    /// The target partition's end offset.
    pub target_end: i64,
    pub decision: Decision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing of MM2's on the target: kmirror starts the partition as new.
    Fresh,
    /// Resume at `resume` on the source; the target's last record is source record
    /// `matched.last_source`.
    Resume { resume: i64, matched: Matched },
}

impl PartitionTakeover {
    /// The baseline to log, if any.
    pub fn baseline(&self) -> Option<Entry> {
        match self.decision {
            Decision::Fresh => None,
            Decision::Resume { resume, .. } => Some(Entry::Baseline {
                source_offset: resume,
                target_end: self.target_end,
            }),
        }
    }
}

/// Works out where each partition of `flow` resumes, reading MM2's offsets topic `offsets_topic`
/// on the target, the targets' last records and the source from MM2's committed positions on.
/// Writes nothing.
pub async fn plan(
    flow: &FlowConfig,
    source: &Cluster,
    target: &Cluster,
    offsets_topic: &str,
) -> Result<Vec<PartitionTakeover>, TakeoverError> {
    let committed = read::mm2_committed(target, offsets_topic, &flow.source, &flow.name()).await?;
    let plans = topics::plan(flow, source, target)
        .await
        .map_err(|source_err| TakeoverError::Cluster {
            cluster: source.name().to_owned(),
            source: Box::new(source_err),
        })?;
    let mut out = Vec::new();
    for plan in plans {
        let Some(target_partitions) = plan.target_partitions else {
            // MM2 never created the target topic: nothing of it to take over.
            continue;
        };
        for partition in 0..plan.partitions.min(target_partitions) {
            let sp = SourcePartition {
                topic: plan.source_topic.clone(),
                partition,
            };
            out.push(
                partition_plan(
                    source,
                    target,
                    &plan.source_topic,
                    &plan.target_topic,
                    partition,
                    committed.get(&sp).copied(),
                )
                .await?,
            );
        }
    }
    Ok(out)
}

async fn partition_plan(
    source: &Cluster,
    target: &Cluster,
    source_topic: &str,
    target_topic: &str,
    partition: i32,
    committed: Option<i64>,
) -> Result<PartitionTakeover, TakeoverError> {
    let target_start = read::offset(target, target_topic, partition, OffsetSpec::Earliest).await?;
    let target_end = read::offset(target, target_topic, partition, OffsetSpec::Latest).await?;
    let outcome = |decision| PartitionTakeover {
        source_topic: source_topic.to_owned(),
        target_topic: target_topic.to_owned(),
        partition,
        committed,
        target_end,
        decision,
    };
    if target_end <= target_start {
        return match committed {
            None => Ok(outcome(Decision::Fresh)),
            Some(committed) => Err(TakeoverError::EmptyTarget {
                source_topic: source_topic.to_owned(),
                target_topic: target_topic.to_owned(),
                partition,
                committed,
            }),
        };
    }
    let context = i64::try_from(matching::CONTEXT).unwrap_or(i64::MAX);
    let mut tail = Vec::new();
    read::for_each_record(
        target,
        target_topic,
        partition,
        target_start.max(target_end.saturating_sub(context + 1)),
        target_end,
        |r| tail.push(r),
    )
    .await?;
    let match_error = |e| TakeoverError::Match {
        source_topic: source_topic.to_owned(),
        target_topic: target_topic.to_owned(),
        partition,
        source: e,
    };
    let mut matcher = Matcher::new(tail).map_err(match_error)?;
    let source_start = read::offset(source, source_topic, partition, OffsetSpec::Earliest).await?;
    let source_end = read::offset(source, source_topic, partition, OffsetSpec::Latest).await?;
    let from = committed.map_or(source_start, |c| c.max(source_start));
    read::for_each_record(source, source_topic, partition, from, source_end, |r| {
        matcher.push(r);
    })
    .await?;
    let matched = matcher.finish().map_err(match_error)?;
    let after = read::offset(target, target_topic, partition, OffsetSpec::Latest).await?;
    if after != target_end {
        return Err(TakeoverError::TargetMoving {
            target_topic: target_topic.to_owned(),
            partition,
            before: target_end,
            after,
        });
    }
    Ok(outcome(Decision::Resume {
        resume: matched.last_source + 1,
        matched,
    }))
}

/// Logs the baselines of `planned` for flow `flow` in `store` and makes them durable. A
/// partition the store already knows is refused, unless it is exactly at the planned baseline
/// (a takeover run twice). Returns the number of baselines written.
pub fn write(
    store: &mut dyn OffsetStore,
    flow: &str,
    planned: &[PartitionTakeover],
) -> Result<usize, TakeoverError> {
    let states = store.load()?;
    let mut entries = Vec::new();
    for p in planned {
        let Some(baseline) = p.baseline() else {
            continue;
        };
        let key = PartitionKey::new(flow, p.source_topic.as_str(), p.partition);
        if let Some(state) = states.get(&key) {
            let Entry::Baseline {
                source_offset,
                target_end,
            } = baseline
            else {
                continue;
            };
            if state.resume_offset == source_offset && state.target_next == target_end {
                continue;
            }
            return Err(TakeoverError::AlreadyKnown {
                key,
                resume: state.resume_offset,
            });
        }
        entries.push((key, baseline));
    }
    for (key, entry) in &entries {
        store.append(key, entry)?;
    }
    store.sync()?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::FileStore;

    fn resumed(topic: &str, partition: i32, resume: i64, target_end: i64) -> PartitionTakeover {
        PartitionTakeover {
            source_topic: topic.to_owned(),
            target_topic: format!("source.{topic}"),
            partition,
            committed: Some(resume - 3),
            target_end,
            decision: Decision::Resume {
                resume,
                matched: Matched {
                    last_source: resume - 1,
                    context: 2,
                },
            },
        }
    }

    #[test]
    fn baselines_are_written_once_and_a_second_run_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let planned = vec![
            resumed("orders", 0, 120, 100),
            PartitionTakeover {
                decision: Decision::Fresh,
                ..resumed("orders", 1, 1, 0)
            },
        ];
        {
            let mut store = FileStore::open(dir.path()).unwrap();
            assert_eq!(write(&mut store, "source->target", &planned).unwrap(), 1);
        }
        let mut store = FileStore::open(dir.path()).unwrap();
        assert_eq!(write(&mut store, "source->target", &planned).unwrap(), 0);
        let states = store.load().unwrap();
        let state = &states[&PartitionKey::new("source->target", "orders", 0)];
        assert_eq!((state.resume_offset, state.target_next), (120, 100));
        assert_eq!(states.len(), 1, "no baseline for a partition MM2 never wrote");
    }

    #[test]
    fn a_partition_kmirror_already_replicates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        let key = PartitionKey::new("source->target", "orders", 0);
        store
            .append(
                &key,
                &Entry::Baseline {
                    source_offset: 0,
                    target_end: 0,
                },
            )
            .unwrap();
        store.sync().unwrap();
        let err = write(&mut store, "source->target", &[resumed("orders", 0, 120, 100)]).unwrap_err();
        assert!(
            matches!(err, TakeoverError::AlreadyKnown { resume: 0, .. }),
            "{err}"
        );
    }
}
