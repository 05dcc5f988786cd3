//! Kafka error codes as kmirror acts on them. Names and retriability come from the
//! kafka-protocol crate's table (a copy of `Errors.java` in apache/kafka); the decisions
//! about metadata refreshes are kmirror's.

use kafka_protocol::ResponseError;

pub const NONE: i16 = 0;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const CORRUPT_MESSAGE: i16 = 2;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const LEADER_NOT_AVAILABLE: i16 = 5;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const REQUEST_TIMED_OUT: i16 = 7;
pub const REPLICA_NOT_AVAILABLE: i16 = 9;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
pub const FENCED_LEADER_EPOCH: i16 = 74;
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
pub const INVALID_RECORD: i16 = 87;
pub const PRODUCER_FENCED: i16 = 90;
pub const UNKNOWN_TOPIC_ID: i16 = 100;

/// A Kafka error code with its name, for messages such as
/// `NOT_LEADER_OR_FOLLOWER (6)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    pub fn is_ok(self) -> bool {
        self.0 == NONE
    }

    /// The broker's own view: retrying the same request later can succeed.
    pub fn is_retriable(self) -> bool {
        ResponseError::try_from_code(self.0).is_some_and(|e| e.is_retriable())
    }

    /// The cached metadata for the partition is stale: leadership moved, the topic is gone
    /// or was recreated. Refresh before retrying.
    pub fn needs_metadata_refresh(self) -> bool {
        matches!(
            self.0,
            UNKNOWN_TOPIC_OR_PARTITION
                | LEADER_NOT_AVAILABLE
                | NOT_LEADER_OR_FOLLOWER
                | FENCED_LEADER_EPOCH
                | UNKNOWN_LEADER_EPOCH
                | UNKNOWN_TOPIC_ID
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match ResponseError::try_from_code(self.0) {
            None => write!(f, "NONE (0)"),
            Some(ResponseError::Unknown(code)) => write!(f, "unknown error code {code}"),
            Some(e) => write!(f, "{} ({})", screaming(&format!("{e:?}")), self.0),
        }
    }
}

/// `NotLeaderOrFollower` -> `NOT_LEADER_OR_FOLLOWER`, the spelling operators know from
/// Kafka's logs.
fn screaming(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_the_kafka_way() {
        assert_eq!(ErrorCode(6).to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
        assert_eq!(ErrorCode(0).to_string(), "NONE (0)");
        assert_eq!(ErrorCode(-1).to_string(), "UNKNOWN_SERVER_ERROR (-1)");
        assert_eq!(ErrorCode(9999).to_string(), "unknown error code 9999");
    }

    #[test]
    fn classifies_refresh_and_retry() {
        assert!(ErrorCode(NOT_LEADER_OR_FOLLOWER).needs_metadata_refresh());
        assert!(ErrorCode(NOT_LEADER_OR_FOLLOWER).is_retriable());
        assert!(!ErrorCode(OFFSET_OUT_OF_RANGE).needs_metadata_refresh());
        assert!(!ErrorCode(INVALID_RECORD).is_retriable());
    }
}
