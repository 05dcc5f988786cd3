//! Replication policies: how a source topic is named on the target, and how a topic name
//! tells where it came from.
//!
//! The behaviour follows MirrorMaker 2's `ReplicationPolicy`, `DefaultReplicationPolicy` and
//! `IdentityReplicationPolicy` (`connect/mirror-client/src/main/java/org/apache/kafka/connect/mirror/`)
//! so that a cluster pair can move between MM2 and kmirror without renaming topics, and so
//! that MM2 client tooling (`RemoteClusterUtils`) reads kmirror's topics the same way.
//!
//! Quirks kept on purpose, because MM2 has them:
//! - With the default policy any name containing the separator looks remote: a local topic
//!   `B.events` on cluster A is taken to come from B, so the flow A->B does not replicate it.
//! - Java's `String.split` drops trailing empty parts: `a.` is not remote, `.x` comes from
//!   the cluster with the empty alias.
//! - The identity policy cannot tell where a data topic came from, so it prevents no cycles;
//!   only heartbeats topics keep the default naming (`A.heartbeats`).

/// MM2's heartbeats topic name.
pub const HEARTBEATS_TOPIC: &str = "heartbeats";

/// The default separator between the source alias and the topic name.
pub const DEFAULT_SEPARATOR: &str = ".";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplicationPolicy {
    /// `<source alias><separator><topic>` (MM2's `DefaultReplicationPolicy`).
    Default { separator: String },
    /// Names unchanged (MM2's `IdentityReplicationPolicy`); heartbeats topics are still
    /// prefixed, with `.` as the separator.
    Identity,
}

impl Default for ReplicationPolicy {
    fn default() -> Self {
        Self::Default {
            separator: DEFAULT_SEPARATOR.to_owned(),
        }
    }
}

impl ReplicationPolicy {
    /// The separator the policy puts between an alias and a topic name.
    pub fn separator(&self) -> &str {
        match self {
            Self::Default { separator } => separator,
            Self::Identity => DEFAULT_SEPARATOR,
        }
    }

    /// The name of `topic` of cluster `source_alias` on the target (MM2's `formatRemoteTopic`).
    pub fn target_topic(&self, source_alias: &str, topic: &str) -> String {
        match self {
            Self::Identity if !looks_like_heartbeats(topic) => topic.to_owned(),
            _ => format!("{source_alias}{}{topic}", self.separator()),
        }
    }

    /// The alias of the cluster `topic` was replicated from, or `None` for a topic that does
    /// not look remote (MM2's `topicSource`). The identity policy knows this only for
    /// heartbeats topics.
    pub fn topic_source(&self, topic: &str) -> Option<String> {
        self.source_prefix(topic).map(str::to_owned)
    }

    /// The name `topic` had on the cluster it was replicated from, one hop back (MM2's
    /// `upstreamTopic`). The identity policy returns the topic itself for data topics.
    pub fn upstream_topic<'a>(&self, topic: &'a str) -> Option<&'a str> {
        match self {
            Self::Identity if !looks_like_heartbeats(topic) => Some(topic),
            _ => {
                let source = self.source_prefix(topic)?;
                topic.get(source.len() + self.separator().len()..)
            }
        }
    }

    /// The name `topic` had where it was first written, however many hops ago (MM2's
    /// `originalTopic`).
    pub fn original_topic<'a>(&self, topic: &'a str) -> &'a str {
        let mut current = topic;
        // Each step of the default naming removes a non-empty prefix, so this ends; the
        // identity policy returns the same name, which stops it too.
        while let Some(up) = self.upstream_topic(current) {
            if up == current {
                break;
            }
            current = up;
        }
        current
    }

    /// Whether `topic` is a heartbeats topic, local or replicated (`heartbeats`,
    /// `A.heartbeats`, `B.A.heartbeats`; not `A-heartbeats`).
    pub fn is_heartbeats_topic(&self, topic: &str) -> bool {
        self.original_topic(topic) == HEARTBEATS_TOPIC
    }

    /// Whether `topic` is one of MM2's (and kmirror's) own topics: offset syncs, checkpoints
    /// (MM2's `isMM2InternalTopic`, which ends in the separator and `internal`).
    pub fn is_mm2_internal_topic(&self, topic: &str) -> bool {
        topic
            .strip_suffix("internal")
            .is_some_and(|rest| rest.ends_with(self.separator()))
    }

    /// Whether `topic` is internal and never replicated (MM2's `isInternalTopic`): MM2's own
    /// topics, Kafka's (`__consumer_offsets`, names starting with `.`), and Connect's
    /// (`…-internal`, `….internal`).
    pub fn is_internal_topic(&self, topic: &str) -> bool {
        self.is_mm2_internal_topic(topic)
            || topic.starts_with("__")
            || topic.starts_with('.')
            || topic.ends_with(".internal")
            || topic.ends_with("-internal")
    }

    /// The source alias as a slice of `topic`.
    fn source_prefix<'a>(&self, topic: &'a str) -> Option<&'a str> {
        match self {
            Self::Identity if !looks_like_heartbeats(topic) => None,
            _ => java_split_first(topic, self.separator()),
        }
    }
}

