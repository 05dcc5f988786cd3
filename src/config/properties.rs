//! MirrorMaker 2 `.properties` front end: an existing `mm2.properties` runs unchanged.
//!
//! Layout, as MM2's `MirrorMakerConfig` reads it
//! (`connect/mirror/src/main/java/org/apache/kafka/connect/mirror/MirrorMakerConfig.java`):
//! - `clusters = A, B` lists the aliases (required).
//! - `A.<key>` is cluster-scoped: `bootstrap.servers`, security (`security.protocol`,
//!   `ssl.*`, `sasl.*`; top-level ones are fallbacks for every cluster) and client settings
//!   (`request.timeout.ms`, `client.id`, … onto [`ClientConfig`](super::ClientConfig)).
//! - `A->B.enabled = true` enables a flow. Unset means disabled, as in MM2.
//! - Other top-level keys apply to every flow; `A->B.<key>` overrides them for one flow.
//!   A few flow settings also fall back to the cluster-scoped key MM2 users set for the same
//!   purpose (`A.consumer.fetch.max.bytes` for flows from A,
//!   `B.producer.max.in.flight.requests.per.connection` and `B.offset.flush.interval.ms` for
//!   flows into B): flow key, then that cluster key, then top-level key, then the default.
//!
//! Differences from MM2, on purpose:
//! - Booleans must be `true` or `false`; MM2 reads `A->B.enabled` with Java's lenient
//!   parser, which takes `ture` for `false`.
//! - A deprecated name (`topics.blacklist`) yields to the current one in the same scope, and
//!   the more specific scope wins; MM2 merges scopes first, so there a top-level
//!   `topics.exclude` beats `A->B.topics.blacklist`.
//! - `${file:PATH:KEY}`, `${env:NAME}` and `${NAME}` in any value are resolved when the file
//!   is loaded (`substitute.rs`), without `config.providers` having to declare them; other
//!   providers are an error.
//! - Security keys per client (`A.producer.ssl.truststore.location`) are not supported:
//!   kmirror uses `A.<key>` for every connection to A, and warns.
//!
//! Java reads these files as ISO-8859-1 (`Properties.load(InputStream)`), so [`decode`] maps
//! each byte to the code point of the same value; `\uXXXX` escapes give everything else.

use std::borrow::Cow;
use std::collections::BTreeMap;

use encoding_rs::UTF_8;
use java_properties::{LineContent, PropertiesIter};

use super::error::{ConfigError, Report};
use super::filter::split_list;
use super::keys;
use super::model::Config;
use super::substitute::substitute;
use super::validate::validate;

pub(super) const STATE_DIR: &str = "state.dir";
pub(super) const MEMORY_BUDGET_BYTES: &str = "memory.budget.bytes";
pub(super) const METRICS_ADDR: &str = "metrics.addr";
pub(super) const PARTITION_METRICS: &str = "partition.metrics";
pub(super) const PROGRESS_INTERVAL: &str = "progress.interval.ms";
pub(super) const OFFSETS_HISTORY_MAX: &str = "offsets.history.max";

/// The bytes of a properties file as Java reads them (ISO-8859-1).
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    encoding_rs::mem::decode_latin1(bytes)
}

/// Reads an MM2-style properties text (already decoded, see [`decode`]); `origin` names it in
/// messages.
pub fn from_properties_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut report = Report::new(origin);
    let entries = read_entries(text, &mut report)?;
    let layout = Layout::classify(entries, &mut report);
    let draft = layout.draft(&mut report);
    validate(draft, report)
}

/// Key/value pairs; the last of several values wins, as in Java, with a warning.
fn read_entries(text: &str, report: &mut Report) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut entries = BTreeMap::new();
    let mut lines = BTreeMap::new();
    // The text is already decoded; hand it over as UTF-8 so nothing is decoded twice.
    for line in PropertiesIter::new_with_encoding(text.as_bytes(), UTF_8) {
        let line = line.map_err(|e| ConfigError::whole(report.origin(), e))?;
        let number = line.line_number();
        if let LineContent::KVPair(key, value) = line.consume_content() {
            if let Some(first) = lines.insert(key.clone(), number) {
                report.warn(
                    &key,
                    format!("set on lines {first} and {number}; the last value is used"),
                );
            }
            let value = match substitute(value.trim()) {
                Ok(v) => v.into_owned(),
                Err(e) => {
                    report.problem(&key, e);
                    String::new()
                }
            };
            entries.insert(key, value);
        }
    }
    Ok(entries)
}

