//! Heartbeats as MM2 writes them (apache/kafka `connect/mirror/.../MirrorHeartbeatTask.java`):
//! for a cluster pair (S, T), a `Heartbeat(S, T, now)` record on `heartbeats` of T every
//! `emit.heartbeats.interval.seconds`.
//!
//! MM2 runs a heartbeat herder for every ordered pair of clusters, also the reverse of an
//! enabled flow (`MirrorMakerConfig.clusterPairs`): with only `A->B` enabled, B->A still writes
//! heartbeats to A, and that `heartbeats` topic is what `A->B` replicates to B as
//! `A.heartbeats`, proving the path end to end. kmirror does the same for the clusters its
//! flows connect: both directions of every flow. A reverse pair without a flow of its own
//! takes the flow's settings.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{InternalTopicWriter, ensure_internal_topic};
use crate::cluster::{Backoff, Cluster};
use crate::config::{FlowConfig, HEARTBEATS_TOPIC};
use crate::protocol::mm2::Heartbeat;

/// One ordered cluster pair that emits heartbeats, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatPair {
    pub source: String,
    pub target: String,
    pub interval: Duration,
    /// Replication factor of a created `heartbeats` topic; `None` = the cluster's default.
    pub replication_factor: Option<i16>,
}

/// The pairs that emit heartbeats for these flows: each flow's own direction and its
/// reverse, once each; a pair's settings come from its own flow if there is one, else from
/// the flow it reverses.
pub fn heartbeat_pairs(flows: &[FlowConfig]) -> Vec<HeartbeatPair> {
    let mut keys = BTreeSet::new();
    for f in flows {
        let _ = keys.insert((f.source.as_str(), f.target.as_str()));
        let _ = keys.insert((f.target.as_str(), f.source.as_str()));
    }
    let flow = |s: &str, t: &str| flows.iter().find(|f| f.source == s && f.target == t);
    keys.into_iter()
        .filter_map(|(source, target)| {
            let c = &flow(source, target)
                .or_else(|| flow(target, source))?
                .internal_topics;
            c.emit_heartbeats.then(|| HeartbeatPair {
                source: source.to_owned(),
                target: target.to_owned(),
                interval: c.heartbeats_interval,
                replication_factor: c.heartbeats_replication_factor,
            })
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes the pair's heartbeats to `heartbeats` on `target` (created when missing) until
/// `stop` is set.
pub async fn run_heartbeats(
    pair: HeartbeatPair,
    target: Arc<Cluster>,
    written: metrics::Counter,
    mut stop: watch::Receiver<bool>,
) {
    let config = target.config();
    let mut backoff = Backoff::new(config.reconnect_backoff, config.reconnect_backoff_max);
    loop {
        match ensure_internal_topic(&target, HEARTBEATS_TOPIC, pair.replication_factor).await {
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(cluster = target.name(), error = %e, "cannot prepare the heartbeats topic; retrying");
                let delay = backoff.next_delay(&mut rand::rng());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
    let (writer, task) = InternalTopicWriter::spawn(target.clone(), HEARTBEATS_TOPIC, written, stop.clone());
    let mut tick = tokio::time::interval(pair.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let now = now_ms();
        let beat = Heartbeat {
            source_alias: pair.source.clone(),
            target_alias: pair.target.clone(),
            timestamp: now,
        };
        // A full queue means the cluster is not taking writes: this beat is skipped, the
        // next one says the same and more.
        if let Err(e) = writer.encode(&beat, now).and_then(|r| writer.try_send(r)) {
            tracing::debug!(source = %pair.source, target = %pair.target, error = %e, "heartbeat skipped");
        }
    }
    drop(writer);
    let _ = task.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InternalTopicsConfig;

    fn flow(source: &str, target: &str, seconds: u64, emit: bool) -> FlowConfig {
        FlowConfig {
            internal_topics: InternalTopicsConfig {
                heartbeats_interval: Duration::from_secs(seconds),
                emit_heartbeats: emit,
                ..InternalTopicsConfig::default()
            },
            ..FlowConfig::new(source, target)
        }
    }

    fn names(pairs: &[HeartbeatPair]) -> Vec<(String, String, u64)> {
        pairs
            .iter()
            .map(|p| (p.source.clone(), p.target.clone(), p.interval.as_secs()))
            .collect()
    }

    fn owned(s: &str, t: &str, secs: u64) -> (String, String, u64) {
        (s.to_owned(), t.to_owned(), secs)
    }

    #[test]
    fn a_flow_gives_both_directions_as_mm2_herders_do() {
        assert_eq!(
            names(&heartbeat_pairs(&[flow("A", "B", 2, true)])),
            [owned("A", "B", 2), owned("B", "A", 2)]
        );
    }

    #[test]
    fn a_pair_with_its_own_flow_takes_that_flows_settings() {
        let pairs = heartbeat_pairs(&[flow("A", "B", 2, true), flow("B", "A", 7, true)]);
        assert_eq!(names(&pairs), [owned("A", "B", 2), owned("B", "A", 7)]);
        let pairs = heartbeat_pairs(&[flow("B", "A", 7, true), flow("A", "B", 2, true)]);
        assert_eq!(names(&pairs), [owned("A", "B", 2), owned("B", "A", 7)]);
    }

    #[test]
    fn disabled_heartbeats_follow_the_owning_flow() {
        assert!(heartbeat_pairs(&[flow("A", "B", 1, false)]).is_empty());
        let pairs = heartbeat_pairs(&[flow("A", "B", 1, false), flow("B", "A", 1, true)]);
        assert_eq!(names(&pairs), [owned("B", "A", 1)]);
    }
}
