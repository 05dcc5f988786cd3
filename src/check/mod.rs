//! `kmirror check`'s permission check: what each cluster's principal must be allowed for the
//! flows as configured (pure: [`needs`]), what the brokers say it is allowed (`probe.rs`), and
//! each missing permission with the ACL that grants it ([`Missing::kafka_acls`]).
//!
//! What kmirror sends, and the operation Kafka's authorizer checks for it (apache/kafka:
//! `KafkaApis`, `AuthHelper`; KIP-679 for the idempotent producer):
//!
//! | request | resource, operation |
//! |---|---|
//! | Metadata, ListOffsets | Topic Describe |
//! | Fetch (source topics) | Topic Read |
//! | DescribeConfigs (creation, size check, config sync) | Topic DescribeConfigs |
//! | CreateTopics (missing target and internal topics) | Cluster Create or Topic Create |
//! | CreatePartitions (source grew) | Topic Alter |
//! | IncrementalAlterConfigs (config sync) | Topic AlterConfigs |
//! | Produce (target, offset-syncs, heartbeats, checkpoints) | Topic Write |
//! | InitProducerId without transactional id | Write on any topic (KIP-679, Kafka 3.0+), or Cluster IdempotentWrite |
//! | DescribeAcls / CreateAcls (ACL sync) | Cluster Describe / Cluster Alter |
//! | ListGroups, DescribeGroups, OffsetFetch (groups) | Group Describe (and Topic Describe) |
//! | OffsetCommit (group offset sync, target) | Group Read and Topic Read |
//!
//! IdempotentWrite is not asked for: since Kafka 3.0 the broker grants an idempotent producer
//! id to a principal that may write to any topic (KIP-679), which kmirror needs anyway.

pub mod probe;

use std::collections::BTreeMap;

use crate::cluster::acls::{
    OP_ALTER, OP_ALTER_CONFIGS, OP_CREATE, OP_DESCRIBE, OP_DESCRIBE_CONFIGS, OP_READ, OP_WRITE,
    operation_name,
};
use crate::cluster::authorized::{GROUP_AUTHORIZATION_FAILED, Operations, TopicAccess};
use crate::config::{FlowConfig, GroupsConfig, OffsetSyncsLocation, TopicSyncConfig};
use crate::offsets::groups::checkpoints_topic;
use crate::offsets::mm2::HeartbeatPair;
use crate::protocol::errors::ErrorCode;
use crate::replication::topics::TopicPlan;

/// A resource of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Cluster,
    Topic(String),
    Group(String),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cluster => write!(f, "Cluster kafka-cluster"),
            Self::Topic(t) => write!(f, "Topic {t}"),
            Self::Group(g) => write!(f, "Group {g}"),
        }
    }
}

/// A permission the flows need on one cluster, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub resource: Resource,
    pub operation: i8,
    pub why: String,
}

/// The needs of every cluster, by cluster alias, each (resource, operation) once with its
/// reasons joined.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    by_cluster: BTreeMap<String, BTreeMap<(Resource, i8), Vec<String>>>,
}

impl Needs {
    pub fn add(&mut self, cluster: &str, resource: Resource, operation: i8, why: impl Into<String>) {
        let why = why.into();
        let reasons = self
            .by_cluster
            .entry(cluster.to_owned())
            .or_default()
            .entry((resource, operation))
            .or_default();
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    }

    /// Every need of `cluster`, in resource order.
    pub fn of(&self, cluster: &str) -> Vec<Need> {
        self.by_cluster
            .get(cluster)
            .into_iter()
            .flatten()
            .map(|((resource, operation), why)| Need {
                resource: resource.clone(),
                operation: *operation,
                why: why.join("; "),
            })
            .collect()
    }

    /// The topics of `cluster` some need names.
    pub fn topics(&self, cluster: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .of(cluster)
            .into_iter()
            .filter_map(|n| match n.resource {
                Resource::Topic(t) => Some(t),
                _ => None,
            })
            .collect();
        t.dedup();
        t
    }

