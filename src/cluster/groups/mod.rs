//! Consumer-group calls against one cluster: list the groups, describe one (classic or KIP-848), fetch its
//! committed offsets and commit offsets for it the way an admin client does. Group requests go
//! to the group's coordinator (found with FindCoordinator for every call: group work runs
//! every few seconds, not on the hot path) and are retried on the coordinator errors Kafka
//! documents as transient (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//! COORDINATOR_NOT_AVAILABLE) and on lost connections before anything was committed.

mod wire;

use std::collections::BTreeSet;
use std::future::Future;

use kafka_protocol::messages::ApiKey;

pub use wire::{
    CommittedOffset, GROUP_ID_NOT_FOUND, GroupDescription, GroupKind, GroupState, ListedGroup,
    PartitionIssue, build_consumer_group_describe_request, build_describe_groups_request,
    build_find_coordinator_request, build_list_groups_request, build_offset_commit_request,
    build_offset_fetch_request, is_consumer_protocol, process_consumer_group_describe_response,
    process_describe_groups_response, process_find_coordinator_response, process_list_groups_response,
    process_offset_commit_response, process_offset_fetch_response,
};

use super::partition::ResponseIssue;
use super::{Cluster, ClusterError};
use crate::net::Connection;
use crate::protocol::errors::ErrorCode;

/// What an offset fetch returns: the committed offsets, and the partitions the coordinator
/// could not answer for (each as an error naming the partition).
#[derive(Debug, Clone, Default)]
pub struct GroupOffsets {
    pub offsets: Vec<CommittedOffset>,
    pub failed: Vec<ClusterError>,
}

impl Cluster {
    fn group_error(&self, api: &'static str, group: &str, issue: ResponseIssue) -> ClusterError {
        let (error, message) = match issue {
            ResponseIssue::Error { code, message } => (code, message),
            ResponseIssue::Missing => (
                ErrorCode(-1),
                Some("the response does not mention the group".to_owned()),
            ),
        };
        ClusterError::Group {
            cluster: self.name().to_owned(),
            api,
            group: group.to_owned(),
            at: None,
            error,
            message,
        }
    }

    fn group_partition_error(&self, api: &'static str, group: &str, issue: PartitionIssue) -> ClusterError {
        ClusterError::Group {
            cluster: self.name().to_owned(),
            api,
            group: group.to_owned(),
            at: Some(Box::new((issue.topic, issue.partition))),
            error: issue.code,
            message: None,
        }
    }

    fn version_of(&self, conn: &Connection, api: ApiKey) -> Result<i16, ClusterError> {
        conn.version(api).map_err(|e| self.connection_error(e))
    }

    /// The connection to the coordinator of `group`.
    pub async fn coordinator(&self, group: &str) -> Result<Connection, ClusterError> {
        let conn = self.any_broker().await?;
        let version = self.version_of(&conn, ApiKey::FindCoordinator)?;
        let r = conn
            .request(&build_find_coordinator_request(group, version))
            .await
            .map_err(|e| self.connection_error(e))?;
        let addr = process_find_coordinator_response(&r, group, version)
            .map_err(|i| self.group_error("FindCoordinator", group, i))?;
        self.connection(&addr).await
    }

    /// Runs `op` against the coordinator of `group`, retrying retriable failures (the
    /// coordinator moved or is loading) up to `request_retries` times. A lost connection is
    /// retried only when `idempotent`.
    async fn on_coordinator<T, F, Fut>(&self, group: &str, idempotent: bool, op: F) -> Result<T, ClusterError>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<T, ClusterError>>,
    {
        self.retrying(|| self.coordinator(group), None, idempotent, op)
            .await
    }

    /// The consumer groups on the cluster ([`ListedGroup::is_consumer_group`]): classic groups
    /// of protocol type `consumer` or none, and KIP-848 consumer groups; never share, streams,
    /// Connect or kmirror groups. Sorted, without duplicates.
    pub async fn consumer_groups(&self) -> Result<Vec<String>, ClusterError> {
        let groups: BTreeSet<String> = self
            .list_groups()
            .await?
            .into_iter()
            .filter(ListedGroup::is_consumer_group)
            .map(|g| g.id)
            .collect();
        Ok(groups.into_iter().collect())
    }

