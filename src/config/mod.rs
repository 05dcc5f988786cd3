//! Configuration: the validated model of clusters and flows, read from native TOML or from an
//! MM2 `.properties` file, and the client settings every layer shares.
//!
//! ```text
//! kmirror.toml ──native.rs────┐
//!                             ├─► Draft (values as given, keys as written) ─► validate ─► Config
//! mm2.properties ─properties.rs┘
//! ```
//!
//! Both front ends meet in one validation (`validate.rs`) so they accept the same things and
//! report problems the same way: all at once, each naming the file and the key.

mod client;
mod draft;
mod error;
mod filter;
mod groups;
mod internal_topics;
pub mod jaas;
mod java_regex;
mod keys;
pub mod keystore;
#[cfg(all(test, feature = "testkit"))]
mod keystore_tests;
#[cfg(test)]
mod mm2_tests;
mod model;
mod native;
#[cfg(test)]
mod oauth_tests;
mod policy;
mod properties;
mod properties_draft;
mod security;
mod security_oauth;
#[cfg(all(test, feature = "testkit"))]
mod security_tests;
mod security_tls;
mod substitute;
#[cfg(test)]
mod tests;
mod topic_sync;
mod validate;

use std::path::Path;

pub use client::ClientConfig;
pub use error::ConfigError;
pub use filter::{
    ConfigFilter, DEFAULT_CONFIG_EXCLUDE, DEFAULT_GROUPS, DEFAULT_GROUPS_EXCLUDE, DEFAULT_TOPICS,
    DEFAULT_TOPICS_EXCLUDE, PatternError, PatternList, TopicFilter, split_list,
};
pub use groups::{
    DEFAULT_EMIT_CHECKPOINTS_INTERVAL, DEFAULT_REFRESH_GROUPS_INTERVAL, DEFAULT_SYNC_GROUP_OFFSETS_INTERVAL,
    GROUP_KEYS, GroupFilter, GroupsConfig,
};
pub use internal_topics::{
    DEFAULT_HEARTBEATS_INTERVAL, DEFAULT_OFFSET_LAG_MAX, InternalTopicsConfig, OffsetSyncsLocation,
};
pub use model::{
    ClusterConfig, Config, DEFAULT_FETCH_MAX_BYTES, DEFAULT_FETCH_MAX_WAIT,
    DEFAULT_FETCH_PARTITION_MAX_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MEMORY_BUDGET_BYTES,
    DEFAULT_OFFSET_FLUSH_INTERVAL, DEFAULT_OFFSETS_HISTORY_MAX, DEFAULT_PARTITION_METRICS,
    DEFAULT_PROGRESS_INTERVAL, DEFAULT_REFRESH_TOPICS_INTERVAL, DEFAULT_REPLICATION_FACTOR,
    DEFAULT_STATE_DIR, DEFAULT_SYNC_TOPIC_CONFIGS, FlowConfig, GappedPolicy, LogAppendTimestamps,
    MAX_IN_FLIGHT_LIMIT, OFFSETS_HISTORY_MAX_LIMIT, PartitionFailure,
};
pub use native::from_toml_str;
pub use policy::{DEFAULT_SEPARATOR, HEARTBEATS_TOPIC, ReplicationPolicy};
pub use properties::{decode as decode_properties, from_properties_str};
pub use topic_sync::{DEFAULT_TOPIC_SYNC_INTERVAL, TOPIC_SYNC_KEYS, TopicSyncConfig};

/// Loads a configuration file, chosen by extension: `.toml` is native, `.properties` is
/// MM2's format (read as ISO-8859-1, as Java does).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| ConfigError::whole(&origin, format!("cannot read: {e}")))
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let bytes = read(path)?;
            let text = String::from_utf8(bytes).map_err(|e| {
                ConfigError::whole(
                    &origin,
                    format!("is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )
            })?;
            from_toml_str(&text, &origin)
        }
        Some("properties") => from_properties_str(&properties::decode(&read(path)?), &origin),
        _ => Err(ConfigError::whole(
            &origin,
            "unknown configuration format: use a .toml (native) or .properties (MM2) file",
        )),
    }
}
