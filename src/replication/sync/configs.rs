//! Which config changes bring a target topic in line with its source topic (pure: the task in
//! `mod.rs` does the requests).
//!
//! MM2's rule (apache/kafka: connect/mirror/.../MirrorSourceConnector.java, `targetConfig`
//! and `incrementalAlterConfigs`; `DefaultConfigPropertyFilter`): every config DescribeConfigs
//! reports for the source topic, except read-only and sensitive ones, those from the source
//! broker's properties file (`STATIC_BROKER_CONFIG`) and those the exclude list
//! (`config.properties.exclude`) names, is carried over with IncrementalAlterConfigs:
//! - a value that is not Kafka's built-in default (a topic override, or a dynamic broker
//!   config the topic inherits) is SET on the target topic;
//! - a value at Kafka's default is DELETEd on the target, so the target topic falls back to
//!   its own cluster's default (`use.defaults.from = target`, MM2's default); with
//!   `use.defaults.from = source` the source's default value is SET instead.
//!
//! So an override removed on the source is removed on the target. MM2 sends every such
//! operation every interval; kmirror compares with the target topic's configs first and sends
//! only what differs (the resulting configuration is the same): a SET where the target topic
//! does not have that value as its own override, a DELETE where it has an override.
//!
//! A target may refuse a change (INVALID_CONFIG: a config it does not know, such as
//! `message.format.version` on Kafka 4, or a value out of range; POLICY_VIOLATION).
//! [`Refused`] remembers each refused (topic, config, value) so that it is reported once and
//! not sent again until the source's value changes.

use std::collections::HashMap;

use crate::cluster::admin::{ConfigEntry, ConfigSource};
use crate::cluster::alter_configs::ConfigChange;
use crate::config::ConfigFilter;

/// The changes that make `target` (the target topic's reported configs) match `source`.
pub fn changes(
    source: &[ConfigEntry],
    target: &[ConfigEntry],
    exclude: &ConfigFilter,
    defaults_from_source: bool,
) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    for e in source {
        if e.read_only || e.sensitive || e.source == ConfigSource::StaticBroker || exclude.excludes(&e.name) {
            continue;
        }
        let on_target = target.iter().find(|t| t.name == e.name);
        let overridden = on_target.is_some_and(|t| t.is_topic_override);
        if e.source == ConfigSource::Default && !defaults_from_source {
            if overridden {
                out.push(ConfigChange {
                    name: e.name.clone(),
                    value: None,
                });
            }
            continue;
        }
        let Some(value) = e.value.as_ref() else {
            continue;
        };
        let same = overridden && on_target.and_then(|t| t.value.as_ref()) == Some(value);
        if !same {
            out.push(ConfigChange {
                name: e.name.clone(),
                value: Some(value.clone()),
            });
        }
    }
    out
}

/// Changes a target refused, by target topic and config: not sent again while the wanted
/// value stays the same.
#[derive(Debug, Default)]
pub struct Refused {
    by_config: HashMap<(String, String), Option<String>>,
}

impl Refused {
    /// `changes` without those refused before with the same value.
    pub fn not_refused(&self, topic: &str, changes: Vec<ConfigChange>) -> Vec<ConfigChange> {
        changes
            .into_iter()
            .filter(|c| self.by_config.get(&(topic.to_owned(), c.name.clone())) != Some(&c.value))
            .collect()
    }

    /// Records a refusal; `true` when it is new (to be reported), `false` when the same value
    /// was refused before.
    pub fn record(&mut self, topic: &str, change: &ConfigChange) -> bool {
        self.by_config
            .insert((topic.to_owned(), change.name.clone()), change.value.clone())
            .as_ref()
            != Some(&change.value)
    }

    /// Forgets what was refused of `topic` for configs that are now applied.
    pub fn applied(&mut self, topic: &str, changes: &[ConfigChange]) {
        for c in changes {
            let _ = self.by_config.remove(&(topic.to_owned(), c.name.clone()));
        }
    }
}

/// The changes as the name and value pairs the refusal negotiation works on (a DELETE as an
/// empty value); names are unique within one topic's changes.
pub fn as_pairs(changes: &[ConfigChange]) -> Vec<(String, String)> {
    changes
        .iter()
        .map(|c| (c.name.clone(), c.value.clone().unwrap_or_default()))
        .collect()
}

