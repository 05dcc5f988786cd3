//! Which ACL bindings a flow creates on the target (pure: the task in `mod.rs` does the
//! requests).
//!
//! MM2's rule (apache/kafka: connect/mirror/.../MirrorSourceConnector.java, `syncTopicAcls`,
//! `shouldReplicateAcl`, `targetAclBinding`): it reads every topic ACL of the source
//! (DescribeAcls for resource type TOPIC, any pattern type) and keeps the bindings
//! - of a **literal** resource pattern (prefixed patterns are not carried),
//! - whose topic the flow replicates (topic filter, not a cycle),
//! - that are not **Allow Write**: only the replicator writes to a remote topic;
//!
//! then renames the resource by the replication policy (`orders` → `source.orders`, still
//! literal) and, for **Allow All**, grants **Allow Read** instead. Every other entry (Deny
//! entries included) keeps its principal, host, operation and permission. MM2 creates the
//! result with CreateAcls every interval and never deletes a target ACL (a binding removed on
//! the source stays on the target). kmirror does the same, sending only the bindings the
//! target does not have yet.

use std::collections::BTreeSet;

use crate::cluster::acls::{
    AclBinding, OP_ALL, OP_READ, OP_WRITE, PATTERN_LITERAL, PERMISSION_ALLOW, RESOURCE_TOPIC,
};
use crate::config::FlowConfig;

/// The binding MM2 would create on the target for source binding `b`, if any.
pub fn target_binding(flow: &FlowConfig, b: &AclBinding) -> Option<AclBinding> {
    if b.resource_type != RESOURCE_TOPIC
        || b.pattern_type != PATTERN_LITERAL
        || !flow.replicates(&b.resource_name)
    {
        return None;
    }
    let allow = b.permission == PERMISSION_ALLOW;
    if allow && b.operation == OP_WRITE {
        return None;
    }
    let operation = if allow && b.operation == OP_ALL {
        OP_READ
    } else {
        b.operation
    };
    Some(AclBinding {
        resource_name: flow.target_topic(&b.resource_name),
        operation,
        ..b.clone()
    })
}

/// The bindings to create on the target: those MM2 would create from `source`, minus those
/// `target` has already; sorted, each once.
pub fn to_create(flow: &FlowConfig, source: &[AclBinding], target: &[AclBinding]) -> Vec<AclBinding> {
    let existing: BTreeSet<&AclBinding> = target.iter().collect();
    source
        .iter()
        .filter_map(|b| target_binding(flow, b))
        .filter(|b| !existing.contains(b))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::acls::{OP_DESCRIBE, PATTERN_PREFIXED, PERMISSION_DENY, RESOURCE_GROUP};
    use crate::config::{PatternList, TopicFilter};

    fn acl(name: &str, pattern: i8, op: i8, permission: i8) -> AclBinding {
        AclBinding {
            resource_type: RESOURCE_TOPIC,
            resource_name: name.to_owned(),
            pattern_type: pattern,
            principal: "User:alice".to_owned(),
            host: "*".to_owned(),
            operation: op,
            permission,
        }
    }

    fn flow() -> FlowConfig {
        let mut f = FlowConfig::new("src", "dst");
        f.topics = TopicFilter::new(
            PatternList::new(&["orders.*", "dst\\..*"]).unwrap(),
            PatternList::new::<&str>(&[]).unwrap(),
        );
        f
    }

    #[test]
    fn mm2s_rule_literal_replicated_topics_no_allow_write_all_becomes_read() {
        let f = flow();
        let lit = PATTERN_LITERAL;
        let renamed = |op, permission| Some(acl("src.orders", lit, op, permission));
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_READ, PERMISSION_ALLOW)),
            renamed(OP_READ, PERMISSION_ALLOW)
        );
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_DESCRIBE, PERMISSION_ALLOW)),
            renamed(OP_DESCRIBE, PERMISSION_ALLOW)
        );
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_ALL, PERMISSION_ALLOW)),
            renamed(OP_READ, PERMISSION_ALLOW)
        );
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_WRITE, PERMISSION_ALLOW)),
            None
        );
        // Deny entries are carried as they are, Deny Write and Deny All included.
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_WRITE, PERMISSION_DENY)),
            renamed(OP_WRITE, PERMISSION_DENY)
        );
        assert_eq!(
            target_binding(&f, &acl("orders", lit, OP_ALL, PERMISSION_DENY)),
            renamed(OP_ALL, PERMISSION_DENY)
        );
        // Prefixed patterns, topics the flow does not replicate, cycles, other resources: no.
        assert_eq!(
            target_binding(&f, &acl("orders", PATTERN_PREFIXED, OP_READ, PERMISSION_ALLOW)),
            None
        );
        assert_eq!(
            target_binding(&f, &acl("payments", lit, OP_READ, PERMISSION_ALLOW)),
            None
        );
        assert_eq!(
            target_binding(&f, &acl("dst.orders", lit, OP_READ, PERMISSION_ALLOW)),
            None
        );
        let group = AclBinding {
            resource_type: RESOURCE_GROUP,
            ..acl("orders", lit, OP_READ, PERMISSION_ALLOW)
        };
        assert_eq!(target_binding(&f, &group), None);
    }

    #[test]
    fn only_bindings_the_target_lacks_are_created_each_once() {
        let f = flow();
        let lit = PATTERN_LITERAL;
        let source = vec![
            acl("orders", lit, OP_ALL, PERMISSION_ALLOW),
            acl("orders", lit, OP_READ, PERMISSION_ALLOW), // the same binding on the target
            acl("orders", lit, OP_DESCRIBE, PERMISSION_ALLOW),
            acl("orders-eu", lit, OP_DESCRIBE, PERMISSION_ALLOW),
        ];
        let target = vec![acl("src.orders", lit, OP_DESCRIBE, PERMISSION_ALLOW)];
        assert_eq!(
            to_create(&f, &source, &target),
            vec![
                acl("src.orders", lit, OP_READ, PERMISSION_ALLOW),
                acl("src.orders-eu", lit, OP_DESCRIBE, PERMISSION_ALLOW),
            ]
        );
    }
}
