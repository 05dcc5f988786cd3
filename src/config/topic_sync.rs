//! Topic config and ACL sync settings of a flow (MM2's `MirrorSourceConfig` keys). They live
//! in the flow's properties (`A->B.sync.topic.acls.enabled = …` in a properties file,
//! `[flows.properties]` in TOML), checked when the file is loaded; `sync.topic.configs.enabled`
//! is a typed flow setting (it also governs the configs a new target topic is created with).
//!
//! Defaults are MM2's: both syncs on, every ten minutes, and the target's defaults kept where
//! the source topic has no override (`use.defaults.from = target`).

use std::time::Duration;

use super::error::ConfigError;
use super::keys::parse_bool;
use super::model::FlowConfig;

/// MM2's `sync.topic.configs.interval.seconds` and `sync.topic.acls.interval.seconds`.
pub const DEFAULT_TOPIC_SYNC_INTERVAL: Duration = Duration::from_secs(600);

/// Every key this module reads; `config/kmirror.toml` documents each.
pub const TOPIC_SYNC_KEYS: &[&str] = &[
    "sync.topic.configs.interval.seconds",
    "sync.topic.acls.enabled",
    "sync.topic.acls.interval.seconds",
    "use.defaults.from",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSyncConfig {
    /// `sync.topic.configs.enabled`.
    pub configs: bool,
    pub configs_interval: Duration,
    /// `use.defaults.from = source`: a config at Kafka's default on the source is set to that
    /// default on the target too; `target` (the default): the target's override is deleted.
    pub defaults_from_source: bool,
    pub acls: bool,
    pub acls_interval: Duration,
}

impl TopicSyncConfig {
    /// Reads the sync keys of `flow`; a bad value gets an error naming the key.
    pub fn of(flow: &FlowConfig) -> Result<Self, ConfigError> {
        let origin = format!("flow {}", flow.name());
        let bad = |key: &str, why: String| ConfigError::whole(&origin, format!("`{key}`: {why}"));
        let get = |key: &str| flow.properties.get(key).map(String::as_str);
        let seconds = |key: &str| match get(key) {
            None => Ok(DEFAULT_TOPIC_SYNC_INTERVAL),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if s >= 1 => Ok(Duration::from_secs(s)),
                _ => Err(bad(
                    key,
                    format!("`{v}` is not a whole number of seconds, at least 1"),
                )),
            },
        };
        let acls = match get("sync.topic.acls.enabled") {
            None => true,
            Some(v) => parse_bool(v).map_err(|e| bad("sync.topic.acls.enabled", e))?,
        };
        let defaults_from_source = match get("use.defaults.from").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "target" => false,
            Some(v) if v == "source" => true,
            Some(v) => return Err(bad("use.defaults.from", format!("`{v}` is not source or target"))),
        };
        Ok(Self {
            configs: flow.sync_topic_configs,
            configs_interval: seconds("sync.topic.configs.interval.seconds")?,
            defaults_from_source,
            acls,
            acls_interval: seconds("sync.topic.acls.interval.seconds")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(props: &[(&str, &str)]) -> FlowConfig {
        FlowConfig::with_properties(props)
    }

    #[test]
    fn defaults_are_mm2s_and_keys_are_read() {
        let c = TopicSyncConfig::of(&flow(&[])).unwrap();
        assert!(c.configs && c.acls && !c.defaults_from_source);
        assert_eq!(
            (c.configs_interval, c.acls_interval),
            (Duration::from_secs(600), Duration::from_secs(600))
        );
        let c = TopicSyncConfig::of(&flow(&[
            ("sync.topic.configs.interval.seconds", "2"),
            ("sync.topic.acls.enabled", "false"),
            ("sync.topic.acls.interval.seconds", "3"),
            ("use.defaults.from", "Source"),
        ]))
        .unwrap();
        assert!(!c.acls && c.defaults_from_source);
        assert_eq!(
            (c.configs_interval, c.acls_interval),
            (Duration::from_secs(2), Duration::from_secs(3))
        );
        let err = TopicSyncConfig::of(&flow(&[("sync.topic.acls.interval.seconds", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("sync.topic.acls.interval.seconds"),
            "{err}"
        );
    }

    #[test]
    fn every_key_is_documented_in_the_reference_file() {
        let reference = include_str!("../../config/kmirror.toml");
        for key in TOPIC_SYNC_KEYS {
            assert!(
                reference.contains(&format!("\"{key}\"")),
                "{key} missing from config/kmirror.toml"
            );
        }
    }
}