/// The keys sorted by scope: top level, `<alias>.`, `<source>-><target>.` (prefixes stripped).
#[derive(Debug, Default)]
pub(super) struct Layout {
    pub(super) aliases: Vec<String>,
    pub(super) top: BTreeMap<String, String>,
    pub(super) clusters: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) flows: BTreeMap<(String, String), BTreeMap<String, String>>,
}

impl Layout {
    fn classify(mut entries: BTreeMap<String, String>, report: &mut Report) -> Self {
        let mut layout = Self::default();
        match entries.remove("clusters") {
            None => report.problem("clusters", "is required: the list of cluster aliases"),
            Some(list) => {
                for alias in split_list(&list) {
                    if layout.aliases.contains(&alias) {
                        report.warn("clusters", format!("lists `{alias}` more than once"));
                    } else {
                        layout.aliases.push(alias);
                    }
                }
                if layout.aliases.is_empty() {
                    report.problem("clusters", "lists no cluster");
                }
            }
        }
        for (key, value) in entries {
            if let Some((source, rest)) = key.split_once("->") {
                match layout.split_target(rest) {
                    Some((target, sub)) => {
                        let scope = (source.to_owned(), target);
                        layout.flows.entry(scope).or_default().insert(sub, value);
                    }
                    None => report.warn(&key, "is not a flow key (`source->target.key`), ignored"),
                }
            } else if is_top_level_key(&key) {
                layout.top.insert(key, value);
            } else if let Some((alias, sub)) = layout.split_alias(&key) {
                layout.clusters.entry(alias).or_default().insert(sub, value);
            } else {
                layout.top.insert(key, value);
            }
        }
        layout.warn_unused(report);
        layout
    }

    /// `B.key` after `A->`: the longest known alias followed by a dot, else up to the first dot.
    fn split_target(&self, rest: &str) -> Option<(String, String)> {
        let known = self
            .aliases
            .iter()
            .filter_map(|a| Some((a, rest.strip_prefix(a.as_str())?.strip_prefix('.')?)))
            .max_by_key(|(a, _)| a.len());
        let (target, sub) = match known {
            Some((a, sub)) => (a.as_str(), sub),
            None => rest.split_once('.')?,
        };
        (!sub.is_empty()).then(|| (target.to_owned(), sub.to_owned()))
    }

    fn split_alias(&self, key: &str) -> Option<(String, String)> {
        self.aliases
            .iter()
            .filter_map(|a| Some((a, key.strip_prefix(a.as_str())?.strip_prefix('.')?)))
            .filter(|(_, sub)| !sub.is_empty())
            .max_by_key(|(a, _)| a.len())
            .map(|(a, sub)| (a.clone(), sub.to_owned()))
    }

