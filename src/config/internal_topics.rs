//! Settings of MM2's internal topics that kmirror writes: offset syncs and heartbeats. They
//! keep MM2's key names in both front ends (`A->B.offset.lag.max` in a properties file,
//! `"offset.lag.max"` in a flow's `[flows.properties]` table in TOML) and MM2's defaults,
//! except that internal topics take the cluster's default replication factor (-1) instead of
//! 3, which fails on small clusters.

use std::collections::BTreeMap;
use std::time::Duration;

use super::draft::Keyed;
use super::error::Report;
use super::keys::{self, Kind};
use super::policy::{DEFAULT_SEPARATOR, ReplicationPolicy};

pub(crate) const EMIT_OFFSET_SYNCS: &str = "emit.offset-syncs.enabled";
pub(crate) const OFFSET_SYNCS_LOCATION: &str = "offset-syncs.topic.location";
pub(crate) const OFFSET_SYNCS_REPLICATION_FACTOR: &str = "offset-syncs.topic.replication.factor";
pub(crate) const OFFSET_LAG_MAX: &str = "offset.lag.max";
pub(crate) const EMIT_HEARTBEATS: &str = "emit.heartbeats.enabled";
pub(crate) const HEARTBEATS_INTERVAL: &str = "emit.heartbeats.interval.seconds";
pub(crate) const HEARTBEATS_REPLICATION_FACTOR: &str = "heartbeats.topic.replication.factor";
pub(crate) const HEARTBEATS_REPLICATION: &str = "heartbeats.replication.enabled";
pub(crate) const INTERNAL_SEPARATOR: &str = "replication.policy.internal.topic.separator.enabled";

/// The keys taken out of a flow's properties here, with the kind of value each takes.
/// ([`INTERNAL_SEPARATOR`] is read here too, for the names of both the offset-syncs and the
/// checkpoints topics, but left in the properties and validated there as a *later* key.)
pub(crate) const KEYS: &[(&str, Kind)] = &[
    (EMIT_OFFSET_SYNCS, Kind::Bool),
    (OFFSET_SYNCS_LOCATION, Kind::Choice(&["source", "target"])),
    (OFFSET_SYNCS_REPLICATION_FACTOR, Kind::ReplicationFactor),
    (OFFSET_LAG_MAX, Kind::Int(0)),
    (EMIT_HEARTBEATS, Kind::Bool),
    (HEARTBEATS_INTERVAL, Kind::Int(1)),
    (HEARTBEATS_REPLICATION_FACTOR, Kind::ReplicationFactor),
    (HEARTBEATS_REPLICATION, Kind::Bool),
];

pub const DEFAULT_OFFSET_LAG_MAX: i64 = 100;
pub const DEFAULT_HEARTBEATS_INTERVAL: Duration = Duration::from_secs(1);

/// Which cluster of a flow holds its offset-syncs topic (KIP-716).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetSyncsLocation {
    #[default]
    Source,
    Target,
}

/// The offset-syncs and heartbeats settings of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopicsConfig {
    /// `emit.offset-syncs.enabled` (KIP-1031).
    pub emit_offset_syncs: bool,
    /// `offset-syncs.topic.location`.
    pub offset_syncs_location: OffsetSyncsLocation,
    /// `offset-syncs.topic.replication.factor`; `None` = the cluster's default.
    pub offset_syncs_replication_factor: Option<i16>,
    /// `offset.lag.max`: a sync at least every this many target records.
    pub offset_lag_max: i64,
    /// `emit.heartbeats.enabled`.
    pub emit_heartbeats: bool,
    /// `emit.heartbeats.interval.seconds`.
    pub heartbeats_interval: Duration,
    /// `heartbeats.topic.replication.factor`; `None` = the cluster's default.
    pub heartbeats_replication_factor: Option<i16>,
    /// `heartbeats.replication.enabled` (KIP-1089): replicate heartbeats topics whatever the
    /// topic filter says.
    pub replicate_heartbeats: bool,
    /// `replication.policy.internal.topic.separator.enabled` (KIP-949): `false` names the
    /// internal topics with `.` whatever the policy's separator.
    pub internal_separator: bool,
}

impl Default for InternalTopicsConfig {
    fn default() -> Self {
        Self {
            emit_offset_syncs: true,
            offset_syncs_location: OffsetSyncsLocation::Source,
            offset_syncs_replication_factor: None,
            offset_lag_max: DEFAULT_OFFSET_LAG_MAX,
            emit_heartbeats: true,
            heartbeats_interval: DEFAULT_HEARTBEATS_INTERVAL,
            heartbeats_replication_factor: None,
            replicate_heartbeats: true,
            internal_separator: true,
        }
    }
}

impl InternalTopicsConfig {
    /// The separator of internal topic names (`isep` in MM2's `DefaultReplicationPolicy`).
    pub fn internal_separator<'a>(&self, policy: &'a ReplicationPolicy) -> &'a str {
        if self.internal_separator {
            policy.separator()
        } else {
            DEFAULT_SEPARATOR
        }
    }

    /// The offset-syncs topic of the flow `source->target` and whether it lives on the target:
    /// on the source it is named after the target alias, on the target after the source
    /// alias (MM2's `offsetSyncsTopic()`).
    pub fn offset_syncs_topic(&self, policy: &ReplicationPolicy, source: &str, target: &str) -> String {
        let other = match self.offset_syncs_location {
            OffsetSyncsLocation::Source => target,
            OffsetSyncsLocation::Target => source,
        };
        let sep = self.internal_separator(policy);
        format!("mm2-offset-syncs{sep}{other}{sep}internal")
    }
}

/// Whether `key` is one of the keys read here.
pub(crate) fn kind(key: &str) -> Option<Kind> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, kind)| *kind)
}

