//! What the connecting principal may do, as the broker says (KIP-430): the authorized
//! operations of topics (Metadata v8+), of the cluster (DescribeCluster, KIP-700) and of
//! groups (DescribeGroups v3+). Each is a bitfield with bit `n` set for `AclOperation` code
//! `n` (see `acls.rs`).

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::partition::{ResponseIssue, check};
use super::{Cluster, ClusterError};
use crate::protocol::errors::{self, ErrorCode};

/// `TOPIC_AUTHORIZATION_FAILED`.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// `GROUP_AUTHORIZATION_FAILED`.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// `CLUSTER_AUTHORIZATION_FAILED`.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

/// The value a broker puts in an authorized-operations field it was not asked to fill, or
/// cannot (`Integer.MIN_VALUE`).
const NOT_PROVIDED: i32 = i32::MIN;

/// A set of operations (an authorized-operations bitfield).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Operations(pub i32);

impl Operations {
    pub fn allows(self, op: i8) -> bool {
        (0..31).contains(&op) && self.0 != NOT_PROVIDED && self.0 & (1 << op) != 0
    }

    /// Whether the broker filled the field at all.
    pub fn provided(self) -> bool {
        self.0 != NOT_PROVIDED
    }
}

/// What the principal finds of one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicAccess {
    /// The topic exists and the principal may describe it; these are its operations.
    Exists(Operations),
    /// The principal may describe it, and it does not exist.
    Missing,
    /// The principal may not describe it (whether it exists is not told).
    Denied,
    /// Another error (the broker's code).
    Error(ErrorCode),
}

pub fn build_topics_access_request(topics: &[String]) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(false)
        .with_include_topic_authorized_operations(true)
}

pub fn process_topics_access_response(r: &MetadataResponse) -> BTreeMap<String, TopicAccess> {
    r.topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let access = match t.error_code {
                errors::NONE => TopicAccess::Exists(Operations(t.topic_authorized_operations)),
                errors::UNKNOWN_TOPIC_OR_PARTITION => TopicAccess::Missing,
                TOPIC_AUTHORIZATION_FAILED => TopicAccess::Denied,
                code => TopicAccess::Error(ErrorCode(code)),
            };
            Some((name, access))
        })
        .collect()
}

pub fn process_cluster_access_response(r: &DescribeClusterResponse) -> Result<Operations, ResponseIssue> {
    check(r.error_code, r.error_message.as_ref())?;
    Ok(Operations(r.cluster_authorized_operations))
}

/// Each group's operations, or the broker's error for it (a group the principal may not
/// describe answers `GROUP_AUTHORIZATION_FAILED`).
pub fn process_groups_access_response(
    r: &DescribeGroupsResponse,
) -> BTreeMap<String, Result<Operations, ErrorCode>> {
    r.groups
        .iter()
        .map(|g| {
            let access = if g.error_code == errors::NONE {
                Ok(Operations(g.authorized_operations))
            } else {
                Err(ErrorCode(g.error_code))
            };
            (g.group_id.0.to_string(), access)
        })
        .collect()
}

impl Cluster {
    /// The principal's view of each of `topics`.
    pub async fn topics_access(
        &self,
        topics: &[String],
    ) -> Result<BTreeMap<String, TopicAccess>, ClusterError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let conn = self.any_broker().await?;
        let r = conn
            .request(&build_topics_access_request(topics))
            .await
            .map_err(|e| self.connection_error(e))?;
        Ok(process_topics_access_response(&r))
    }

    /// The principal's operations on the cluster resource.
    pub async fn cluster_access(&self) -> Result<Operations, ClusterError> {
        let conn = self.any_broker().await?;
        let request = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
        let r = conn
            .request(&request)
            .await
            .map_err(|e| self.connection_error(e))?;
        process_cluster_access_response(&r)
            .map_err(|i| self.request_error("describing the cluster".to_owned(), i))
    }

    /// The principal's operations on `group` (asked of its coordinator).
    pub async fn group_access(&self, group: &str) -> Result<Result<Operations, ErrorCode>, ClusterError> {
        let conn = self.coordinator(group).await?;
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))])
            .with_include_authorized_operations(true);
        let r = conn
            .request(&request)
            .await
            .map_err(|e| self.connection_error(e))?;
        Ok(process_groups_access_response(&r)
            .remove(group)
            .unwrap_or(Err(ErrorCode(-1))))
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::metadata_response::MetadataResponseTopic;

    use super::*;
    use crate::cluster::acls::{OP_CREATE, OP_READ, OP_WRITE};

    #[test]
    fn bitfields_and_topic_errors_are_read_as_access() {
        let ops = Operations((1 << OP_READ) | (1 << OP_WRITE));
        assert!(ops.allows(OP_READ) && ops.allows(OP_WRITE) && !ops.allows(OP_CREATE));
        assert!(!Operations(NOT_PROVIDED).allows(OP_READ));
        assert!(!Operations(-1).provided() || Operations(-1).allows(OP_READ));
        let topic = |name: &'static str, code: i16, ops: i32| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(name))))
                .with_error_code(code)
                .with_topic_authorized_operations(ops)
        };
        let r = MetadataResponse::default().with_topics(vec![
            topic("a", 0, 1 << OP_READ),
            topic("b", 3, NOT_PROVIDED),
            topic("c", 29, NOT_PROVIDED),
        ]);
        let got = process_topics_access_response(&r);
        assert_eq!(got["a"], TopicAccess::Exists(Operations(1 << OP_READ)));
        assert_eq!(got["b"], TopicAccess::Missing);
        assert_eq!(got["c"], TopicAccess::Denied);
    }
}
