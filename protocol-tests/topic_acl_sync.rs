//! Topic config sync, topic ACL sync and `kmirror check`'s permission check on an Apache Kafka
//! broker with an authorizer (KRaft `StandardAuthorizer`), results read back with
//! confluent-kafka's AdminClient (`support/kafka_admin.py`):
//! - a config set and an override deleted on a source topic reach the target topic within the
//!   sync interval; an excluded config does not; MirrorMaker 2 (connect-mirror, run beside
//!   kmirror on the same broker under other aliases) ends with the same overrides;
//! - the source topic's ACLs appear on the target exactly as MM2 creates them from the same
//!   ACLs: literal only, no Allow Write, Allow All as Allow Read, Deny kept;
//! - `kmirror check` names each permission a partially authorised SCRAM user lacks with the
//!   ACL that grants it; once those ACLs are granted it passes, and kmirror replicates as
//!   that user (no IdempotentWrite granted: KIP-679).
//!
//! Each test has a broker of its own (the shared ones have no authorizer). Source and target
//! are that one broker under two aliases: the target topic of `<t>` is `source.<t>`. The
//! PLAINTEXT and controller listeners' principal (ANONYMOUS) and `alice` are super users, so
//! the broker's own traffic and the test's admin client are authorized.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::kafka::{Kafka, KafkaOptions};
use crate::support::kmirror::Kmirror;
use crate::support::mm2::{self, Mm2};
use crate::support::pyadmin::{self, Acl};
use crate::support::pyclient::{self, PyRecord};
use crate::support::{eventually, hex, mm2_properties, topic};

async fn authorized_kafka() -> Kafka {
    Kafka::single_with(
        KafkaOptions::default()
            .with("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer")
            .with("super.users=User:ANONYMOUS;User:alice"),
    )
    .await
}

/// The ACLs of topic `name`.
async fn acls_of(bootstrap: &str, name: &str) -> BTreeSet<Acl> {
    pyadmin::topic_acls(bootstrap)
        .await
        .into_iter()
        .filter(|a| a.name == name)
        .collect()
}

/// The value of `config` on `topic` when it is the topic's own override.
async fn override_of(bootstrap: &str, topic: &str, config: &str) -> Option<String> {
    let configs = pyadmin::topic_configs(bootstrap, topic).await;
    let (value, source) = configs.get(config)?;
    (source == "DYNAMIC_TOPIC_CONFIG")
        .then(|| value.clone())
        .flatten()
}

/// The topic's own overrides: name -> value.
async fn overrides(bootstrap: &str, topic: &str) -> BTreeMap<String, Option<String>> {
    pyadmin::topic_configs(bootstrap, topic)
        .await
        .into_iter()
        .filter(|(_, (_, source))| source == "DYNAMIC_TOPIC_CONFIG")
        .map(|(name, (value, _))| (name, value))
        .collect()
}

