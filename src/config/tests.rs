//! Tests across both front ends: the shipped configuration files, the TOML front end, the
//! same flow from both formats, problems collected all at once, and no panic on any input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

const TOML_BASE: &str = r#"
[clusters.A]
bootstrap_servers = ["a:9092"]
[clusters.B]
bootstrap_servers = ["b:9092"]
"#;

fn toml(flows: &str) -> Result<Config, ConfigError> {
    from_toml_str(&format!("{TOML_BASE}{flows}"), "kmirror.toml")
}

#[test]
fn reference_toml_gives_exactly_the_defaults() {
    let c = load(&repo_file("config/kmirror.toml")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(c.memory_budget_bytes, DEFAULT_MEMORY_BUDGET_BYTES);
    assert_eq!(c.metrics_addr, None);
    assert_eq!(c.partition_metrics, DEFAULT_PARTITION_METRICS);
    assert_eq!(c.progress_interval, DEFAULT_PROGRESS_INTERVAL);
    let expected: BTreeMap<String, ClusterConfig> =
        [("source", "127.0.0.1:19092"), ("target", "127.0.0.1:19093")]
            .into_iter()
            .map(|(a, s)| (a.to_owned(), ClusterConfig::new(a, vec![s.to_owned()])))
            .collect();
    assert_eq!(c.clusters, expected);
    assert_eq!(c.flows, vec![FlowConfig::new("source", "target")]);
}

/// Every security key is documented in the reference file (TOML name) and on the security page
/// (MM2 name).
#[test]
fn every_security_key_is_documented() {
    let reference = std::fs::read_to_string(repo_file("config/kmirror.toml")).unwrap();
    let page = std::fs::read_to_string(repo_file("docs/security.md")).unwrap();
    for (key, _) in super::security::KEYS {
        let field = key.replace('.', "_");
        assert!(
            reference.contains(&field),
            "config/kmirror.toml does not mention {field}"
        );
        assert!(
            page.contains(&format!("`{key}`")),
            "docs/security.md does not document `{key}`"
        );
    }
}

#[test]
fn demo_properties_loads_the_expected_flow() {
    let c = load(&repo_file("config/demo.properties")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.clusters["source"].bootstrap_servers, ["127.0.0.1:19092"]);
    assert_eq!(c.clusters["target"].bootstrap_servers, ["127.0.0.1:19093"]);
    let [f] = c.flows.as_slice() else {
        panic!("one flow expected: {:?}", c.flows)
    };
    // Everything else is the defaults.
    let expected = FlowConfig {
        properties: f.properties.clone(),
        ..FlowConfig::new("source", "target")
    };
    assert_eq!(*f, expected);
    assert_eq!(f.properties["enabled"], "true");
    assert_eq!(f.target_topic("orders"), "source.orders");
    assert!(f.replicates("orders") && !f.replicates("target.orders"));
}

#[test]
fn both_formats_give_the_same_flow() {
    let from_toml = toml(
        r#"[[flows]]
source = "A"
target = "B"
topics = ["orders.*", "payments"]
replication_policy = "identity"
replication_factor = 3
fetch_max_wait_ms = 250
refresh_topics_interval_ms = 30000
gapped_batches = "fail"
log_append_time_timestamps = "producer-time"
partition_failure = "stop-process"
[flows.properties]
"sync.group.offsets.enabled" = true
"#,
    )
    .unwrap();
    let from_properties = from_properties_str(
        "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n\
         A->B.topics = orders.*, payments\nreplication.policy.class = IdentityReplicationPolicy\n\
         replication.factor = 3\nfetch.max.wait.ms = 250\nrefresh.topics.interval.seconds = 30\n\
         gapped.batches = fail\nlog.append.time.timestamps = producer-time\n\
         A->B.partition.failure = stop-process\nA->B.sync.group.offsets.enabled = true\n",
        "mm2.properties",
    )
    .unwrap();
    let (t, p) = (&from_toml.flows[0], &from_properties.flows[0]);
    assert_eq!(t.properties["sync.group.offsets.enabled"], "true");
    assert_eq!(p.log_append_time_timestamps, LogAppendTimestamps::ProducerTime);
    assert_eq!(p.partition_failure, PartitionFailure::StopProcess);
    assert_eq!(
        *t,
        FlowConfig {
            properties: t.properties.clone(),
            ..p.clone()
        }
    );
    assert_eq!(
        from_toml.clusters["A"].client,
        from_properties.clusters["A"].client
    );
}

#[test]
fn toml_rejects_unknown_fields_with_a_position() {
    let err = toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\ntopic = [\"x\"]\n").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let p = &err.problems[0];
    assert!(
        p.starts_with("kmirror.toml:9:1: `flows[0].topic`: unknown field `topic`"),
        "{p}"
    );
    let err = toml(
        "[[flows]]\nsource = \"A\"\ntarget = \"B\"\n[[flows]]\nsource = \"B\"\ntarget = \"A\"\n\
                    [flows.properties]\n\"x\" = [1]\n",
    )
    .unwrap_err();
    assert!(
        err.problems[0].contains(": `flows[1].properties.\"x\"`: expected a string, a boolean or a number"),
        "{err}"
    );
    let err = toml("[clusters.C]\nbootstrap_servers = 3\n").unwrap_err();
    assert!(
        err.problems[0].contains(":7:21: `clusters.C.bootstrap_servers`: invalid type"),
        "{err}"
    );
}

#[test]
fn toml_properties_tables() {
    let c = toml(
        "[clusters.C]\nbootstrap_servers = [\"c:1\"]\n[clusters.C.properties]\n\
         \"frob\" = 1\n[[flows]]\nsource = \"A\"\ntarget = \"C\"\n\
         [flows.properties]\n\"offset.lag.max\" = 50\n\
         \"frob\" = \"x\"\n",
    )
    .unwrap();
    assert_eq!(c.clusters["C"].properties["frob"], "1");
    assert_eq!(c.flows[0].internal_topics.offset_lag_max, 50);
    assert!(!c.flows[0].properties.contains_key("offset.lag.max"));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("`clusters.C.properties.\"frob\"`: unknown key"));
    let err =
        toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\n[flows.properties]\ntopics = \"x\"\n").unwrap_err();
    assert!(
        err.problems[0].contains("`flows[0].properties.\"topics\"`: is a setting kmirror reads natively")
    );
    let err = toml("[clusters.C]\nbootstrap_servers = [\"c:1\"]\n[clusters.C.properties]\n\"security.protocol\" = \"SSL\"\n")
        .unwrap_err();
    assert!(
        err.problems[0].contains("is a security key: set `security_protocol` in [clusters.C.security]"),
        "{err}"
    );
}

