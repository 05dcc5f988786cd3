//! Topic config and ACL sync after creation, MM2's way (see `configs.rs` and `acls.rs` for
//! the rules): one task per flow that every `sync.topic.configs.interval.seconds` applies the
//! source topics' configs to the existing target topics with IncrementalAlterConfigs, and
//! every `sync.topic.acls.interval.seconds` creates the source's topic ACLs on the target.
//! Both run once at start, then at their interval, beside replication: a failure is logged
//! (once per cause) and tried again at the next round, never a reason to stop replicating.

pub mod acls;
pub mod configs;

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::topic_configs::{Negotiation, Verdict};
use super::topics;
use crate::cluster::acls::{AclBinding, SECURITY_DISABLED};
use crate::cluster::alter_configs::ConfigChange;
use crate::cluster::{Cluster, ClusterError};
use crate::config::{FlowConfig, TopicSyncConfig};
use crate::metrics;
use configs::Refused;

/// The sync task of one flow.
#[derive(Debug)]
pub struct TopicSync {
    pub flow: FlowConfig,
    pub config: TopicSyncConfig,
    pub source: Arc<Cluster>,
    pub target: Arc<Cluster>,
}

/// What the task remembers between rounds.
#[derive(Debug, Default)]
struct State {
    refused: Refused,
    refused_acls: HashSet<AclBinding>,
    /// Conditions already logged (no authorizer, a refusal that is not about a config, …).
    reported: HashSet<String>,
}

impl State {
    /// `true` the first time `what` is seen.
    fn first(&mut self, what: String) -> bool {
        self.reported.insert(what)
    }
}

