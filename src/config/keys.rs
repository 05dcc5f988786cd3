//! The keys kmirror knows, in one place for both front ends.
//!
//! Three kinds of key:
//! - *mapped*: read into a typed setting of [`FlowConfig`](super::FlowConfig) or
//!   [`ClientConfig`](super::ClientConfig). In a properties file they use MM2's name, or the
//!   Java client's or Connect's name where one means the same thing, else the native TOML
//!   name with `_` replaced by `.`.
//! - *later*: keys of features that read [`FlowConfig::properties`](super::FlowConfig) or
//!   [`ClusterConfig::properties`](super::ClusterConfig) (group checkpoints, heartbeats,
//!   …); security keys are typed by `security.rs`. They are checked for type now, so a typo in a value fails at load, not
//!   hours later.
//! - *not needed*: MM2 and Connect keys that have no meaning for kmirror (`tasks.max`, the
//!   Connect storage topics, converters). Accepted without a warning so that an existing
//!   `mm2.properties` loads cleanly.
//!
//! Anything else gets a warning naming the key.

/// Which cluster of a flow a cluster-scoped fallback key is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Source,
    Target,
}

/// A flow setting read into a typed field.
#[derive(Debug)]
pub(crate) struct Mapped {
    /// The flow-scoped properties key (top level or `A->B.`).
    pub(crate) key: &'static str,
    /// A deprecated MM2 name for the same key.
    pub(crate) alias: Option<&'static str>,
    /// A cluster-scoped key MM2 users set for the same purpose (`<alias>.<key>`), read when
    /// the flow does not set the key itself; more specific than a top-level key.
    pub(crate) cluster: Option<(End, &'static str)>,
}

const fn mapped(key: &'static str) -> Mapped {
    Mapped {
        key,
        alias: None,
        cluster: None,
    }
}

pub(crate) const TOPICS: Mapped = mapped("topics");
pub(crate) const TOPICS_EXCLUDE: Mapped = Mapped {
    alias: Some("topics.blacklist"),
    ..mapped("topics.exclude")
};
pub(crate) const POLICY_CLASS: Mapped = mapped("replication.policy.class");
pub(crate) const SEPARATOR: Mapped = mapped("replication.policy.separator");
pub(crate) const REFRESH_TOPICS_INTERVAL: Mapped = mapped("refresh.topics.interval.seconds");
pub(crate) const REPLICATION_FACTOR: Mapped = mapped("replication.factor");
pub(crate) const SYNC_TOPIC_CONFIGS: Mapped = mapped("sync.topic.configs.enabled");
pub(crate) const CONFIG_EXCLUDE: Mapped = Mapped {
    alias: Some("config.properties.blacklist"),
    ..mapped("config.properties.exclude")
};
pub(crate) const MAX_IN_FLIGHT: Mapped = Mapped {
    cluster: Some((End::Target, "producer.max.in.flight.requests.per.connection")),
    ..mapped("max.in.flight.requests.per.connection")
};
pub(crate) const FETCH_MAX_BYTES: Mapped = Mapped {
    cluster: Some((End::Source, "consumer.fetch.max.bytes")),
    ..mapped("fetch.max.bytes")
};
pub(crate) const FETCH_PARTITION_MAX_BYTES: Mapped = Mapped {
    cluster: Some((End::Source, "consumer.max.partition.fetch.bytes")),
    ..mapped("max.partition.fetch.bytes")
};
pub(crate) const FETCH_MAX_WAIT: Mapped = Mapped {
    cluster: Some((End::Source, "consumer.fetch.max.wait.ms")),
    ..mapped("fetch.max.wait.ms")
};
pub(crate) const OFFSET_FLUSH_INTERVAL: Mapped = Mapped {
    cluster: Some((End::Target, "offset.flush.interval.ms")),
    ..mapped("offset.flush.interval.ms")
};
pub(crate) const GAPPED_BATCHES: Mapped = mapped("gapped.batches");
pub(crate) const LOG_APPEND_TIME_TIMESTAMPS: Mapped = mapped("log.append.time.timestamps");
pub(crate) const PARTITION_FAILURE: Mapped = mapped("partition.failure");

pub(crate) const FLOW_SETTINGS: &[&Mapped] = &[
    &TOPICS,
    &TOPICS_EXCLUDE,
    &POLICY_CLASS,
    &SEPARATOR,
    &REFRESH_TOPICS_INTERVAL,
    &REPLICATION_FACTOR,
    &SYNC_TOPIC_CONFIGS,
    &CONFIG_EXCLUDE,
    &MAX_IN_FLIGHT,
    &FETCH_MAX_BYTES,
    &FETCH_PARTITION_MAX_BYTES,
    &FETCH_MAX_WAIT,
    &OFFSET_FLUSH_INTERVAL,
    &GAPPED_BATCHES,
    &LOG_APPEND_TIME_TIMESTAMPS,
    &PARTITION_FAILURE,
];

/// Whether `key` (flow-scoped, prefix stripped) is read into a typed flow setting.
pub(crate) fn is_mapped_flow_key(key: &str) -> bool {
    FLOW_SETTINGS.iter().any(|m| m.key == key || m.alias == Some(key))
}

/// Whether `key` (cluster-scoped, alias stripped) is a fallback of a typed flow setting.
pub(crate) fn is_mapped_cluster_fallback(key: &str) -> bool {
    FLOW_SETTINGS
        .iter()
        .any(|m| m.cluster.is_some_and(|(_, k)| k == key))
}

/// Cluster-scoped client keys read into [`ClientConfig`](super::ClientConfig), with the
/// native TOML field each corresponds to. Java's defaults for the first four are kmirror's.
pub(crate) const CLIENT_ID: &str = "client.id";
pub(crate) const CONNECT_TIMEOUT: &str = "socket.connection.setup.timeout.ms";
pub(crate) const REQUEST_TIMEOUT: &str = "request.timeout.ms";
pub(crate) const RECONNECT_BACKOFF: &str = "reconnect.backoff.ms";
pub(crate) const RECONNECT_BACKOFF_MAX: &str = "reconnect.backoff.max.ms";
pub(crate) const RETRIES: &str = "retries";
pub(crate) const CONNECTION_MAX_IN_FLIGHT: &str = "max.in.flight.requests.per.connection";
pub(crate) const MAX_FRAME_BYTES: &str = "max.frame.bytes";
pub(crate) const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";

pub(crate) const CLIENT_KEYS: &[&str] = &[
    BOOTSTRAP_SERVERS,
    CLIENT_ID,
    CONNECT_TIMEOUT,
    REQUEST_TIMEOUT,
    RECONNECT_BACKOFF,
    RECONNECT_BACKOFF_MAX,
    RETRIES,
    CONNECTION_MAX_IN_FLIGHT,
    MAX_FRAME_BYTES,
];

/// What a *later* key's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    /// An integer at least this.
    Int(i64),
    /// -1 (the broker's default) or a positive 16-bit count.
    ReplicationFactor,
    /// A list of regexes in MM2's list syntax.
    Patterns,
    /// One of these words, any case.
    Choice(&'static [&'static str]),
    /// A Java class: kmirror has its built-in behaviour only, so only MM2's default class
    /// (short or full name) is accepted.
    DefaultClass(&'static str),
    /// Accepted, not needed by kmirror.
    NotNeeded,
}

