use super::*;
use crate::cluster::acls::OP_ALL;
use crate::config::FlowConfig;

fn plan(source: &str, target_partitions: Option<i32>) -> TopicPlan {
    TopicPlan {
        source_topic: source.to_owned(),
        target_topic: format!("a.{source}"),
        partitions: 2,
        target_partitions,
    }
}

fn ops(list: &[i8]) -> Operations {
    Operations(list.iter().fold(0, |acc, op| acc | (1 << op)))
}

fn has(needs: &[Need], resource: &Resource, op: i8) -> bool {
    needs.iter().any(|n| &n.resource == resource && n.operation == op)
}

#[test]
fn each_cluster_needs_what_its_requests_are_authorized_by() {
    let flow = FlowConfig::new("a", "b");
    let groups = GroupsConfig {
        sync_group_offsets: true,
        ..GroupsConfig::default()
    };
    let sync = TopicSyncConfig::of(&flow).unwrap();
    let mut needs = Needs::default();
    flow_needs(
        &mut needs,
        &flow,
        &groups,
        &sync,
        &[plan("orders", None), plan("small", Some(1))],
        &["app".to_owned()],
    );
    let topic = |t: &str| Resource::Topic(t.to_owned());
    let source = needs.of("a");
    for op in [OP_DESCRIBE, OP_READ, OP_DESCRIBE_CONFIGS] {
        assert!(has(&source, &topic("orders"), op), "{op}");
    }
    assert!(!has(&source, &topic("orders"), OP_WRITE));
    assert!(has(&source, &Resource::Group("app".to_owned()), OP_DESCRIBE));
    assert!(has(&source, &Resource::Cluster, OP_DESCRIBE), "DescribeAcls");
    // The offset-syncs topic is on the source by default.
    assert!(has(&source, &topic("mm2-offset-syncs.b.internal"), OP_WRITE));
    assert!(has(&source, &topic("mm2-offset-syncs.b.internal"), OP_CREATE));

    let target = needs.of("b");
    for op in [
        OP_CREATE,
        OP_DESCRIBE,
        OP_WRITE,
        OP_DESCRIBE_CONFIGS,
        OP_ALTER_CONFIGS,
        OP_READ,
    ] {
        assert!(has(&target, &topic("a.orders"), op), "{op}");
    }
    assert!(!has(&target, &topic("a.orders"), OP_ALTER));
    assert!(has(&target, &topic("a.small"), OP_ALTER), "partitions added");
    assert!(has(&target, &Resource::Cluster, OP_ALTER), "CreateAcls");
    assert!(has(&target, &Resource::Group("app".to_owned()), OP_READ));
    assert!(has(&target, &topic("a.checkpoints.internal"), OP_WRITE));
    assert!(!has(&target, &topic("mm2-offset-syncs.b.internal"), OP_WRITE));

    let mut needs = Needs::default();
    heartbeat_needs(&mut needs, &crate::offsets::mm2::heartbeat_pairs(&[flow]));
    // Heartbeats go to both clusters (the flow's direction and its reverse).
    assert!(has(&needs.of("a"), &topic("heartbeats"), OP_WRITE));
    assert!(has(&needs.of("b"), &topic("heartbeats"), OP_WRITE));
}

#[test]
fn verdicts_from_the_brokers_answers() {
    let need = |resource: Resource, operation| Need {
        resource,
        operation,
        why: "x".to_owned(),
    };
    let topic = |t: &str| Resource::Topic(t.to_owned());
    let mut access = Access {
        cluster: Some(ops(&[OP_DESCRIBE])),
        ..Access::default()
    };
    let _ = access
        .topics
        .insert("t".to_owned(), TopicAccess::Exists(ops(&[OP_READ, OP_DESCRIBE])));
    let _ = access.topics.insert("new".to_owned(), TopicAccess::Missing);
    let _ = access.topics.insert("hidden".to_owned(), TopicAccess::Denied);
    let _ = access.may_create.insert("new".to_owned(), false);
    let _ = access.groups.insert("g".to_owned(), Ok(ops(&[OP_DESCRIBE])));
    let _ = access
        .groups
        .insert("h".to_owned(), Err(ErrorCode(GROUP_AUTHORIZATION_FAILED)));

    assert_eq!(verdict(&need(topic("t"), OP_READ), &access), Verdict::Granted);
    assert_eq!(verdict(&need(topic("t"), OP_WRITE), &access), Verdict::Missing);
    assert_eq!(
        verdict(&need(topic("t"), OP_CREATE), &access),
        Verdict::Granted,
        "exists"
    );
    assert_eq!(verdict(&need(topic("new"), OP_CREATE), &access), Verdict::Missing);
    assert!(matches!(
        verdict(&need(topic("new"), OP_WRITE), &access),
        Verdict::Unchecked(_)
    ));
    assert_eq!(
        verdict(&need(topic("hidden"), OP_READ), &access),
        Verdict::Missing
    );
    assert!(matches!(
        verdict(&need(topic("hidden"), OP_CREATE), &access),
        Verdict::Unchecked(_)
    ));
    assert_eq!(
        verdict(&need(Resource::Cluster, OP_DESCRIBE), &access),
        Verdict::Granted
    );
    assert_eq!(
        verdict(&need(Resource::Cluster, OP_ALTER), &access),
        Verdict::Missing
    );
    assert_eq!(
        verdict(&need(Resource::Group("g".to_owned()), OP_READ), &access),
        Verdict::Missing
    );
    assert_eq!(
        verdict(&need(Resource::Group("h".to_owned()), OP_DESCRIBE), &access),
        Verdict::Missing
    );
    // A broker that gives no cluster operations: not decided.
    access.cluster = None;
    assert!(matches!(
        verdict(&need(Resource::Cluster, OP_ALL), &access),
        Verdict::Unchecked(_)
    ));
}

#[test]
fn a_missing_permission_comes_with_the_acl_that_grants_it() {
    let m = Missing {
        cluster: "b".to_owned(),
        principal: "User:alice".to_owned(),
        need: Need {
            resource: Resource::Topic("a.orders".to_owned()),
            operation: OP_WRITE,
            why: "producing the mirrored records".to_owned(),
        },
    };
    assert_eq!(
        m.line(),
        "User:alice lacks Write on Topic a.orders of cluster b (producing the mirrored records)"
    );
    assert_eq!(
        m.kafka_acls("127.0.0.1:9092"),
        "kafka-acls.sh --bootstrap-server 127.0.0.1:9092 --add --allow-principal 'User:alice' --operation Write --topic 'a.orders'"
    );
    let cluster = Missing {
        need: Need {
            resource: Resource::Cluster,
            operation: OP_ALTER,
            why: String::new(),
        },
        ..m
    };
    assert!(cluster.kafka_acls("h:1").ends_with("--operation Alter --cluster"));
}
