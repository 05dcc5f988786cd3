//! Asks the brokers what each cluster's principal may do, for the needs of `mod.rs`: topics'
//! authorized operations with Metadata, the cluster's with DescribeCluster, groups' with
//! DescribeGroups, and, for topics that do not exist yet, whether a validate-only CreateTopics
//! passes the authorizer (it creates nothing).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Access, Missing, Need, Needs, Verdict, flow_needs, heartbeat_needs, verdict};
use crate::cluster::Cluster;
use crate::cluster::authorized::{CLUSTER_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED, TopicAccess};
use crate::config::{ClientConfig, Config, GroupsConfig, TopicSyncConfig};
use crate::offsets::mm2::heartbeat_pairs;
use crate::replication::topics;

/// The permission check of one cluster.
#[derive(Debug, Clone)]
pub struct ClusterPermissions {
    pub cluster: String,
    pub principal: String,
    pub bootstrap: String,
    pub missing: Vec<Missing>,
    /// Needs the broker's answers do not decide, with why.
    pub unchecked: Vec<(Need, &'static str)>,
    /// Questions that failed (the check is incomplete for them).
    pub notes: Vec<String>,
}

/// The principal the broker sees for this client configuration, as kafka-acls.sh names it.
pub fn principal(client: &ClientConfig) -> String {
    if let Some(sasl) = &client.security.sasl {
        if sasl.mechanism == crate::security::SaslMechanism::OAuthBearer {
            // The broker's principal is the token's subject claim, which the issuer decides.
            return format!("User:<subject of the OAuth token of client {}>", sasl.username);
        }
        format!("User:{}", sasl.username)
    } else if client.security.tls.as_ref().is_some_and(|t| t.identity.is_some()) {
        // The broker's principal builder maps the certificate's subject (ssl.principal.mapping.rules).
        "User:<subject of the client certificate>".to_owned()
    } else {
        "User:ANONYMOUS".to_owned()
    }
}

/// Checks every cluster of `config` that is connected in `clusters`.
pub async fn check(config: &Config, clusters: &HashMap<String, Arc<Cluster>>) -> Vec<ClusterPermissions> {
    let mut needs = Needs::default();
    let mut notes: HashMap<String, Vec<String>> = HashMap::new();
    for flow in &config.flows {
        let (Some(source), Some(target)) = (clusters.get(&flow.source), clusters.get(&flow.target)) else {
            continue;
        };
        let (groups_config, sync) = match (GroupsConfig::of(flow), TopicSyncConfig::of(flow)) {
            (Ok(g), Ok(s)) => (g, s),
            (Err(e), _) | (_, Err(e)) => {
                notes.entry(flow.source.clone()).or_default().push(e.to_string());
                continue;
            }
        };
        let plans = match topics::plan(flow, source, target).await {
            Ok(p) => p,
            Err(e) => {
                notes
                    .entry(flow.source.clone())
                    .or_default()
                    .push(format!("cannot list the topics of flow {}: {e}", flow.name()));
                continue;
            }
        };
        let groups = if groups_config.emit_checkpoints || groups_config.sync_group_offsets {
            match source.consumer_groups().await {
                Ok(g) => g
                    .into_iter()
                    .filter(|g| groups_config.filter.matches(g))
                    .collect(),
                Err(e) => {
                    notes
                        .entry(flow.source.clone())
                        .or_default()
                        .push(format!("cannot list the groups: {e}"));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        flow_needs(&mut needs, flow, &groups_config, &sync, &plans, &groups);
    }
    heartbeat_needs(&mut needs, &heartbeat_pairs(&config.flows));

    let mut reports = Vec::new();
    let mut aliases: Vec<&String> = clusters.keys().collect();
    aliases.sort();
    for alias in aliases {
        let cluster = &clusters[alias];
        let client = &config.clusters[alias];
        let mut notes = notes.remove(alias.as_str()).unwrap_or_default();
        let access = access(cluster, &needs, alias, &mut notes).await;
        let principal = principal(&client.client);
        let mut missing = Vec::new();
        let mut unchecked = Vec::new();
        for need in needs.of(alias) {
            match verdict(&need, &access) {
                Verdict::Granted => {}
                Verdict::Missing => missing.push(Missing {
                    cluster: alias.clone(),
                    principal: principal.clone(),
                    need,
                }),
                Verdict::Unchecked(why) => unchecked.push((need, why)),
            }
        }
        reports.push(ClusterPermissions {
            cluster: alias.clone(),
            principal,
            bootstrap: client.bootstrap_servers.first().cloned().unwrap_or_default(),
            missing,
            unchecked,
            notes,
        });
    }
    reports
}

async fn access(cluster: &Cluster, needs: &Needs, alias: &str, notes: &mut Vec<String>) -> Access {
    let mut access = Access::default();
    match cluster.cluster_access().await {
        Ok(ops) => access.cluster = Some(ops),
        Err(e) => notes.push(format!("cannot read the cluster's authorized operations: {e}")),
    }
    match cluster.topics_access(&needs.topics(alias)).await {
        Ok(t) => access.topics = t,
        Err(e) => notes.push(format!("cannot read the topics' authorized operations: {e}")),
    }
    let created: Vec<String> = needs
        .of(alias)
        .into_iter()
        .filter(|n| n.operation == crate::cluster::acls::OP_CREATE)
        .filter_map(|n| match n.resource {
            super::Resource::Topic(t) => Some(t),
            _ => None,
        })
        .collect();
    let absent: Vec<String> = access
        .topics
        .iter()
        .filter(|(t, a)| matches!(a, TopicAccess::Missing | TopicAccess::Denied) && created.contains(t))
        .map(|(t, _)| t.clone())
        .collect();
    for topic in absent {
        // Validate-only: the broker checks Create on the cluster or the topic, creates nothing.
        let may = match cluster.validate_topic(&topic, 1, -1, &[]).await {
            Ok(_) => true,
            Err(e) => !e
                .error_code()
                .is_some_and(|c| c.0 == TOPIC_AUTHORIZATION_FAILED || c.0 == CLUSTER_AUTHORIZATION_FAILED),
        };
        let _ = access.may_create.insert(topic, may);
    }
    for group in needs.groups(alias) {
        match cluster.group_access(&group).await {
            Ok(a) => {
                let _ = access.groups.insert(group, a);
            }
            Err(e) => notes.push(format!("cannot describe group {group}: {e}")),
        }
    }
    access
}
