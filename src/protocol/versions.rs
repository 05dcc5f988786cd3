//! The API versions kmirror speaks, kept as data, and negotiation against a broker's
//! ApiVersions answer.
//!
//! Produce stops at v12 and Fetch at v11:
//! - from v13 on both name topics by id only (KIP-516), which kmirror does not resolve yet;
//! - Fetch v12 is the first flexible version, and the kafka-protocol crate refuses a tagged
//!   field that its schema does not define for the version being decoded, where Kafka's own
//!   clients keep it as unknown. Some Kafka-compatible brokers write tags of later versions
//!   (tansu 0.6.0 wrote the top-level `NodeEndpoints` tag, defined from v16, into every
//!   flexible Fetch response), which v12 could not decode. v11 carries everything a forwarder
//!   needs (isolation level, aborted transactions, log start offset, leader epochs).
//!
//! Every range must lie inside what the kafka-protocol crate can encode; a test checks that
//! after crate upgrades.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::protocol::StrBytes;
use thiserror::Error;

/// Name and version sent in ApiVersions v3+. Brokers check both against
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` (`ApiVersionsRequest` in apache/kafka).
pub const CLIENT_SOFTWARE_NAME: &str = "kmirror";
pub const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of ApiVersions sent first; a broker that does not know it answers in v0 with
/// `UNSUPPORTED_VERSION` and its own ranges (KIP-511).
pub const API_VERSIONS_VERSION: i16 = 3;

/// `(api, lowest, highest)` versions kmirror can speak.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 11),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    // v5 lists each group's type (KIP-848): classic, consumer, share, streams.
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    // KIP-848 consumer groups, which DescribeGroups cannot describe.
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    // Topic config and ACL sync, and `kmirror check`'s permission check.
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// An API kmirror needs that the broker cannot speak in any common version.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VersionError {
    #[error("kmirror does not speak {api:?}")]
    NotSupportedByUs { api: ApiKey },
    #[error("broker does not offer {api:?}")]
    NotOfferedByBroker { api: ApiKey },
    #[error(
        "no common version of {api:?}: kmirror speaks {ours_min}..={ours_max}, broker offers {broker_min}..={broker_max}"
    )]
    NoOverlap {
        api: ApiKey,
        ours_min: i16,
        ours_max: i16,
        broker_min: i16,
        broker_max: i16,
    },
}

/// The broker's ranges intersected with ours; answers "which version of X do we send".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    broker: HashMap<i16, (i16, i16)>,
}

fn ours(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|(_, lo, hi)| (*lo, *hi))
}

impl ApiVersionTable {
    /// Builds the table from the broker's advertised ranges.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let broker = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Self { broker }
    }

    /// A table for a broker that offers exactly kmirror's ranges (tests, fake broker).
    pub fn ours() -> Self {
        Self {
            broker: SUPPORTED
                .iter()
                .map(|(k, lo, hi)| (*k as i16, (*lo, *hi)))
                .collect(),
        }
    }

    /// The highest version both sides speak.
    pub fn version(&self, api: ApiKey) -> Result<i16, VersionError> {
        let (ours_min, ours_max) = ours(api).ok_or(VersionError::NotSupportedByUs { api })?;
        let (broker_min, broker_max) = *self
            .broker
            .get(&(api as i16))
            .ok_or(VersionError::NotOfferedByBroker { api })?;
        let hi = ours_max.min(broker_max);
        if hi < ours_min.max(broker_min) {
            return Err(VersionError::NoOverlap {
                api,
                ours_min,
                ours_max,
                broker_min,
                broker_max,
            });
        }
        Ok(hi)
    }
}

/// The ApiVersions request kmirror sends, with its software name and version set.
pub fn build_api_versions_request() -> kafka_protocol::messages::ApiVersionsRequest {
    kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str(CLIENT_SOFTWARE_NAME))
        .with_client_software_version(StrBytes::from_static_str(CLIENT_SOFTWARE_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    #[test]
    fn every_range_is_encodable_by_the_protocol_crate() {
        for (api, lo, hi) in SUPPORTED {
            let valid = api.valid_versions();
            assert!(lo <= hi, "{api:?}");
            assert!(
                valid.min <= *lo && *hi <= valid.max,
                "{api:?} {lo}..={hi} outside {valid}"
            );
        }
        assert!(ours(ApiKey::Fetch).unwrap().1 <= 12 && ours(ApiKey::Produce).unwrap().1 <= 12);
    }

    #[test]
    fn software_name_and_version_match_the_broker_pattern() {
        let ok = |s: &str| {
            let b = s.as_bytes();
            let alnum = |c: &u8| c.is_ascii_alphanumeric();
            !b.is_empty()
                && alnum(&b[0])
                && alnum(&b[b.len() - 1])
                && b.iter().all(|c| alnum(c) || *c == b'-' || *c == b'.')
        };
        assert!(ok(CLIENT_SOFTWARE_NAME) && ok(CLIENT_SOFTWARE_VERSION));
    }

    #[test]
    fn negotiates_the_highest_common_version() {
        let resp = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(1)
                .with_min_version(0)
                .with_max_version(17),
            ApiVersion::default()
                .with_api_key(0)
                .with_min_version(3)
                .with_max_version(7),
            ApiVersion::default()
                .with_api_key(2)
                .with_min_version(10)
                .with_max_version(11),
        ]);
        let t = ApiVersionTable::from_response(&resp);
        assert_eq!(t.version(ApiKey::Fetch), Ok(11));
        assert_eq!(t.version(ApiKey::Produce), Ok(7));
        assert!(matches!(
            t.version(ApiKey::ListOffsets),
            Err(VersionError::NoOverlap { .. })
        ));
        assert_eq!(
            t.version(ApiKey::Metadata),
            Err(VersionError::NotOfferedByBroker {
                api: ApiKey::Metadata
            })
        );
        assert_eq!(
            t.version(ApiKey::Heartbeat),
            Err(VersionError::NotSupportedByUs {
                api: ApiKey::Heartbeat
            })
        );
    }
}