/// Waits until `topic` has at least `n` ACLs; returns them.
async fn wait_acls(bootstrap: &str, topic: &str, n: usize, who: &str) -> BTreeSet<Acl> {
    eventually(
        &format!("{who}'s ACLs on {topic}"),
        Duration::from_secs(240),
        || {
            let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
            async move {
                let acls = acls_of(&bootstrap, &topic).await;
                (acls.len() >= n).then_some(acls)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_acls_reach_the_target_as_mm2_makes_them() {
    let _one = mm2::exclusive().await;
    let kafka = authorized_kafka().await;
    let addr = kafka.addr();
    let prefix = topic("sync");
    let name = format!("{prefix}.orders");
    let remote = format!("source.{name}");
    let mm2_remote = format!("mm2src.{name}");
    pyclient::create_topic_with(
        &addr,
        &name,
        1,
        json!({"retention.ms": "3600000", "segment.ms": "3600000"}),
    )
    .await;
    let principal = |who: &str| format!("User:{who}");
    let source_acls = [
        Acl::topic(&name, &principal("reader"), "read"),
        Acl::topic(&name, &principal("writer"), "write"),
        Acl::topic(&name, &principal("owner"), "all"),
        Acl::new("topic", &name, "literal", &principal("blocked"), "read", "deny"),
        Acl::new("topic", &prefix, "prefixed", &principal("pre"), "read", "allow"),
    ];
    pyadmin::create_acls(&addr, &source_acls).await;

    // kmirror, and MirrorMaker 2 on the same broker under aliases of its own (its remote topic
    // is `mm2src.<t>`), both syncing every second.
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &addr,
        &addr,
        &format!(
            "source->target.topics = {prefix}.*\n\
             sync.topic.configs.interval.seconds = 1\n\
             sync.topic.acls.interval.seconds = 1\n\
             emit.heartbeats.enabled = false\n\
             heartbeats.replication.enabled = false\n"
        ),
    );
    let mm2_dir = tempfile::tempdir().unwrap();
    let mm2_config = mm2_dir.path().join("mm2.properties");
    std::fs::write(
        &mm2_config,
        format!(
            "clusters = mm2src, mm2dst\n\
             mm2src.bootstrap.servers = {addr}\n\
             mm2dst.bootstrap.servers = {addr}\n\
             mm2src->mm2dst.enabled = true\n\
             mm2src->mm2dst.topics = {prefix}.*\n\
             sync.topic.configs.interval.seconds = 1\n\
             sync.topic.acls.interval.seconds = 1\n\
             emit.heartbeats.enabled = false\n\
             heartbeats.replication.enabled = false\n\
             {}",
            mm2::ONE_BROKER_SETTINGS
        ),
    )
    .unwrap();
    let mut k = Kmirror::run(&config, dir.path());
    let mm2 = Mm2::start(&mm2_config, mm2_dir.path(), "mm2dst").await;

    // Created with the source's overrides.
    let created = eventually("the target topic", Duration::from_secs(60), || {
        let (addr, remote) = (addr.clone(), remote.clone());
        async move { override_of(&addr, &remote, "retention.ms").await }
    })
    .await;
    assert_eq!(created, "3600000");

    // The ACLs, by MM2's rule, and as MM2 makes them.
    let expected: BTreeSet<Acl> = [
        Acl::topic(&remote, &principal("reader"), "read"),
        Acl::topic(&remote, &principal("owner"), "read"),
        Acl::new("topic", &remote, "literal", &principal("blocked"), "read", "deny"),
    ]
    .into_iter()
    .collect();
    let got = wait_acls(&addr, &remote, expected.len(), "kmirror").await;
    assert_eq!(got, expected, "kmirror's ACLs on {remote}");
    let _ = wait_acls(&addr, &mm2_remote, expected.len(), "MM2").await;
    // A few more intervals, in case either created them in more than one go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let renamed = |acls: BTreeSet<Acl>| -> BTreeSet<Acl> {
        acls.into_iter()
            .map(|a| Acl {
                name: remote.clone(),
                ..a
            })
            .collect()
    };
    assert_eq!(acls_of(&addr, &remote).await, expected);
    assert_eq!(
        renamed(acls_of(&addr, &mm2_remote).await),
        expected,
        "MM2's ACLs on {mm2_remote}:\n{}",
        mm2.tail(40)
    );

    // Changed on the source: one value set, one override deleted, one excluded config set.
    let changed = Instant::now();
    pyadmin::alter_configs(
        &addr,
        &name,
        json!({"retention.ms": "7200000", "min.insync.replicas": "1"}),
        &["segment.ms"],
    )
    .await;
    let want: BTreeMap<String, Option<String>> = [("retention.ms".to_owned(), Some("7200000".to_owned()))]
        .into_iter()
        .collect();
    eventually(
        "the config change on kmirror's target",
        Duration::from_secs(60),
        || {
            let (addr, remote, want) = (addr.clone(), remote.clone(), want.clone());
            async move { (overrides(&addr, &remote).await == want).then_some(()) }
        },
    )
    .await;
    eprintln!(
        "config change on the source seen on kmirror's target after {} ms (sync interval 1 s)",
        changed.elapsed().as_millis()
    );
    // MM2 ends with the same overrides on its remote topic: the new value set, the deleted
    // override deleted, the excluded config left out.
    eventually(
        "the config change on MM2's target",
        Duration::from_secs(120),
        || {
            let (addr, mm2_remote, want) = (addr.clone(), mm2_remote.clone(), want.clone());
            async move { (overrides(&addr, &mm2_remote).await == want).then_some(()) }
        },
    )
    .await;
    assert!(k.has_exited().is_none(), "{}", k.log());
    let log = k.log();
    assert!(
        log.contains("topic config sync: applied the source topic's configs")
            && log.contains("retention.ms=7200000")
            && log.contains("segment.ms (override deleted)"),
        "{log}"
    );
    k.stop_cleanly().await;
    mm2.kill9();
}

const BOB_PASSWORD: &str = "Bob-Secret-7";

/// A flow between the two aliases of `kafka`'s SASL_PLAINTEXT listener, as `bob`.
fn bob_config(dir: &Path, kafka: &Kafka, prefix: &str) -> PathBuf {
    let addr = kafka.sasl_plaintext_addr();
    let mut extra = format!(
        "source->target.topics = {prefix}.*\n\
         sync.topic.configs.interval.seconds = 1\n\
         sync.topic.acls.interval.seconds = 1\n\
         emit.heartbeats.enabled = false\n\
         heartbeats.replication.enabled = false\n"
    );
    for alias in ["source", "target"] {
        extra.push_str(&format!(
            "{alias}.security.protocol = SASL_PLAINTEXT\n\
             {alias}.sasl.mechanism = SCRAM-SHA-512\n\
             {alias}.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required username=\"bob\" password=\"{BOB_PASSWORD}\";\n"
        ));
    }
    mm2_properties(dir, &addr, &addr, &extra)
}

/// `kmirror check`: (passed, stdout).
fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(["check", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .output()
        .expect("run kmirror check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The ACLs of the `grant:` lines `kmirror check` printed (kafka-acls.sh command lines).
fn printed_grants(out: &str) -> Vec<Acl> {
    let quoted = |line: &str, flag: &str| {
        let rest = line.split(&format!("{flag} '")).nth(1)?;
        Some(rest.split('\'').next()?.to_owned())
    };
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("grant: "))
        .map(|line| {
            let principal = quoted(line, "--allow-principal").expect("principal");
            let operation = line
                .split("--operation ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .expect("operation");
            // kafka-acls.sh's CamelCase to confluent-kafka's enum names.
            let mut op = String::new();
            for (i, c) in operation.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    op.push('_');
                }
                op.push(c.to_ascii_lowercase());
            }
            let (kind, name) = if line.ends_with("--cluster") {
                ("cluster", "kafka-cluster".to_owned())
            } else if let Some(t) = quoted(line, "--topic") {
                ("topic", t)
            } else {
                ("group", quoted(line, "--group").expect("resource"))
            };
            Acl::new(kind, &name, "literal", &principal, &op, "allow")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_each_missing_permission_and_passes_once_they_are_granted() {
    let kafka = authorized_kafka().await;
    let addr = kafka.addr();
    let prefix = topic("perm");
    let name = format!("{prefix}.orders");
    let remote = format!("source.{name}");
    pyclient::create_topic(&addr, &name, 1).await;
    let records: Vec<PyRecord> = (0..5)
        .map(|i| PyRecord {
            value: Some(hex(format!("record {i}").as_bytes())),
            ..PyRecord::default()
        })
        .collect();
    let _ = pyclient::produce(&addr, &name, 0, json!({}), &records).await;
    pyadmin::add_scram_user(&addr, "bob", BOB_PASSWORD).await;
    let bob = "User:bob";
    // Partly authorised: reads the source topics, writes the target topics; nothing else.
    pyadmin::create_acls(
        &addr,
        &[
            Acl::new("topic", &prefix, "prefixed", bob, "read", "allow"),
            Acl::new(
                "topic",
                &format!("source.{prefix}"),
                "prefixed",
                bob,
                "write",
                "allow",
            ),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = bob_config(dir.path(), &kafka, &prefix);

    let (passed, out) = check(&config);
    eprintln!("{out}");
    assert!(!passed, "{out}");
    let lacks = |op: &str, resource: &str, cluster: &str| {
        format!("missing: User:bob lacks {op} on {resource} of cluster {cluster}")
    };
    let syncs = "Topic mm2-offset-syncs.target.internal";
    let checkpoints = "Topic source.checkpoints.internal";
    let cluster = "Cluster kafka-cluster";
    let expected = [
        lacks("DescribeConfigs", &format!("Topic {name}"), "source"),
        lacks("Create", &format!("Topic {remote}"), "target"),
        lacks("Create", syncs, "source"),
        lacks("Describe", syncs, "source"),
        lacks("Write", syncs, "source"),
        lacks("Create", checkpoints, "target"),
        lacks("Describe", checkpoints, "target"),
        lacks("Write", checkpoints, "target"),
        lacks("Describe", cluster, "source"),
        lacks("Describe", cluster, "target"),
        lacks("Alter", cluster, "target"),
    ];
    for line in &expected {
        assert!(out.contains(line.as_str()), "{line}\n{out}");
    }
    let missing = out.lines().filter(|l| l.contains("missing: ")).count();
    assert_eq!(missing, expected.len(), "{out}");
    // Granted ones are not named; those of a topic still to be created cannot be read yet.
    assert!(!out.contains(&format!("lacks Read on Topic {name}")), "{out}");
    assert!(
        out.contains(&format!(
            "not checked: Write on Topic {remote} (the topic does not exist yet)"
        )),
        "{out}"
    );
    let grant = format!(
        "grant: kafka-acls.sh --bootstrap-server {} --add --allow-principal 'User:bob' --operation Create --topic '{remote}'",
        kafka.sasl_plaintext_addr()
    );
    assert!(out.contains(&grant), "{out}");

    // The operator grants what was printed: the check passes.
    let grants = printed_grants(&out);
    assert_eq!(grants.len(), expected.len());
    // Source and target are one broker here: Describe on the cluster is printed for both.
    let grants: Vec<Acl> = grants.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    pyadmin::create_acls(&addr, &grants).await;
    let (passed, out) = check(&config);
    assert!(passed, "{out}");
    assert_eq!(
        out.matches("everything the flows need is allowed").count(),
        2,
        "{out}"
    );

    // And kmirror replicates as bob (it holds no IdempotentWrite).
    let mut k = Kmirror::run(&config, dir.path());
    let got = eventually("the records on the target", Duration::from_secs(90), || {
        let (addr, remote, n) = (addr.clone(), remote.clone(), records.len());
        async move {
            let got = pyclient::consume(&addr, &remote, 0, 0, n, 5).await;
            (got.len() == n).then_some(got)
        }
    })
    .await;
    assert_eq!(
        got.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        records.iter().map(|r| r.value.clone()).collect::<Vec<_>>()
    );
    assert!(k.has_exited().is_none(), "{}", k.log());

    // The ACL sync, running as bob, carried bob's literal DescribeConfigs ACL of the source
    // topic (granted above) to the target topic.
    let carried = Acl::topic(&remote, bob, "describe_configs");
    eventually("bob's ACL on the target topic", Duration::from_secs(30), || {
        let (addr, remote, carried) = (addr.clone(), remote.clone(), carried.clone());
        async move { acls_of(&addr, &remote).await.contains(&carried).then_some(()) }
    })
    .await;

    // Now that the target topic exists, its permissions are read too: bob may write it and
    // read its configs, not alter them.
    let (passed, out) = check(&config);
    assert!(!passed, "{out}");
    let line = lacks("AlterConfigs", &format!("Topic {remote}"), "target");
    assert!(out.contains(&line), "{line}\n{out}");
    assert_eq!(out.matches("missing: ").count(), 1, "{out}");
    k.stop_cleanly().await;
    pyadmin::create_acls(&addr, &printed_grants(&out)).await;
    let (passed, out) = check(&config);
    assert!(passed, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_an_authorizer_is_reported_once() {
    let (source, target) = (
        authorized_kafka().await,
        crate::support::kafka::shared_target().await,
    );
    let prefix = topic("noauth");
    let name = format!("{prefix}.orders");
    pyclient::create_topic(&source.addr(), &name, 1).await;
    pyadmin::create_acls(&source.addr(), &[Acl::topic(&name, "User:reader", "read")]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_properties(
        dir.path(),
        &source.addr(),
        &target.addr(),
        &format!(
            "source->target.topics = {prefix}.*\n\
             sync.topic.acls.interval.seconds = 1\n\
             emit.heartbeats.enabled = false\n\
             heartbeats.replication.enabled = false\n"
        ),
    );
    let mut k = Kmirror::run(&config, dir.path());
    let warning = "topic ACL sync: the target cluster has no authorizer";
    eventually("the warning", Duration::from_secs(60), || {
        let log = k.log();
        async move { log.contains(warning).then_some(()) }
    })
    .await;
    // A few more sync rounds (one a second): no further warning, no error, still running.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(k.has_exited().is_none(), "{}", k.log());
    let log = k.log();
    k.stop_cleanly().await;
    assert_eq!(log.matches(warning).count(), 1, "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}
