//! ACLs on the wire: reading bindings with DescribeAcls and creating them with CreateAcls
//! (KIP-140; pattern types from v1, KIP-290). The codes are Kafka's (apache/kafka:
//! `clients/.../common/acl/AclOperation.java`, `AclPermissionType.java`,
//! `resource/ResourceType.java`, `resource/PatternType.java`).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::partition::{ResponseIssue, check};
use super::{Cluster, ClusterError};
use crate::protocol::errors::ErrorCode;

/// `ResourceType`: a filter's "any type".
pub const RESOURCE_ANY: i8 = 1;
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_GROUP: i8 = 3;
pub const RESOURCE_CLUSTER: i8 = 4;

/// `PatternType`: a filter's "any pattern".
pub const PATTERN_ANY: i8 = 1;
pub const PATTERN_LITERAL: i8 = 3;
pub const PATTERN_PREFIXED: i8 = 4;

/// `AclOperation`; an authorized-operations bitfield has bit `code` set for each operation.
pub const OP_ANY: i8 = 1;
pub const OP_ALL: i8 = 2;
pub const OP_READ: i8 = 3;
pub const OP_WRITE: i8 = 4;
pub const OP_CREATE: i8 = 5;
pub const OP_ALTER: i8 = 7;
pub const OP_DESCRIBE: i8 = 8;
pub const OP_DESCRIBE_CONFIGS: i8 = 10;
pub const OP_ALTER_CONFIGS: i8 = 11;
pub const OP_IDEMPOTENT_WRITE: i8 = 12;

/// `AclPermissionType`.
pub const PERMISSION_ANY: i8 = 1;
pub const PERMISSION_DENY: i8 = 2;
pub const PERMISSION_ALLOW: i8 = 3;

/// `SECURITY_DISABLED`: the cluster has no authorizer.
pub const SECURITY_DISABLED: i16 = 54;

/// One ACL binding: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// The name Kafka's tools give an operation (`kafka-acls.sh --operation`).
pub fn operation_name(op: i8) -> &'static str {
    match op {
        OP_ANY => "Any",
        OP_ALL => "All",
        OP_READ => "Read",
        OP_WRITE => "Write",
        OP_CREATE => "Create",
        6 => "Delete",
        OP_ALTER => "Alter",
        OP_DESCRIBE => "Describe",
        9 => "ClusterAction",
        OP_DESCRIBE_CONFIGS => "DescribeConfigs",
        OP_ALTER_CONFIGS => "AlterConfigs",
        OP_IDEMPOTENT_WRITE => "IdempotentWrite",
        13 => "CreateTokens",
        14 => "DescribeTokens",
        15 => "TwoPhaseCommit",
        _ => "Unknown",
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.resource_type {
            RESOURCE_TOPIC => "Topic",
            RESOURCE_GROUP => "Group",
            RESOURCE_CLUSTER => "Cluster",
            _ => "Resource",
        };
        let pattern = match self.pattern_type {
            PATTERN_PREFIXED => "prefixed",
            _ => "literal",
        };
        let permission = if self.permission == PERMISSION_DENY {
            "Deny"
        } else {
            "Allow"
        };
        write!(
            f,
            "{} {permission} {} from {} on {kind} {} ({pattern})",
            self.principal,
            operation_name(self.operation),
            self.host,
            self.resource_name
        )
    }
}

/// A DescribeAcls request for every binding of resources of `resource_type` with patterns of
/// `pattern_type` (`PATTERN_ANY` for all).
pub fn build_describe_acls_request(resource_type: i8, pattern_type: i8) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(pattern_type)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(OP_ANY)
        .with_permission_type(PERMISSION_ANY)
}

pub fn process_describe_acls_response(r: &DescribeAclsResponse) -> Result<Vec<AclBinding>, ResponseIssue> {
    check(r.error_code, r.error_message.as_ref())?;
    Ok(r.resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(|a| AclBinding {
                resource_type: res.resource_type,
                resource_name: res.resource_name.to_string(),
                pattern_type: res.pattern_type,
                principal: a.principal.to_string(),
                host: a.host.to_string(),
                operation: a.operation,
                permission: a.permission_type,
            })
        })
        .collect())
}