    /// The groups of `cluster` some need names.
    pub fn groups(&self, cluster: &str) -> Vec<String> {
        let mut g: Vec<String> = self
            .of(cluster)
            .into_iter()
            .filter_map(|n| match n.resource {
                Resource::Group(g) => Some(g),
                _ => None,
            })
            .collect();
        g.dedup();
        g
    }
}

/// What one flow needs: `plans` are its topics, `groups` the source groups it checkpoints
/// (those the source principal can see).
pub fn flow_needs(
    needs: &mut Needs,
    flow: &FlowConfig,
    groups_config: &GroupsConfig,
    sync: &TopicSyncConfig,
    plans: &[TopicPlan],
    groups: &[String],
) {
    let (source, target) = (flow.source.as_str(), flow.target.as_str());
    let topic = |t: &str| Resource::Topic(t.to_owned());
    for p in plans {
        let s = &p.source_topic;
        needs.add(
            source,
            topic(s),
            OP_DESCRIBE,
            "listing and sizing the source topic",
        );
        needs.add(source, topic(s), OP_READ, "fetching its records");
        needs.add(source, topic(s), OP_DESCRIBE_CONFIGS, "reading its configs");
        let t = &p.target_topic;
        needs.add(
            target,
            topic(t),
            OP_CREATE,
            format!("creating it (mirror of {s})"),
        );
        needs.add(
            target,
            topic(t),
            OP_DESCRIBE,
            "finding its partitions and end offsets",
        );
        needs.add(target, topic(t), OP_WRITE, "producing the mirrored records");
        needs.add(
            target,
            topic(t),
            OP_DESCRIBE_CONFIGS,
            "comparing its batch size limit with the source's",
        );
        if p.target_partitions.is_some_and(|n| n < p.partitions) {
            needs.add(
                target,
                topic(t),
                OP_ALTER,
                "adding the partitions the source topic gained",
            );
        }
        if sync.configs {
            needs.add(target, topic(t), OP_ALTER_CONFIGS, "topic config sync");
        }
        if groups_config.sync_group_offsets {
            needs.add(
                target,
                topic(t),
                OP_READ,
                "committing group offsets on it (sync.group.offsets.enabled)",
            );
        }
    }
    if sync.acls {
        needs.add(
            source,
            Resource::Cluster,
            OP_DESCRIBE,
            "reading topic ACLs (sync.topic.acls.enabled)",
        );
        needs.add(
            target,
            Resource::Cluster,
            OP_DESCRIBE,
            "reading topic ACLs (sync.topic.acls.enabled)",
        );
        needs.add(
            target,
            Resource::Cluster,
            OP_ALTER,
            "creating topic ACLs (sync.topic.acls.enabled)",
        );
    }
    let checkpointing = groups_config.emit_checkpoints || groups_config.sync_group_offsets;
    if checkpointing {
        for g in groups {
            let group = Resource::Group(g.clone());
            needs.add(
                source,
                group,
                OP_DESCRIBE,
                "reading the group's committed offsets",
            );
            if groups_config.sync_group_offsets {
                let group = Resource::Group(g.clone());
                needs.add(
                    target,
                    group.clone(),
                    OP_DESCRIBE,
                    "reading the group on the target (sync.group.offsets.enabled)",
                );
                needs.add(
                    target,
                    group,
                    OP_READ,
                    "committing its offsets (sync.group.offsets.enabled)",
                );
            }
        }
    }
    if groups_config.emit_checkpoints {
        internal_topic(needs, target, &checkpoints_topic(flow), "checkpoints");
    }
    let it = &flow.internal_topics;
    if it.emit_offset_syncs {
        let cluster = match it.offset_syncs_location {
            OffsetSyncsLocation::Source => source,
            OffsetSyncsLocation::Target => target,
        };
        let name = it.offset_syncs_topic(&flow.policy, source, target);
        internal_topic(
            needs,
            cluster,
            &name,
            "offset syncs (offset-syncs.topic.location)",
        );
    }
}

/// What writing heartbeats for these pairs needs (each on its target cluster).
pub fn heartbeat_needs(needs: &mut Needs, pairs: &[HeartbeatPair]) {
    for p in pairs {
        internal_topic(needs, &p.target, crate::config::HEARTBEATS_TOPIC, "heartbeats");
    }
}

