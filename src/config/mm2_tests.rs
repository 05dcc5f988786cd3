//! Tests of the MM2 properties front end's mapping: which key lands in which setting, scope
//! precedence, aliases, policies, and the keys kept for later features.

use std::time::Duration;

use crate::config::{
    Config, ConfigError, FlowConfig, GappedPolicy, OffsetSyncsLocation, ReplicationPolicy,
    from_properties_str,
};
use crate::security::{SaslMechanism, SecurityProtocol};

const BASE: &str = "clusters = A, B, C\nA.bootstrap.servers = a:9092\n\
                    B.bootstrap.servers = b1:9092, b2:9092\n\
                    C.bootstrap.servers = c:9092\nA->B.enabled = true\n";

fn load(extra: &str) -> Result<Config, ConfigError> {
    from_properties_str(&format!("{BASE}{extra}"), "mm2.properties")
}

fn flow(config: &Config, name: &str) -> FlowConfig {
    config.flows.iter().find(|f| f.name() == name).cloned().unwrap()
}

#[test]
fn defaults_when_nothing_is_set() {
    let c = load("").unwrap();
    assert_eq!(c.flows.len(), 1);
    let f = flow(&c, "A->B");
    let expected = FlowConfig {
        properties: f.properties.clone(),
        ..FlowConfig::new("A", "B")
    };
    assert_eq!(f, expected);
    assert_eq!(c.clusters["B"].bootstrap_servers, ["b1:9092", "b2:9092"]);
    assert_eq!(c.clusters["A"].client, crate::config::ClientConfig::default());
}

#[test]
fn enabled_defaults_to_false_as_in_mm2() {
    let c = load("B->A.topics = x\nA->C.enabled = false\n").unwrap();
    assert_eq!(c.flows.iter().map(FlowConfig::name).collect::<Vec<_>>(), ["A->B"]);
    let err = load("B->A.enabled = yes\n").unwrap_err();
    assert!(
        err.problems[0].contains("`B->A.enabled`: `yes` is not a boolean"),
        "{err}"
    );
}

#[test]
fn mm2_keys_map_onto_settings() {
    let c = load(
        "topics = orders.*, payments\ntopics.exclude = .*-dlq\nreplication.policy.separator = _\n\
         refresh.topics.interval.seconds = 30\nreplication.factor = 3\nsync.topic.configs.enabled = false\n\
         config.properties.exclude = retention\\\\..*\nmax.in.flight.requests.per.connection = 2\n\
         fetch.max.bytes = 1000000\nmax.partition.fetch.bytes = 100000\nfetch.max.wait.ms = 100\n\
         offset.flush.interval.ms = 2500\ngapped.batches = fail\nA.client.id = mirror-a\n\
         A.request.timeout.ms = 40000\nA.socket.connection.setup.timeout.ms = 3000\nA.retries = 2\n\
         A.reconnect.backoff.ms = 10\nA.reconnect.backoff.max.ms = 100\nA.max.frame.bytes = 2000000\n\
         A.max.in.flight.requests.per.connection = 4\n",
    )
    .unwrap();
    let f = flow(&c, "A->B");
    assert!(f.topics.matches("orders-eu") && f.topics.matches("payments"));
    assert!(!f.topics.matches("refunds") && !f.topics.matches("orders-dlq"));
    assert_eq!(f.target_topic("orders"), "A_orders");
    assert_eq!(f.refresh_topics_interval, Duration::from_secs(30));
    assert_eq!(f.replication_factor, 3);
    assert!(!f.sync_topic_configs);
    assert!(f.config_exclude.excludes("retention.ms") && !f.config_exclude.excludes("min.insync.replicas"));
    assert_eq!(f.max_in_flight, 2);
    assert_eq!(
        (f.fetch_max_bytes, f.fetch_partition_max_bytes),
        (1_000_000, 100_000)
    );
    assert_eq!(f.fetch_max_wait, Duration::from_millis(100));
    assert_eq!(f.offset_flush_interval, Duration::from_millis(2500));
    assert_eq!(f.gapped_batches, GappedPolicy::Fail);
    let a = &c.clusters["A"].client;
    assert_eq!(a.client_id, "mirror-a");
    assert_eq!(a.request_timeout, Duration::from_secs(40));
    assert_eq!(a.connect_timeout, Duration::from_secs(3));
    assert_eq!(a.request_retries, 2);
    assert_eq!(a.reconnect_backoff, Duration::from_millis(10));
    assert_eq!(a.reconnect_backoff_max, Duration::from_millis(100));
    assert_eq!((a.max_frame_bytes, a.max_in_flight), (2_000_000, 4));
}

#[test]
fn flow_keys_override_top_level_keys() {
    let c = load("A->C.enabled = true\ntopics = a.*\nA->C.topics = c.*\nreplication.factor = 2\n").unwrap();
    let (ab, ac) = (flow(&c, "A->B"), flow(&c, "A->C"));
    assert!(ab.topics.matches("a1") && !ab.topics.matches("c1"));
    assert!(ac.topics.matches("c1") && !ac.topics.matches("a1"));
    assert_eq!((ab.replication_factor, ac.replication_factor), (2, 2));
    assert_eq!(ac.properties["topics"], "c.*");
    assert_eq!(ab.properties["topics"], "a.*");
}