pub fn build_create_acls_request(bindings: &[AclBinding]) -> CreateAclsRequest {
    CreateAclsRequest::default().with_creations(
        bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(StrBytes::from_string(b.resource_name.clone()))
                    .with_resource_pattern_type(b.pattern_type)
                    .with_principal(StrBytes::from_string(b.principal.clone()))
                    .with_host(StrBytes::from_string(b.host.clone()))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission)
            })
            .collect(),
    )
}

/// The outcome of each creation, in the order of the request; a response with fewer
/// results than creations answers the rest with `Missing`.
pub fn process_create_acls_response(r: &CreateAclsResponse, count: usize) -> Vec<Result<(), ResponseIssue>> {
    (0..count)
        .map(|i| match r.results.get(i) {
            Some(res) => check(res.error_code, res.error_message.as_ref()),
            None => Err(ResponseIssue::Missing),
        })
        .collect()
}

/// A refusal of one binding: the broker's code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRefusal {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl Cluster {
    /// Every ACL binding of topic resources (literal and prefixed).
    pub async fn describe_topic_acls(&self) -> Result<Vec<AclBinding>, ClusterError> {
        let conn = self.any_broker().await?;
        let r = conn
            .request(&build_describe_acls_request(RESOURCE_TOPIC, PATTERN_ANY))
            .await
            .map_err(|e| self.connection_error(e))?;
        process_describe_acls_response(&r)
            .map_err(|i| self.request_error("describing topic ACLs".to_owned(), i))
    }

    /// Creates `bindings` (one request); each binding's outcome, in order. Creating a binding
    /// that exists already succeeds.
    pub async fn create_acls(
        &self,
        bindings: &[AclBinding],
    ) -> Result<Vec<Result<(), AclRefusal>>, ClusterError> {
        if bindings.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.any_broker().await?;
        let r = conn
            .request(&build_create_acls_request(bindings))
            .await
            .map_err(|e| self.connection_error(e))?;
        Ok(process_create_acls_response(&r, bindings.len())
            .into_iter()
            .map(|res| {
                res.map_err(|issue| match issue {
                    ResponseIssue::Error { code, message } => AclRefusal { code, message },
                    ResponseIssue::Missing => AclRefusal {
                        code: ErrorCode(-1),
                        message: Some("the response has no result for this binding".to_owned()),
                    },
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_acls_response::AclCreationResult;
    use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};

    use super::*;

    #[test]
    fn described_bindings_are_flattened_and_refusals_kept_per_binding() {
        let r = DescribeAclsResponse::default().with_resources(vec![
            DescribeAclsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_static_str("orders"))
                .with_pattern_type(PATTERN_LITERAL)
                .with_acls(vec![
                    AclDescription::default()
                        .with_principal(StrBytes::from_static_str("User:alice"))
                        .with_host(StrBytes::from_static_str("*"))
                        .with_operation(OP_READ)
                        .with_permission_type(PERMISSION_ALLOW),
                ]),
        ]);
        let got = process_describe_acls_response(&r).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].to_string(),
            "User:alice Allow Read from * on Topic orders (literal)"
        );
        let disabled = DescribeAclsResponse::default().with_error_code(SECURITY_DISABLED);
        assert!(matches!(
            process_describe_acls_response(&disabled),
            Err(ResponseIssue::Error {
                code: ErrorCode(SECURITY_DISABLED),
                ..
            })
        ));

        let request = build_create_acls_request(&got);
        assert_eq!(request.creations[0].resource_name.as_str(), "orders");
        let answered = CreateAclsResponse::default().with_results(vec![
            AclCreationResult::default(),
            AclCreationResult::default().with_error_code(SECURITY_DISABLED),
        ]);
        let outcomes = process_create_acls_response(&answered, 3);
        assert_eq!(outcomes[0], Ok(()));
        assert!(outcomes[1].is_err());
        assert_eq!(outcomes[2], Err(ResponseIssue::Missing));
    }
}