fn internal_topic(needs: &mut Needs, cluster: &str, name: &str, what: &str) {
    let t = || Resource::Topic(name.to_owned());
    needs.add(cluster, t(), OP_CREATE, format!("creating the {what} topic"));
    needs.add(cluster, t(), OP_DESCRIBE, format!("writing {what}"));
    needs.add(cluster, t(), OP_WRITE, format!("writing {what}"));
}

/// What a cluster's broker said its principal may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `None` when the broker could not say (no DescribeCluster).
    pub cluster: Option<Operations>,
    pub topics: BTreeMap<String, TopicAccess>,
    /// For topics that do not exist or cannot be described: whether a validate-only creation
    /// passed the authorizer.
    pub may_create: BTreeMap<String, bool>,
    pub groups: BTreeMap<String, Result<Operations, ErrorCode>>,
}

/// What the broker's answers say of one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    Missing,
    /// Cannot be told now, and why.
    Unchecked(&'static str),
}

pub fn verdict(need: &Need, access: &Access) -> Verdict {
    let op = need.operation;
    match &need.resource {
        Resource::Cluster => match access.cluster {
            Some(ops) if ops.provided() => granted(ops.allows(op)),
            _ => Verdict::Unchecked("the broker does not report the cluster's authorized operations"),
        },
        Resource::Topic(t) => match access.topics.get(t) {
            Some(TopicAccess::Exists(_)) if op == OP_CREATE => Verdict::Granted,
            Some(TopicAccess::Exists(ops)) if ops.provided() => granted(ops.allows(op)),
            Some(TopicAccess::Exists(_)) => {
                Verdict::Unchecked("the broker does not report the topic's authorized operations")
            }
            Some(TopicAccess::Missing) if op == OP_CREATE => granted(access.may_create.get(t) == Some(&true)),
            Some(TopicAccess::Missing) => Verdict::Unchecked("the topic does not exist yet"),
            // Whether it exists is not told without Describe: Create is reported as the
            // validate-only creation found it (not needed if the topic exists after all).
            Some(TopicAccess::Denied) if op == OP_CREATE => match access.may_create.get(t) {
                Some(may) => granted(*may),
                None => Verdict::Unchecked("whether the topic exists is not told without Describe"),
            },
            Some(TopicAccess::Denied) => Verdict::Missing,
            Some(TopicAccess::Error(_)) | None => Verdict::Unchecked("the broker did not describe the topic"),
        },
        Resource::Group(g) => match access.groups.get(g) {
            Some(Ok(ops)) if ops.provided() => granted(ops.allows(op)),
            Some(Err(code)) if code.0 == GROUP_AUTHORIZATION_FAILED => Verdict::Missing,
            _ => Verdict::Unchecked("the broker did not describe the group"),
        },
    }
}

fn granted(yes: bool) -> Verdict {
    if yes { Verdict::Granted } else { Verdict::Missing }
}

/// A permission the principal lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub cluster: String,
    pub principal: String,
    pub need: Need,
}

impl Missing {
    /// `principal Operation on Resource name`.
    pub fn line(&self) -> String {
        format!(
            "{} lacks {} on {} of cluster {} ({})",
            self.principal,
            operation_name(self.need.operation),
            self.need.resource,
            self.cluster,
            self.need.why
        )
    }

    /// The `kafka-acls.sh` command that grants it (run with the cluster's admin credentials,
    /// `--command-config`).
    pub fn kafka_acls(&self, bootstrap: &str) -> String {
        let resource = match &self.need.resource {
            Resource::Cluster => "--cluster".to_owned(),
            Resource::Topic(t) => format!("--topic '{t}'"),
            Resource::Group(g) => format!("--group '{g}'"),
        };
        format!(
            "kafka-acls.sh --bootstrap-server {bootstrap} --add --allow-principal '{}' --operation {} {resource}",
            self.principal,
            operation_name(self.need.operation)
        )
    }
}

#[cfg(test)]
mod tests;