    fn warn_unused(&self, report: &mut Report) {
        for key in self.top.keys() {
            if key.starts_with("config.providers") {
                // `${file:…}` and `${env:…}` are built in; the provider classes are not needed.
            } else if key == "enabled" {
                report.warn(
                    key,
                    "enables nothing at top level: set `<source>-><target>.enabled = true`",
                );
            } else if keys::CLIENT_KEYS.contains(&key.as_str()) {
                report.warn(
                    key,
                    format!("is per cluster: set `<alias>.{key}`; ignored at top level"),
                );
            } else if is_client_security_key(key) {
                report.warn(key, PER_CLIENT_SECURITY);
            } else if !is_top_level_key(key) {
                report.warn(key, "unknown key, ignored");
            }
            warn_deprecated(report, key, key);
        }
        for (alias, keys) in &self.clusters {
            for key in keys.keys() {
                if is_client_security_key(key) {
                    report.warn(&format!("{alias}.{key}"), PER_CLIENT_SECURITY);
                } else if !is_cluster_key(key) {
                    report.warn(&format!("{alias}.{key}"), "not used by kmirror, ignored");
                }
            }
        }
        for ((source, target), keys) in &self.flows {
            for alias in [source, target].into_iter().filter(|a| !self.aliases.contains(a)) {
                report.warn(
                    &format!("{source}->{target}.*"),
                    format!("`{alias}` is not listed in `clusters`"),
                );
            }
            for key in keys.keys() {
                let written = format!("{source}->{target}.{key}");
                if keys::security_key(key) || is_client_security_key(key) {
                    report.warn(
                        &written,
                        "security keys are per cluster (`<alias>.ssl.…`, `<alias>.sasl.…`); ignored in a flow",
                    );
                } else if !is_flow_key(key) {
                    report.warn(&written, "unknown key, ignored");
                }
                warn_deprecated(report, &written, key);
            }
        }
    }
}

const PER_CLIENT_SECURITY: &str = "per-client security keys are not supported: kmirror uses the \
    cluster's own keys (without producer./consumer./admin.) for every connection; ignored";

fn warn_deprecated(report: &mut Report, written: &str, key: &str) {
    let current = match key {
        "topics.blacklist" => "topics.exclude",
        "groups.blacklist" => "groups.exclude",
        "config.properties.blacklist" => "config.properties.exclude",
        _ => return,
    };
    report.warn(
        written,
        format!("is deprecated (removed in Kafka 4.0): use `{current}`"),
    );
}

/// Keys that mean something at top level (or in a flow).
pub(super) fn is_top_level_key(key: &str) -> bool {
    is_flow_key(key)
        || key == STATE_DIR
        || key == MEMORY_BUDGET_BYTES
        || key == METRICS_ADDR
        || key == PARTITION_METRICS
        || key == PROGRESS_INTERVAL
        || key == OFFSETS_HISTORY_MAX
        || keys::is_worker_key(key)
        || keys::security_key(key)
        || key.starts_with("config.providers")
}

pub(super) fn is_flow_key(key: &str) -> bool {
    keys::is_mapped_flow_key(key) || keys::later_flow_key(key).is_some()
}

/// `producer.ssl.…`, `consumer.sasl.…`: MM2's per-client security overrides.
pub(super) fn is_client_security_key(key: &str) -> bool {
    ["producer.", "consumer.", "admin."]
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(keys::security_key))
}