#[test]
fn cluster_fallbacks_sit_between_flow_and_top_level() {
    let c = load(
        "A->C.enabled = true\nfetch.max.bytes = 1000\nA.consumer.fetch.max.bytes = 2000\n\
         A->C.fetch.max.bytes = 3000\nB.producer.max.in.flight.requests.per.connection = 1\n\
         B.offset.flush.interval.ms = 7000\n",
    )
    .unwrap();
    let (ab, ac) = (flow(&c, "A->B"), flow(&c, "A->C"));
    assert_eq!((ab.fetch_max_bytes, ac.fetch_max_bytes), (2000, 3000));
    assert_eq!((ab.max_in_flight, ac.max_in_flight), (1, 5));
    assert_eq!(ab.offset_flush_interval, Duration::from_secs(7));
    assert_eq!(ac.offset_flush_interval, Duration::from_secs(1));
}

#[test]
fn blacklist_is_an_alias_of_exclude() {
    let f = flow(&load("topics.blacklist = secret.*\n").unwrap(), "A->B");
    assert!(!f.topics.matches("secret-1") && f.topics.matches("__consumer_offsets"));
    // The current name wins in the same scope; the flow's scope wins over the top level.
    let f = flow(
        &load("topics.exclude = x\ntopics.blacklist = y\n").unwrap(),
        "A->B",
    );
    assert_eq!(f.topics.exclude().patterns(), ["x"]);
    let f = flow(
        &load("topics.exclude = x\nA->B.topics.blacklist = y\n").unwrap(),
        "A->B",
    );
    assert_eq!(f.topics.exclude().patterns(), ["y"]);
    let f = flow(&load("config.properties.blacklist = a\\\\.b\n").unwrap(), "A->B");
    assert!(f.config_exclude.excludes("a.b") && !f.config_exclude.excludes("min.insync.replicas"));
}

#[test]
fn policy_class_by_short_or_full_name() {
    for class in [
        "IdentityReplicationPolicy",
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
    ] {
        let f = flow(
            &load(&format!("replication.policy.class = {class}\n")).unwrap(),
            "A->B",
        );
        assert_eq!(f.policy, ReplicationPolicy::Identity);
    }
    let f = flow(
        &load("A->B.replication.policy.class = DefaultReplicationPolicy\n").unwrap(),
        "A->B",
    );
    assert_eq!(f.policy, ReplicationPolicy::default());
    let err = load("replication.policy.class = com.example.Custom\n").unwrap_err();
    assert!(err.problems[0].contains("`replication.policy.class`: `com.example.Custom` is not supported"));
}

#[test]
fn later_feature_keys_land_in_flow_properties_checked() {
    let c = load("groups = app.*\nA->B.emit.checkpoints.interval.seconds = 5\ntasks.max = 8\n").unwrap();
    let f = flow(&c, "A->B");
    assert_eq!(f.properties["groups"], "app.*");
    assert_eq!(f.properties["emit.checkpoints.interval.seconds"], "5");
    assert_eq!(f.properties["tasks.max"], "8");
    let err = load("emit.checkpoints.interval.seconds = soon\ngroups = (?=x)\n").unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
}

#[test]
fn offset_sync_and_heartbeat_keys_are_typed_per_flow() {
    let c = load(
        "offset.lag.max = 10\nA->B.offset-syncs.topic.location = target\nheartbeats.replication.enabled = false\n",
    )
    .unwrap();
    let f = flow(&c, "A->B");
    assert_eq!(f.internal_topics.offset_lag_max, 10);
    assert_eq!(
        f.internal_topics.offset_syncs_location,
        OffsetSyncsLocation::Target
    );
    assert!(!f.internal_topics.replicate_heartbeats);
    assert!(!f.properties.contains_key("offset.lag.max"));
    let err = load("A->B.emit.heartbeats.interval.seconds = 0\n").unwrap_err();
    assert!(
        err.problems[0].contains("`A->B.emit.heartbeats.interval.seconds`"),
        "{err}"
    );
}

#[test]
fn security_keys_reach_the_cluster_with_top_level_fallbacks() {
    let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=p;";
    let c = load(&format!(
        "security.protocol = SASL_PLAINTEXT\nsasl.mechanism = PLAIN\nsasl.jaas.config = {jaas}\n\
         B.sasl.mechanism = SCRAM-SHA-512\n\
         B.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required username=b password=q;\n"
    ))
    .unwrap();
    let security = |alias: &str| c.clusters[alias].client.security.clone();
    assert_eq!(security("A").protocol, SecurityProtocol::SaslPlaintext);
    assert_eq!(security("A").sasl.unwrap().mechanism, SaslMechanism::Plain);
    let b = security("B").sasl.unwrap();
    assert_eq!(
        (b.mechanism, b.username.as_str()),
        (SaslMechanism::ScramSha512, "b")
    );
    assert_eq!(b.password.expose(), "q");
    assert!(!c.clusters["B"].properties.contains_key("sasl.jaas.config"));
    assert!(
        c.warnings
            .iter()
            .any(|w| w
                .contains("`security.protocol`: SASL_PLAINTEXT with PLAIN sends the password unencrypted")),
        "{:?}",
        c.warnings
    );
    assert_eq!(
        c.clusters["B"].properties["bootstrap.servers"],
        "b1:9092, b2:9092"
    );
    let err = load("C.security.protocol = TLS\n").unwrap_err();
    assert!(
        err.problems[0].contains("`C.security.protocol`: `TLS` is not one of"),
        "{err}"
    );
}