/// Flow-scoped keys kept in [`FlowConfig::properties`](super::FlowConfig) for later features,
/// or accepted as not needed. Defaults are MM2's unless a later feature says otherwise.
const LATER_FLOW_KEYS: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("groups", Kind::Patterns),
    ("groups.exclude", Kind::Patterns),
    ("groups.blacklist", Kind::Patterns),
    ("emit.checkpoints.enabled", Kind::Bool),
    ("emit.checkpoints.interval.seconds", Kind::Int(1)),
    ("sync.group.offsets.enabled", Kind::Bool),
    ("sync.group.offsets.interval.seconds", Kind::Int(1)),
    ("refresh.groups.enabled", Kind::Bool),
    ("refresh.groups.interval.seconds", Kind::Int(1)),
    ("checkpoints.topic.replication.factor", Kind::ReplicationFactor),
    // Read for the names of offset-syncs and checkpoints topics (KIP-949).
    ("replication.policy.internal.topic.separator.enabled", Kind::Bool),
    ("refresh.topics.enabled", Kind::Bool),
    ("sync.topic.configs.interval.seconds", Kind::Int(1)),
    ("sync.topic.acls.enabled", Kind::Bool),
    ("sync.topic.acls.interval.seconds", Kind::Int(1)),
    ("use.defaults.from", Kind::Choice(&["source", "target"])),
    ("topic.filter.class", Kind::DefaultClass("DefaultTopicFilter")),
    ("group.filter.class", Kind::DefaultClass("DefaultGroupFilter")),
    (
        "config.property.filter.class",
        Kind::DefaultClass("DefaultConfigPropertyFilter"),
    ),
    // kmirror has no Connect tasks: it fetches per source broker and produces per target
    // broker, so there is no task count to size.
    ("tasks.max", Kind::Int(1)),
    ("exactly.once.support", Kind::NotNeeded),
    ("transaction.boundary", Kind::NotNeeded),
    ("consumer.poll.timeout.ms", Kind::NotNeeded),
    ("admin.timeout.ms", Kind::NotNeeded),
];