/// The changes among `all` named in `pairs`.
pub fn by_name(all: &[ConfigChange], pairs: &[(String, String)]) -> Vec<ConfigChange> {
    pairs
        .iter()
        .filter_map(|(n, _)| all.iter().find(|c| &c.name == n).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.to_owned(),
            value: Some(value.to_owned()),
            is_topic_override: source == ConfigSource::TopicOverride,
            source,
            read_only: false,
            sensitive: false,
        }
    }

    fn set(name: &str, value: &str) -> ConfigChange {
        ConfigChange {
            name: name.to_owned(),
            value: Some(value.to_owned()),
        }
    }

    fn delete(name: &str) -> ConfigChange {
        ConfigChange {
            name: name.to_owned(),
            value: None,
        }
    }

    use ConfigSource::{Default as Def, DynamicBroker, StaticBroker, TopicOverride as Topic};

    #[test]
    fn overrides_are_set_defaults_deleted_and_equal_values_left_alone() {
        let source = vec![
            e("retention.ms", "1000", Topic),                // changed on the source
            e("cleanup.policy", "compact", Topic),           // same on both
            e("segment.ms", "604800000", Def),               // override removed on the source
            e("flush.ms", "9223372036854775807", Def),       // default on both
            e("max.message.bytes", "4194304", StaticBroker), // the source broker's file
            e("compression.type", "zstd", DynamicBroker),    // inherited dynamic config
            e("min.insync.replicas", "2", Topic),            // excluded by default
            ConfigEntry {
                read_only: true,
                ..e("ro", "1", Topic)
            },
            ConfigEntry {
                sensitive: true,
                ..e("secret", "x", Topic)
            },
        ];
        let target = vec![
            e("retention.ms", "604800000", Def),
            e("cleanup.policy", "compact", Topic),
            e("segment.ms", "1000", Topic),
            e("flush.ms", "9223372036854775807", Def),
            e("max.message.bytes", "4194304", Topic),
            e("compression.type", "producer", Def),
            e("min.insync.replicas", "1", Topic),
        ];
        let exclude = ConfigFilter::default();
        assert_eq!(
            changes(&source, &target, &exclude, false),
            vec![
                set("retention.ms", "1000"),
                delete("segment.ms"),
                set("compression.type", "zstd")
            ]
        );
        // use.defaults.from = source: the source's default value is set.
        assert_eq!(
            changes(&source, &target, &exclude, true),
            vec![
                set("retention.ms", "1000"),
                set("segment.ms", "604800000"),
                set("flush.ms", "9223372036854775807"),
                set("compression.type", "zstd")
            ]
        );
        // A config the target does not report (one it does not know) is set all the same:
        // the target's refusal tells.
        let source = vec![e("message.format.version", "3.0-IV1", Topic)];
        assert_eq!(
            changes(&source, &[], &exclude, false),
            vec![set("message.format.version", "3.0-IV1")]
        );
        // Nothing to do once applied.
        let applied = vec![e("retention.ms", "1000", Topic)];
        assert!(changes(&applied, &applied, &exclude, false).is_empty());
    }

    #[test]
    fn a_refusal_is_reported_once_per_value_and_retried_when_the_value_changes() {
        let mut refused = Refused::default();
        let bad = set("segment.bytes", "1000");
        assert!(refused.record("t", &bad));
        assert!(!refused.record("t", &bad));
        let wanted = vec![bad.clone(), set("retention.ms", "1")];
        assert_eq!(
            refused.not_refused("t", wanted.clone()),
            vec![set("retention.ms", "1")]
        );
        // Other topics are not concerned.
        assert_eq!(refused.not_refused("u", wanted).len(), 2);
        // The source's value changed: tried again, and reported again if refused.
        let changed = set("segment.bytes", "2000");
        assert_eq!(
            refused.not_refused("t", vec![changed.clone()]),
            vec![changed.clone()]
        );
        assert!(refused.record("t", &changed));
        refused.applied("t", &[set("segment.bytes", "2097152")]);
        assert_eq!(refused.not_refused("t", vec![changed.clone()]), vec![changed]);
    }

    #[test]
    fn pairs_map_back_to_their_changes() {
        let all = vec![set("a", "1"), delete("b")];
        let pairs = as_pairs(&all);
        assert_eq!(pairs[1], ("b".to_owned(), String::new()));
        assert_eq!(by_name(&all, &pairs[1..]), vec![delete("b")]);
    }
}