#[test]
fn disabled_toml_flows_are_left_out() {
    let c = toml(
        "[[flows]]\nsource = \"A\"\ntarget = \"B\"\n\
         [[flows]]\nsource = \"B\"\ntarget = \"A\"\nenabled = false\n",
    )
    .unwrap();
    assert_eq!(c.flows.iter().map(FlowConfig::name).collect::<Vec<_>>(), ["A->B"]);
    let err = toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nenabled = false\n").unwrap_err();
    assert!(
        err.problems[0].contains("no replication flow is enabled"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = from_toml_str(
        r#"
memory_budget_bytes = 0
[clusters.A]
bootstrap_servers = []
[clusters.B]
bootstrap_servers = ["b"]
request_timeout_ms = 0
[[flows]]
source = "A"
target = "Z"
max_in_flight = 6
[[flows]]
source = "A"
target = "A"
topics = ["(?<!x)y"]
[[flows]]
source = "B"
target = "A"
replication_factor = 0
fetch_max_bytes = -1
[[flows]]
source = "B"
target = "A"
"#,
        "bad.toml",
    )
    .unwrap_err();
    let expected = [
        "bad.toml: `memory_budget_bytes`: 0 is out of range",
        "bad.toml: `clusters.A.bootstrap_servers`: no bootstrap server",
        "bad.toml: `clusters.B.bootstrap_servers`: `b` is not host:port",
        "bad.toml: `clusters.B.request_timeout_ms`: 0 is out of range: must be positive",
        "bad.toml: `flows[0]`: target `Z` is not a configured cluster (known: A, B)",
        "bad.toml: `flows[0].max_in_flight`: 6 is out of range: an idempotent producer",
        "bad.toml: `flows[1]`: source and target are the same cluster `A`",
        "bad.toml: `flows[1].topics`: pattern `(?<!x)y` uses a look-behind, Java-only regex syntax",
        "bad.toml: `flows[2].replication_factor`: 0 is not a replication factor",
        "bad.toml: `flows[2].fetch_max_bytes`: -1 is out of range: must be between 1 and 2147483647",
        "bad.toml: `flows[3]`: flow B->A is already defined by `flows[2]`",
    ];
    assert_eq!(err.problems.len(), expected.len(), "{err}");
    for (p, e) in err.problems.iter().zip(expected) {
        assert!(p.starts_with(e), "{p}\n  expected: {e}");
    }
    assert_eq!(err.to_string().lines().count(), expected.len());
}

#[test]
fn cross_checks_between_settings() {
    let err = toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nfetch_max_bytes = 200000000\n").unwrap_err();
    assert!(
        err.problems[0].contains("`flows[0].fetch_max_bytes`: 200000000 is larger than the largest response"),
        "{err}"
    );
    let err = from_toml_str(
        &format!("memory_budget_bytes = 1000000\n{TOML_BASE}[[flows]]\nsource = \"A\"\ntarget = \"B\"\n"),
        "k.toml",
    )
    .unwrap_err();
    assert!(
        err.problems[0].contains("`memory_budget_bytes`: 1000000 is smaller than `flows[0].fetch_max_bytes`")
    );
}

#[test]
fn separators_and_aliases() {
    let c = toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nseparator = \"_\"\n").unwrap();
    assert_eq!(c.flows[0].target_topic("t"), "A_t");
    let err = toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nseparator = \"\"\n").unwrap_err();
    assert!(err.problems[0].contains("`flows[0].separator`: must not be empty"));
    let c = toml(
        "[[flows]]\nsource = \"A\"\ntarget = \"B\"\nreplication_policy = \"identity\"\nseparator = \"_\"\n",
    )
    .unwrap();
    assert!(c.warnings[0].contains("not used with the identity policy"));
    let err = from_properties_str(
        "clusters = a b, B\na b.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\na b->B.enabled = true\n",
        "m",
    )
    .unwrap_err();
    assert!(
        err.problems[0].contains("cluster alias `a b` cannot prefix topic names"),
        "{err}"
    );
}