fn looks_like_heartbeats(topic: &str) -> bool {
    topic.ends_with(HEARTBEATS_TOPIC)
}

/// The first part of Java's `Pattern.split(topic)` on a literal separator, if the split gives
/// at least two parts once trailing empty parts are dropped (what `topicSource` tests).
fn java_split_first<'a>(topic: &'a str, separator: &str) -> Option<&'a str> {
    if separator.is_empty() {
        return None;
    }
    let mut parts = topic.split(separator);
    let first = parts.next()?;
    // Two parts survive only if something non-empty follows the first separator.
    parts.any(|p| !p.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_with(sep: &str) -> ReplicationPolicy {
        ReplicationPolicy::Default {
            separator: sep.to_owned(),
        }
    }

    #[test]
    fn default_policy_prefixes_the_source_alias() {
        let p = ReplicationPolicy::default();
        assert_eq!(p.target_topic("us-west", "orders"), "us-west.orders");
        assert_eq!(default_with("_").target_topic("A", "orders"), "A_orders");
        assert_eq!(default_with("::").target_topic("A", "x::y"), "A::x::y");
    }

    #[test]
    fn topic_source_follows_java_split() {
        let p = ReplicationPolicy::default();
        assert_eq!(p.topic_source("A.orders").as_deref(), Some("A"));
        assert_eq!(p.topic_source("B.A.orders").as_deref(), Some("B"));
        assert_eq!(p.topic_source("orders"), None);
        assert_eq!(p.topic_source("a."), None);
        assert_eq!(p.topic_source("a.."), None);
        assert_eq!(p.topic_source("."), None);
        assert_eq!(p.topic_source(""), None);
        assert_eq!(p.topic_source(".x").as_deref(), Some(""));
        assert_eq!(p.topic_source("a..b").as_deref(), Some("a"));
        let p = default_with("__");
        assert_eq!(p.topic_source("A__t").as_deref(), Some("A"));
        assert_eq!(p.topic_source("A_t"), None);
    }

    #[test]
    fn upstream_and_original_topics() {
        let p = ReplicationPolicy::default();
        assert_eq!(p.upstream_topic("B.A.orders"), Some("A.orders"));
        assert_eq!(p.upstream_topic("a..b"), Some(".b"));
        assert_eq!(p.upstream_topic("orders"), None);
        assert_eq!(p.original_topic("B.A.orders"), "orders");
        assert_eq!(p.original_topic("orders"), "orders");
        let p = default_with("--");
        assert_eq!(p.upstream_topic("A--t"), Some("t"));
    }

    #[test]
    fn heartbeats_topics() {
        for p in [ReplicationPolicy::default(), ReplicationPolicy::Identity] {
            assert!(p.is_heartbeats_topic("heartbeats"));
            assert!(p.is_heartbeats_topic("A.heartbeats"));
            assert!(p.is_heartbeats_topic("B.A.heartbeats"));
            assert!(!p.is_heartbeats_topic("A-heartbeats"));
            assert!(!p.is_heartbeats_topic("heartbeats.A"));
        }
        assert!(default_with("_").is_heartbeats_topic("A_heartbeats"));
    }

    #[test]
    fn identity_policy_keeps_names_except_heartbeats() {
        let p = ReplicationPolicy::Identity;
        assert_eq!(p.target_topic("A", "orders"), "orders");
        assert_eq!(p.target_topic("A", "B.orders"), "B.orders");
        assert_eq!(p.target_topic("A", "heartbeats"), "A.heartbeats");
        assert_eq!(p.topic_source("B.orders"), None);
        assert_eq!(p.topic_source("B.heartbeats").as_deref(), Some("B"));
        assert_eq!(p.upstream_topic("B.orders"), Some("B.orders"));
        assert_eq!(p.original_topic("B.orders"), "B.orders");
    }

    #[test]
    fn internal_topics() {
        let p = ReplicationPolicy::default();
        for t in [
            "__consumer_offsets",
            ".hidden",
            "mm2-offset-syncs.B.internal",
            "A.checkpoints.internal",
            "connect-offsets-internal",
        ] {
            assert!(p.is_internal_topic(t), "{t}");
        }
        for t in ["orders", "internal", "heartbeats", "A.heartbeats", "a_internal"] {
            assert!(!p.is_internal_topic(t), "{t}");
        }
        let p = default_with("_");
        assert!(p.is_mm2_internal_topic("mm2-offset-syncs_B_internal"));
        assert!(p.is_internal_topic("A_checkpoints_internal"));
        assert!(!default_with(".").is_mm2_internal_topic("x-internal"));
    }
}
