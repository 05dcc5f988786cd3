//! Consumer-group settings of a flow: which groups are checkpointed, how often, and whether
//! their offsets are committed on the target. The keys are MM2's and live in the flow's
//! properties (`A->B.groups = …` in a properties file, `[flows.properties]` in TOML), checked
//! when the file is loaded; this reads them into typed values with kmirror's defaults.
//!
//! Defaults are MM2's (`MirrorCheckpointConfig`) except `refresh.groups.interval.seconds`:
//! 5 s instead of 600 s, so that a group that starts on the source is checkpointed within
//! seconds rather than ten minutes (a known MM2 complaint). Listing groups is one cheap
//! request per broker.

use std::time::Duration;

use super::error::ConfigError;
use super::filter::{DEFAULT_GROUPS, DEFAULT_GROUPS_EXCLUDE, PatternList, split_list};
use super::model::FlowConfig;

pub const DEFAULT_REFRESH_GROUPS_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_EMIT_CHECKPOINTS_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SYNC_GROUP_OFFSETS_INTERVAL: Duration = Duration::from_secs(60);

/// Every key this module reads, as written in a properties file or under
/// `[flows.properties]`; `config/kmirror.toml` documents each.
pub const GROUP_KEYS: &[&str] = &[
    "groups",
    "groups.exclude",
    "groups.blacklist",
    "refresh.groups.enabled",
    "refresh.groups.interval.seconds",
    "emit.checkpoints.enabled",
    "emit.checkpoints.interval.seconds",
    "checkpoints.topic.replication.factor",
    "sync.group.offsets.enabled",
    "sync.group.offsets.interval.seconds",
];

/// Which source groups a flow checkpoints: `groups` minus `groups.exclude` (MM2's
/// `DefaultGroupFilter`; the exclusion wins; Java-regex full match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFilter {
    include: PatternList,
    exclude: PatternList,
}