#[test]
fn load_picks_the_front_end_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("kmirror.yaml");
    std::fs::write(&other, "x").unwrap();
    let err = load(&other).unwrap_err();
    assert!(err.problems[0].starts_with(&other.display().to_string()) && err.problems[0].contains(".toml"));
    let missing = load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(missing.problems[0].contains("cannot read"), "{missing}");
}

#[test]
fn durations_and_numbers_convert() {
    let c = toml(
        "[[flows]]\nsource = \"A\"\ntarget = \"B\"\nfetch_max_wait_ms = 0\noffset_flush_interval_ms = 5\n",
    )
    .unwrap();
    assert_eq!(c.flows[0].fetch_max_wait, Duration::ZERO);
    assert_eq!(c.flows[0].offset_flush_interval, Duration::from_millis(5));
    let err =
        toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nfetch_max_wait_ms = 9999999999\n").unwrap_err();
    assert!(err.problems[0].contains("is too large"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text, however odd, gives a configuration or a list of problems, never a panic.
    #[test]
    fn parsers_never_panic(text in r#"[A-Ba-z0-9 \t\r\n\\=:#!.,>\[\]{}"'_*+?()é\x{80}-]{0,200}"#) {
        let _ = from_properties_str(&text, "fuzz.properties");
        let _ = from_toml_str(&text, "fuzz.toml");
    }

    #[test]
    fn properties_with_structure_never_panic(
        lines in prop::collection::vec(
            (prop::sample::select(vec!["clusters", "A.bootstrap.servers", "B.bootstrap.servers",
                "A->B.enabled",
                "A->B.topics", "topics.exclude", "replication.factor", "B->A.enabled", "A->A.enabled",
                "fetch.max.bytes", "A.request.timeout.ms", "memory.budget.bytes", "groups"]),
             r"[A-Ba-z0-9 .,:*\-\\()?!<=]{0,12}"),
            0..12,
        )
    ) {
        let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let _ = from_properties_str(&text, "fuzz.properties");
    }
}

#[test]
fn observability_keys_in_both_formats() {
    let flows = "[[flows]]\nsource = \"A\"\ntarget = \"B\"\n";
    let c = from_toml_str(
        &format!("metrics_addr = \"127.0.0.1:9644\"\npartition_metrics = false\nprogress_interval_ms = 2500\n{TOML_BASE}{flows}"),
        "kmirror.toml",
    )
    .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9644".parse().unwrap()));
    assert!(!c.partition_metrics);
    assert_eq!(c.progress_interval, Duration::from_millis(2500));

    let props =
        "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";
    let p = from_properties_str(
        &format!(
            "{props}metrics.addr = 0.0.0.0:9000\npartition.metrics = false\nprogress.interval.ms = 2500\n"
        ),
        "mm2.properties",
    )
    .unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.metrics_addr, Some("0.0.0.0:9000".parse().unwrap()));
    assert!(!p.partition_metrics);
    assert_eq!(p.progress_interval, Duration::from_millis(2500));

    let err = from_properties_str(
        &format!("{props}metrics.addr = localhost\npartition.metrics = maybe\nprogress.interval.ms = 0\n"),
        "mm2.properties",
    )
    .unwrap_err();
    let all = err.problems.join("\n");
    for key in ["`metrics.addr`", "`partition.metrics`", "`progress.interval.ms`"] {
        assert!(all.contains(key), "{key} not in {all}");
    }
}

#[test]
fn timestamp_and_failure_settings_are_checked_in_both_formats() {
    let err =
        toml("[[flows]]\nsource = \"A\"\ntarget = \"B\"\nlog_append_time_timestamps = \"create-time\"\n")
            .unwrap_err();
    assert!(
        err.problems[0].contains("`flows[0].log_append_time_timestamps`: unknown variant `create-time`"),
        "{err}"
    );
    let props =
        "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";
    let err = from_properties_str(
        &format!("{props}log.append.time.timestamps = now\nA->B.partition.failure = stop\n"),
        "mm2.properties",
    )
    .unwrap_err();
    let all = err.problems.join("\n");
    assert_eq!(err.problems.len(), 2, "{all}");
    assert!(
        all.contains("`A->B.partition.failure`: `stop` is not one of stop-partition, stop-process"),
        "{all}"
    );
    assert!(
        all.contains("`log.append.time.timestamps`: `now` is not one of append-time, producer-time"),
        "{all}"
    );
}

#[test]
fn copying_message_timestamp_type_is_warned_about() {
    let props =
        "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";
    let c = from_properties_str(
        &format!("{props}config.properties.exclude = min\\\\.insync\\\\.replicas\n"),
        "mm2.properties",
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("`config.properties.exclude`: does not exclude message.timestamp.type"),
        "{:?}",
        c.warnings
    );
    // Not copied at all: nothing to warn about.
    let c = from_properties_str(
        &format!("{props}config.properties.exclude = x\nsync.topic.configs.enabled = false\n"),
        "mm2.properties",
    )
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