/// Keys that mean something after `<alias>.`.
fn is_cluster_key(key: &str) -> bool {
    keys::CLIENT_KEYS.contains(&key)
        || keys::security_key(key)
        || keys::is_mapped_cluster_fallback(key)
        || keys::is_worker_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";

    fn load(extra: &str) -> Result<Config, ConfigError> {
        from_properties_str(&format!("{BASE}{extra}"), "mm2.properties")
    }

    fn warnings(extra: &str) -> Vec<String> {
        load(extra).unwrap().warnings
    }

    #[test]
    fn files_are_read_as_iso_8859_1() {
        // 0x80 is U+0080 in ISO-8859-1 but `€` in WINDOWS-1252, java-properties' default.
        let text = decode(
            b"clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n\
            A->B.enabled = true\nA.client.id = caf\xe9\x80\n",
        );
        let config = from_properties_str(&text, "mm2.properties").unwrap();
        assert_eq!(config.clusters["A"].client.client_id, "caf\u{e9}\u{80}");
    }

    #[test]
    fn java_syntax_escapes_continuations_and_separators() {
        let c = load("A->B.topics = orders, \\\n    pay\\u006dents\nA->B.replication.factor: 3\n").unwrap();
        let f = &c.flows[0];
        assert_eq!(f.topics.include().patterns(), ["orders", "payments"]);
        assert_eq!(f.replication_factor, 3);
    }

    #[test]
    fn a_syntax_error_names_the_file() {
        let err = load("A->B.topics = \\u12\n").unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert!(err.problems[0].starts_with("mm2.properties: "), "{err}");
    }

    #[test]
    fn keys_are_sorted_into_scopes() {
        let mut report = Report::new("t");
        let entries = read_entries(
            "clusters = A, A.x, B\nA.x.bootstrap.servers = h:1\nA->A.x.topics = t\nA.x->B.topics = u\n\
             topics = v\nA.security.protocol = SSL\n",
            &mut report,
        )
        .unwrap();
        let layout = Layout::classify(entries, &mut report);
        assert_eq!(layout.aliases, ["A", "A.x", "B"]);
        assert_eq!(layout.clusters["A.x"]["bootstrap.servers"], "h:1");
        assert_eq!(layout.clusters["A"]["security.protocol"], "SSL");
        assert_eq!(layout.flows[&("A".to_owned(), "A.x".to_owned())]["topics"], "t");
        assert_eq!(layout.flows[&("A.x".to_owned(), "B".to_owned())]["topics"], "u");
        assert_eq!(layout.top["topics"], "v");
    }

    #[test]
    fn unknown_keys_warn_and_name_the_key() {
        let w = warnings(
            "frobnicate = 1\nA.producer.compression.type = lz4\nA->B.frobnicate = 2\n\
             request.timeout.ms = 5\n",
        );
        let has = |key: &str, text: &str| {
            w.iter()
                .any(|w| w.contains(&format!("`{key}`")) && w.contains(text))
        };
        assert!(has("frobnicate", "unknown key"), "{w:?}");
        assert!(has("A.producer.compression.type", "not used"), "{w:?}");
        assert!(has("A->B.frobnicate", "unknown key"), "{w:?}");
        assert!(has("request.timeout.ms", "<alias>.request.timeout.ms"), "{w:?}");
        assert!(w.iter().all(|w| w.starts_with("mm2.properties: ")));
    }

    #[test]
    fn known_keys_of_mm2_and_later_features_do_not_warn() {
        let w = warnings(
            "tasks.max = 4\ngroups = app-.*\nemit.checkpoints.interval.seconds = 30\n\
             A->B.sync.group.offsets.enabled = true\noffset-syncs.topic.location = target\n\
             checkpoints.topic.replication.factor = 1\noffset.storage.replication.factor = 1\n\
             B.security.protocol = SASL_SSL\nB.sasl.mechanism = SCRAM-SHA-512\n\
             B.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required username=u password=p;\n\
             replication.policy.internal.topic.separator.enabled = false\n\
             emit.heartbeats.enabled = false\nA.consumer.fetch.max.bytes = 1048576\n",
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn repeated_keys_and_deprecated_names_warn() {
        let w = warnings("topics = a\ntopics = b\ntopics.blacklist = x\n");
        assert!(
            w.iter()
                .any(|w| w.contains("`topics`") && w.contains("last value")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("`topics.blacklist`") && w.contains("topics.exclude")),
            "{w:?}"
        );
    }

    #[test]
    fn config_providers_are_built_in_and_client_security_keys_flagged() {
        let w = warnings("enabled = true\n");
        assert!(w[0].contains("`enabled`: enables nothing at top level"), "{w:?}");
        let w = warnings("config.providers = file\nconfig.providers.file.class = x\n");
        assert!(w.is_empty(), "{w:?}");
        let w = warnings("B.producer.ssl.truststore.location = /t\n");
        assert!(w[0].contains("per-client security keys"), "{w:?}");
        let c = load("A.client.id = ${env:CARGO_PKG_NAME}\n").unwrap();
        assert_eq!(c.clusters["A"].client.client_id, "kmirror");
        let err = load("A.client.id = ${KMIRROR_SURELY_UNSET_VARIABLE}\n").unwrap_err();
        assert!(
            err.problems[0].contains("`A.client.id`: environment variable"),
            "{err}"
        );
    }

    #[test]
    fn missing_clusters_is_a_problem() {
        let err = from_properties_str("A->B.enabled = true\n", "m").unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.contains("`clusters`: is required")),
            "{err}"
        );
    }
}