impl GroupFilter {
    pub fn matches(&self, group: &str) -> bool {
        self.include.is_match(group) && !self.exclude.is_match(group)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsConfig {
    pub filter: GroupFilter,
    pub refresh_groups: bool,
    pub refresh_groups_interval: Duration,
    pub emit_checkpoints: bool,
    pub emit_checkpoints_interval: Duration,
    /// -1 = the target cluster's default.
    pub checkpoints_replication_factor: i16,
    pub sync_group_offsets: bool,
    pub sync_group_offsets_interval: Duration,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        let list = |p: &[&str]| {
            PatternList::new(p).unwrap_or_else(|e| unreachable!("built-in patterns compile: {e}"))
        };
        Self {
            filter: GroupFilter {
                include: list(DEFAULT_GROUPS),
                exclude: list(DEFAULT_GROUPS_EXCLUDE),
            },
            refresh_groups: true,
            refresh_groups_interval: DEFAULT_REFRESH_GROUPS_INTERVAL,
            emit_checkpoints: true,
            emit_checkpoints_interval: DEFAULT_EMIT_CHECKPOINTS_INTERVAL,
            checkpoints_replication_factor: -1,
            sync_group_offsets: false,
            sync_group_offsets_interval: DEFAULT_SYNC_GROUP_OFFSETS_INTERVAL,
        }
    }
}

impl GroupsConfig {
    /// Reads the group keys of `flow`. The values were checked when the file was loaded; a
    /// flow built by hand with a bad value gets an error naming the key.
    pub fn of(flow: &FlowConfig) -> Result<Self, ConfigError> {
        let origin = format!("flow {}", flow.name());
        let bad = |key: &str, why: String| ConfigError::whole(&origin, format!("`{key}`: {why}"));
        let get = |key: &str| flow.properties.get(key).map(String::as_str);
        let patterns = |key: &str, value: &str| {
            PatternList::new(&split_list(value)).map_err(|e| bad(key, e.to_string()))
        };
        let boolean = |key: &str, default: bool| match get(key) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(bad(key, format!("`{v}` is not true or false"))),
            },
        };
        let seconds = |key: &str, default: Duration| match get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if s >= 1 => Ok(Duration::from_secs(s)),
                _ => Err(bad(
                    key,
                    format!("`{v}` is not a whole number of seconds, at least 1"),
                )),
            },
        };
        let mut c = Self::default();
        if let Some(v) = get("groups") {
            c.filter.include = patterns("groups", v)?;
        }
        // MM2 3.x reads the deprecated name when the new one is absent.
        for key in ["groups.exclude", "groups.blacklist"] {
            if let Some(v) = get(key) {
                c.filter.exclude = patterns(key, v)?;
                break;
            }
        }
        c.refresh_groups = boolean("refresh.groups.enabled", c.refresh_groups)?;
        c.refresh_groups_interval = seconds("refresh.groups.interval.seconds", c.refresh_groups_interval)?;
        c.emit_checkpoints = boolean("emit.checkpoints.enabled", c.emit_checkpoints)?;
        c.emit_checkpoints_interval =
            seconds("emit.checkpoints.interval.seconds", c.emit_checkpoints_interval)?;
        c.sync_group_offsets = boolean("sync.group.offsets.enabled", c.sync_group_offsets)?;
        c.sync_group_offsets_interval = seconds(
            "sync.group.offsets.interval.seconds",
            c.sync_group_offsets_interval,
        )?;
        if let Some(v) = get("checkpoints.topic.replication.factor") {
            c.checkpoints_replication_factor = match v.trim().parse::<i16>() {
                Ok(n) if n == -1 || n >= 1 => n,
                _ => {
                    return Err(bad(
                        "checkpoints.topic.replication.factor",
                        format!("`{v}` is not -1 or a positive count"),
                    ));
                }
            };
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(props: &[(&str, &str)]) -> FlowConfig {
        FlowConfig::with_properties(props)
    }

    #[test]
    fn defaults_are_mm2s_except_the_refresh_interval() {
        let c = GroupsConfig::of(&flow(&[])).unwrap();
        assert_eq!(c, GroupsConfig::default());
        assert!(c.filter.matches("orders-app"));
        for excluded in ["console-consumer-123", "connect-mirror", "__internal"] {
            assert!(!c.filter.matches(excluded), "{excluded}");
        }
        assert!(c.emit_checkpoints && !c.sync_group_offsets);
        assert_eq!(c.refresh_groups_interval, Duration::from_secs(5));
    }

    #[test]
    fn keys_are_read_and_the_exclusion_wins() {
        let c = GroupsConfig::of(&flow(&[
            ("groups", "app-.*, billing"),
            ("groups.exclude", "app-test"),
            ("sync.group.offsets.enabled", "true"),
            ("sync.group.offsets.interval.seconds", "2"),
            ("emit.checkpoints.interval.seconds", "3"),
            ("checkpoints.topic.replication.factor", "1"),
        ]))
        .unwrap();
        assert!(c.filter.matches("app-1") && c.filter.matches("billing"));
        // Full match, exclusion first.
        assert!(!c.filter.matches("app-test") && !c.filter.matches("billing2"));
        assert!(c.sync_group_offsets);
        assert_eq!(c.sync_group_offsets_interval, Duration::from_secs(2));
        assert_eq!(c.emit_checkpoints_interval, Duration::from_secs(3));
        assert_eq!(c.checkpoints_replication_factor, 1);
        // The deprecated name, when the new one is absent.
        let c = GroupsConfig::of(&flow(&[("groups.blacklist", "x.*")])).unwrap();
        assert!(!c.filter.matches("xy") && c.filter.matches("console-consumer-1"));
        let err = GroupsConfig::of(&flow(&[("refresh.groups.interval.seconds", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("refresh.groups.interval.seconds"),
            "{err}"
        );
    }

    #[test]
    fn the_offset_history_bound_is_a_process_key() {
        let text = |extra: &str| {
            format!(
                "clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\nA->B.enabled = true\n{extra}"
            )
        };
        let load = |extra: &str| crate::config::from_properties_str(&text(extra), "test.properties");
        assert_eq!(
            load("").unwrap().offsets_history_max,
            crate::offsets::DEFAULT_MAX_HISTORY
        );
        assert_eq!(load("offsets.history.max = 50").unwrap().offsets_history_max, 50);
        assert_eq!(
            crate::config::OFFSETS_HISTORY_MAX_LIMIT,
            crate::offsets::MAX_HISTORY_LIMIT
        );
        let err = load("offsets.history.max = 0").unwrap_err();
        assert!(err.to_string().contains("offsets.history.max"), "{err}");
    }

    #[test]
    fn every_key_is_documented_in_the_reference_file() {
        let reference = include_str!("../../config/kmirror.toml");
        for key in GROUP_KEYS {
            assert!(
                reference.contains(&format!("\"{key}\"")),
                "{key} missing from config/kmirror.toml"
            );
        }
    }
}