/// A flow key kept under its MM2 name: a *later* key, or one of the typed sub-configurations
/// read from the flow's properties (offset syncs and heartbeats, `internal_topics.rs`).
pub(crate) fn later_flow_key(key: &str) -> Option<Kind> {
    LATER_FLOW_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
        .or_else(|| super::internal_topics::kind(key))
}

/// Cluster-scoped security keys (MM2 passes them to every client of the cluster; at top
/// level they are fallbacks for all clusters); read by `security.rs`.
pub(crate) fn security_key(key: &str) -> bool {
    super::security::is_security_key(key)
}

/// Keys whose value may be a secret where kmirror does not read it (a security key in a
/// flow's scope or per client, `producer.sasl.jaas.config`; any `…password…` or `…jaas…`
/// key): ignored, and their values are not kept in a config's `properties`, where Debug
/// output would show them.
pub(crate) fn may_hold_secret(key: &str) -> bool {
    let plain = ["producer.", "consumer.", "admin."]
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key);
    security_key(plain) || ["password", "jaas", "secret"].iter().any(|w| key.contains(w))
}

/// Connect worker keys MM2 reads at top level or per target cluster, not needed by kmirror
/// (it keeps no Connect topics and converts nothing).
pub(crate) fn is_worker_key(key: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "offset.storage.",
        "config.storage.",
        "status.storage.",
        "key.converter",
        "value.converter",
        "header.converter",
    ];
    key == "dedicated.mode.enable.internal.rest" || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Checks a value against its kind; the error says what was expected.
pub(crate) fn check_value(kind: Kind, value: &str) -> Result<(), String> {
    let v = value.trim();
    match kind {
        Kind::Bool => parse_bool(v).map(drop),
        Kind::Int(min) => match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            _ => Err(format!("`{v}` is not an integer of at least {min}")),
        },
        Kind::ReplicationFactor => match v.parse::<i64>() {
            Ok(n) if n == -1 || (1..=i64::from(i16::MAX)).contains(&n) => Ok(()),
            _ => Err(format!(
                "`{v}` is not a replication factor (-1 for the broker's default, or 1 to 32767)"
            )),
        },
        Kind::Patterns => Ok(()), // compiled by the validation, which names the pattern
        Kind::Choice(words) => {
            if words.iter().any(|w| w.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err(format!("`{v}` is not one of {}", words.join(", ")))
            }
        }
        Kind::DefaultClass(class) => {
            if v == class || v == format!("org.apache.kafka.connect.mirror.{class}") {
                Ok(())
            } else {
                Err(format!(
                    "`{v}` is not supported: kmirror has only the built-in behaviour of MM2's {class}"
                ))
            }
        }
        Kind::NotNeeded => Ok(()),
    }
}

/// `true` or `false`, any case, as Kafka's `ConfigDef` reads a `BOOLEAN`. Anything else is an
/// error (MM2 reads `A->B.enabled` with Java's lenient `Boolean.parseBoolean`, which takes a
/// typo for `false`; kmirror refuses it instead).
pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("`{v}` is not a boolean (true or false)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check_value(Kind::Bool, " TRUE ").is_ok());
        assert!(check_value(Kind::Bool, "yes").is_err());
        assert!(check_value(Kind::Int(1), "60").is_ok());
        assert!(check_value(Kind::Int(1), "0").is_err());
        assert!(check_value(Kind::ReplicationFactor, "-1").is_ok());
        assert!(check_value(Kind::ReplicationFactor, "0").is_err());
        assert!(check_value(Kind::Choice(&["source", "target"]), "Source").is_ok());
        assert!(check_value(Kind::Choice(&["source", "target"]), "both").is_err());
        let class = Kind::DefaultClass("DefaultTopicFilter");
        assert!(check_value(class, "org.apache.kafka.connect.mirror.DefaultTopicFilter").is_ok());
        assert!(check_value(class, "com.example.MyFilter").is_err());
    }

    #[test]
    fn key_classes() {
        assert!(is_mapped_flow_key("topics.blacklist"));
        assert!(is_mapped_cluster_fallback("consumer.fetch.max.bytes"));
        assert!(!is_mapped_flow_key("groups"));
        assert_eq!(later_flow_key("tasks.max"), Some(Kind::Int(1)));
        assert!(security_key("sasl.jaas.config"));
        assert!(is_worker_key("offset.storage.replication.factor"));
        assert!(!is_worker_key("tasks.max"));
    }
}