    /// Every group on the cluster, of every type: groups live on their coordinators, so every
    /// broker is asked (as `AdminClient.listConsumerGroups` does).
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, ClusterError> {
        let snapshot = self.metadata();
        let mut addrs: Vec<String> = snapshot.brokers.values().map(|b| b.addr()).collect();
        if addrs.is_empty() {
            addrs.push(self.any_broker().await?.addr().to_owned());
        }
        let mut groups = Vec::new();
        for addr in addrs {
            let conn = self.connection(&addr).await?;
            let version = self.version_of(&conn, ApiKey::ListGroups)?;
            let r = conn
                .request_at(&build_list_groups_request(), version)
                .await
                .map_err(|e| self.connection_error(e))?;
            let listed = process_list_groups_response(&r, version)
                .map_err(|i| self.request_error(format!("listing the groups on broker {addr}"), i))?;
            groups.extend(listed);
        }
        Ok(groups)
    }

    /// The state, member count and kind of `group`; a group the coordinator does not know is
    /// `Dead` with no members. A coordinator that offers ConsumerGroupDescribe (KIP-848) is
    /// asked that first, since the classic DescribeGroups answers a KIP-848 group as `Dead`
    /// with no members whatever its members; a group it does not know as a consumer group is
    /// then described by DescribeGroups. Brokers without the API (3.x) get DescribeGroups only.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, ClusterError> {
        let classic = build_describe_groups_request(group);
        let consumer = build_consumer_group_describe_request(group);
        self.on_coordinator(group, true, |conn| {
            let (classic, consumer) = (&classic, &consumer);
            async move {
                if let Ok(version) = conn.version(ApiKey::ConsumerGroupDescribe) {
                    let r = conn
                        .request_at(consumer, version)
                        .await
                        .map_err(|e| self.connection_error(e))?;
                    let described = process_consumer_group_describe_response(&r, group)
                        .map_err(|i| self.group_error("ConsumerGroupDescribe", group, i))?;
                    if let Some(d) = described {
                        return Ok(d);
                    }
                }
                let r = conn
                    .request(classic)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                process_describe_groups_response(&r, group)
                    .map_err(|i| self.group_error("DescribeGroups", group, i))
            }
        })
        .await
    }

    /// Every committed offset of `group`.
    pub async fn committed_offsets(&self, group: &str) -> Result<GroupOffsets, ClusterError> {
        self.on_coordinator(group, true, |conn| async move {
            let version = self.version_of(&conn, ApiKey::OffsetFetch)?;
            let r = conn
                .request(&build_offset_fetch_request(group, version))
                .await
                .map_err(|e| self.connection_error(e))?;
            let (offsets, issues) = process_offset_fetch_response(&r, group, version)
                .map_err(|i| self.group_error("OffsetFetch", group, i))?;
            Ok(GroupOffsets {
                offsets,
                failed: issues
                    .into_iter()
                    .map(|i| self.group_partition_error("OffsetFetch", group, i))
                    .collect(),
            })
        })
        .await
    }

    /// Commits `offsets` for `group` as an admin client does (generation -1, no member id):
    /// a coordinator refuses that for a group with active members. Returns the partitions
    /// that failed; an error for the request as a whole fails every partition.
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: &[CommittedOffset],
    ) -> Result<Vec<ClusterError>, ClusterError> {
        if offsets.is_empty() {
            return Ok(Vec::new());
        }
        let request = build_offset_commit_request(group, offsets);
        // A commit of the same offsets twice is harmless: safe to resend after a lost
        // connection.
        self.on_coordinator(group, true, |conn| {
            let request = &request;
            async move {
                let r = conn
                    .request(request)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                let issues = process_offset_commit_response(&r, offsets);
                // The whole request goes to another coordinator when this one moved.
                if let Some(i) = issues.iter().find(|i| i.code.is_retriable()) {
                    return Err(self.group_partition_error("OffsetCommit", group, i.clone()));
                }
                Ok(issues
                    .into_iter()
                    .map(|i| self.group_partition_error("OffsetCommit", group, i))
                    .collect())
            }
        })
        .await
    }
}