impl TopicSync {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if !self.config.configs && !self.config.acls {
            return;
        }
        let mut state = State::default();
        let now = Instant::now();
        let mut next_configs = self.config.configs.then_some(now);
        let mut next_acls = self.config.acls.then_some(now);
        loop {
            let Some(next) = [next_configs, next_acls].into_iter().flatten().min() else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if next_configs.is_some_and(|at| at <= Instant::now()) {
                self.sync_configs(&mut state).await;
                next_configs = Some(Instant::now() + self.config.configs_interval);
            }
            if next_acls.is_some_and(|at| at <= Instant::now()) {
                self.sync_acls(&mut state).await;
                next_acls = Some(Instant::now() + self.config.acls_interval);
            }
        }
    }

    async fn sync_configs(&self, state: &mut State) {
        let flow = self.flow.name();
        let plans = match topics::plan(&self.flow, &self.source, &self.target).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(flow, error = %e, "topic config sync: cannot list the topics; trying again at the next interval");
                return;
            }
        };
        for plan in plans.iter().filter(|p| p.target_partitions.is_some()) {
            let (source, target) = tokio::join!(
                self.source.describe_topic_config(&plan.source_topic),
                self.target.describe_topic_config(&plan.target_topic)
            );
            let (source, target) = match (source, target) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(e), _) | (_, Err(e)) => {
                    if state.first(format!("describe {} {:?}", plan.target_topic, e.error_code())) {
                        tracing::warn!(flow, topic = %plan.source_topic, error = %e, "topic config sync: cannot read the topic configs; trying again at each interval");
                    }
                    continue;
                }
            };
            let wanted = configs::changes(
                &source,
                &target,
                &self.flow.config_exclude,
                self.config.defaults_from_source,
            );
            let wanted = state.refused.not_refused(&plan.target_topic, wanted);
            if !wanted.is_empty() {
                self.apply(&plan.target_topic, wanted, state).await;
            }
        }
    }

    /// Applies `wanted` to `topic`, leaving out the changes the target refuses (at most
    /// `2 n + 1` requests for `n` changes, see [`Negotiation`]).
    async fn apply(&self, topic: &str, wanted: Vec<ConfigChange>, state: &mut State) {
        let flow = self.flow.name();
        let mut negotiation = Negotiation::new(configs::as_pairs(&wanted));
        while let Some(attempt) = negotiation.next() {
            let verdict = if attempt.is_empty() {
                Verdict::Accepted
            } else {
                match self
                    .target
                    .alter_topic_config(topic, &configs::by_name(&wanted, &attempt))
                    .await
                {
                    Ok(()) => Verdict::Accepted,
                    Err(ClusterError::Request { error, message, .. }) => {
                        Verdict::Refused { code: error, message }
                    }
                    Err(e) => {
                        tracing::warn!(flow, topic, error = %e, "topic config sync: cannot alter the target topic; trying again at the next interval");
                        return;
                    }
                }
            };
            if let Err(other) = negotiation.answer(verdict) {
                if state.first(format!("alter {topic} {}", other.code)) {
                    tracing::warn!(flow, topic, error = %other.code, message = other.message.as_deref().unwrap_or(""),
                        "topic config sync: the target refuses to alter the topic; trying again at each interval");
                }
                return;
            }
        }
        let (applied, refusals) = negotiation.finish();
        let applied = configs::by_name(&wanted, &applied);
        for r in &refusals {
            let Some(change) = wanted.iter().find(|c| c.name == r.name) else {
                continue;
            };
            if state.refused.record(topic, change) {
                tracing::warn!(flow, topic, config = %r.name, value = change.value.as_deref().unwrap_or("(delete)"), reason = %r.reason,
                    "topic config sync: the target refuses this config; not sent again until the source's value changes");
            }
        }
        state.refused.applied(topic, &applied);
        metrics::topic_config_sync(&flow, "applied", applied.len());
        metrics::topic_config_sync(&flow, "refused", refusals.len());
        if !applied.is_empty() {
            let list: Vec<String> = applied
                .iter()
                .map(|c| match &c.value {
                    Some(v) => format!("{}={v}", c.name),
                    None => format!("{} (override deleted)", c.name),
                })
                .collect();
            tracing::info!(flow, topic, changes = %list.join(", "), "topic config sync: applied the source topic's configs");
        }
    }

    async fn sync_acls(&self, state: &mut State) {
        let flow = self.flow.name();
        let no_authorizer = |e: &ClusterError| e.error_code().is_some_and(|c| c.0 == SECURITY_DISABLED);
        let source = match self.source.describe_topic_acls().await {
            Ok(b) => b,
            Err(e) if no_authorizer(&e) => {
                if state.first("source without authorizer".to_owned()) {
                    tracing::info!(flow, cluster = %self.flow.source, "topic ACL sync: the source cluster has no authorizer, so there are no ACLs to sync (set sync.topic.acls.enabled = false to stop asking)");
                }
                return;
            }
            Err(e) => {
                if state.first(format!("describe source acls {:?}", e.error_code())) {
                    tracing::warn!(flow, error = %e, "topic ACL sync: cannot read the source's topic ACLs; trying again at each interval");
                }
                return;
            }
        };
        if acls::to_create(&self.flow, &source, &[]).is_empty() {
            return;
        }
        let target = match self.target.describe_topic_acls().await {
            Ok(b) => b,
            Err(e) if no_authorizer(&e) => {
                if state.first("target without authorizer".to_owned()) {
                    tracing::warn!(flow, cluster = %self.flow.target, "topic ACL sync: the target cluster has no authorizer, so the source's topic ACLs cannot be created there (set sync.topic.acls.enabled = false if that is intended)");
                }
                return;
            }
            Err(e) => {
                if state.first(format!("describe target acls {:?}", e.error_code())) {
                    tracing::warn!(flow, error = %e, "topic ACL sync: cannot read the target's topic ACLs; trying again at each interval");
                }
                return;
            }
        };
        let create: Vec<AclBinding> = acls::to_create(&self.flow, &source, &target)
            .into_iter()
            .filter(|b| !state.refused_acls.contains(b))
            .collect();
        let outcomes = match self.target.create_acls(&create).await {
            Ok(o) => o,
            Err(e) => {
                if state.first(format!("create acls {:?}", e.error_code())) {
                    tracing::warn!(flow, error = %e, "topic ACL sync: cannot create ACLs on the target; trying again at each interval");
                }
                return;
            }
        };
        let (mut created, mut refused) = (0, 0);
        for (binding, outcome) in create.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    created += 1;
                    tracing::info!(flow, acl = %binding, "topic ACL sync: created on the target");
                }
                Err(r) => {
                    refused += 1;
                    let reason = r.message.unwrap_or_else(|| r.code.to_string());
                    tracing::warn!(flow, acl = %binding, reason, "topic ACL sync: the target refuses this ACL; not sent again");
                    let _ = state.refused_acls.insert(binding);
                }
            }
        }
        metrics::acl_sync(&flow, "created", created);
        metrics::acl_sync(&flow, "refused", refused);
    }
}