/// Takes this module's keys out of a flow's properties and reads them; every bad value is a
/// problem in `r`.
pub(crate) fn take(
    r: &mut Report,
    properties: &mut BTreeMap<String, Keyed<String>>,
) -> Option<InternalTopicsConfig> {
    let mut c = InternalTopicsConfig::default();
    let mut ok = true;
    for (name, kind) in KEYS {
        let Some(Keyed { key, value }) = properties.remove(*name) else {
            continue;
        };
        if let Err(e) = keys::check_value(*kind, &value) {
            r.problem(&key, e);
            ok = false;
            continue;
        }
        let v = value.trim();
        let flag = || keys::parse_bool(v).unwrap_or_default();
        let number = || v.parse::<i64>().unwrap_or_default();
        let factor = || i16::try_from(number()).ok().filter(|n| *n > 0);
        match *name {
            EMIT_OFFSET_SYNCS => c.emit_offset_syncs = flag(),
            OFFSET_SYNCS_LOCATION => {
                c.offset_syncs_location = if v.eq_ignore_ascii_case("target") {
                    OffsetSyncsLocation::Target
                } else {
                    OffsetSyncsLocation::Source
                }
            }
            OFFSET_SYNCS_REPLICATION_FACTOR => c.offset_syncs_replication_factor = factor(),
            OFFSET_LAG_MAX => c.offset_lag_max = number(),
            EMIT_HEARTBEATS => c.emit_heartbeats = flag(),
            HEARTBEATS_INTERVAL => {
                c.heartbeats_interval = Duration::from_secs(u64::try_from(number()).unwrap_or(1))
            }
            HEARTBEATS_REPLICATION_FACTOR => c.heartbeats_replication_factor = factor(),
            _ => c.replicate_heartbeats = flag(),
        }
    }
    c.internal_separator = !properties
        .get(INTERNAL_SEPARATOR)
        .is_some_and(|k| k.value.trim().eq_ignore_ascii_case("false"));
    ok.then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<InternalTopicsConfig, Vec<String>> {
        let mut props: BTreeMap<String, Keyed<String>> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Keyed::new(format!("A->B.{k}"), (*v).to_owned())))
            .chain([("groups".to_owned(), Keyed::new("groups", ".*".to_owned()))])
            .collect();
        let mut r = Report::new("mm2.properties");
        let c = take(&mut r, &mut props);
        let left: Vec<_> = props.keys().filter(|k| *k != INTERNAL_SEPARATOR).collect();
        assert_eq!(left, ["groups"], "only this module's keys are taken");
        match (c, r.finish()) {
            (Some(c), Ok(_)) => Ok(c),
            (_, Err(e)) => Err(e.problems),
            (None, Ok(_)) => Err(Vec::new()),
        }
    }

    #[test]
    fn defaults_are_mm2s_but_for_the_replication_factors() {
        let c = read(&[]).unwrap();
        assert_eq!(c, InternalTopicsConfig::default());
        assert!(c.emit_offset_syncs && c.emit_heartbeats && c.replicate_heartbeats);
        assert_eq!(c.offset_lag_max, 100);
        assert_eq!(c.heartbeats_interval, Duration::from_secs(1));
        assert_eq!(c.offset_syncs_replication_factor, None);
    }

    #[test]
    fn reads_every_key() {
        let c = read(&[
            (EMIT_OFFSET_SYNCS, "false"),
            (OFFSET_SYNCS_LOCATION, "TARGET"),
            (OFFSET_SYNCS_REPLICATION_FACTOR, "3"),
            (OFFSET_LAG_MAX, "0"),
            (EMIT_HEARTBEATS, "false"),
            (HEARTBEATS_INTERVAL, "5"),
            (HEARTBEATS_REPLICATION_FACTOR, "-1"),
            (HEARTBEATS_REPLICATION, "false"),
            (INTERNAL_SEPARATOR, "false"),
        ])
        .unwrap();
        assert_eq!(
            c,
            InternalTopicsConfig {
                emit_offset_syncs: false,
                offset_syncs_location: OffsetSyncsLocation::Target,
                offset_syncs_replication_factor: Some(3),
                offset_lag_max: 0,
                emit_heartbeats: false,
                heartbeats_interval: Duration::from_secs(5),
                heartbeats_replication_factor: None,
                replicate_heartbeats: false,
                internal_separator: false,
            }
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let problems = read(&[(OFFSET_LAG_MAX, "-1"), (OFFSET_SYNCS_LOCATION, "middle")]).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("A->B.offset.lag.max")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("A->B.offset-syncs.topic.location"))
        );
    }

    /// KIP-716 flips the alias with the location; KIP-949 decides the separator.
    #[test]
    fn offset_syncs_topic_names() {
        let dflt = ReplicationPolicy::default();
        let underscore = ReplicationPolicy::Default {
            separator: "_".to_owned(),
        };
        let mut c = InternalTopicsConfig::default();
        assert_eq!(
            c.offset_syncs_topic(&dflt, "A", "B"),
            "mm2-offset-syncs.B.internal"
        );
        assert_eq!(
            c.offset_syncs_topic(&underscore, "A", "B"),
            "mm2-offset-syncs_B_internal"
        );
        c.offset_syncs_location = OffsetSyncsLocation::Target;
        assert_eq!(
            c.offset_syncs_topic(&dflt, "A", "B"),
            "mm2-offset-syncs.A.internal"
        );
        c.internal_separator = false;
        assert_eq!(
            c.offset_syncs_topic(&underscore, "A", "B"),
            "mm2-offset-syncs.A.internal"
        );
        assert_eq!(
            c.offset_syncs_topic(&ReplicationPolicy::Identity, "A", "B"),
            "mm2-offset-syncs.A.internal"
        );
    }
}
